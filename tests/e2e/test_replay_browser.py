"""In a real browser: the auditor opens loan L1's replay, picks the day before the extension (the
state then), then today; sees the lifecycle diagram; opens head_bj's approval from the timeline
and finds the form exactly as submitted — the decision, the approver, the time — read-only."""

from __future__ import annotations

import pytest

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from tests.api import replay_world
from tests.approvals.conftest import TODAY


@pytest.fixture
def replay(server, session, org, clock, monkeypatch):
    world = replay_world.build(session, org, clock)
    fixed = FixedClock()
    fixed.set_date(TODAY, hour=18)
    monkeypatch.setitem(app.dependency_overrides, get_clock, lambda: fixed)
    return server, world


def test_auditor_reopens_the_approved_form(replay, page, sign_in, shoot):
    server, world = replay
    sign_in(page, "auditor")
    page.goto(f"{server}/loans/L1/timeline")
    page.fill("input[name=as_of]", "2025-10-08")
    page.click("form[data-testid=replay-filters] button[type=submit]")
    page.wait_for_url("**/timeline?as_of=2025-10-08*")
    assert page.get_by_test_id("replayed-state").inner_text() == "正常"

    page.fill("input[name=as_of]", "2025-10-09")
    page.click("form[data-testid=replay-filters] button[type=submit]")
    page.wait_for_url("**/timeline?as_of=2025-10-09*")
    assert page.get_by_test_id("replayed-state").inner_text() == "展期"
    diagram = page.get_by_test_id("lifecycle-diagram")
    diagram.scroll_into_view_if_needed()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", diagram.element_handle())
    shoot(page, "replay-timeline")

    decision = page.locator("tr[data-aggregate=approval]", has_text="孙建国").filter(
        has=page.get_by_test_id("open-form")
    )
    decision.first.get_by_test_id("open-form").click()
    page.wait_for_url("**/journal/*")
    assert page.get_by_test_id("entry-decision").inner_text() == "同意"
    assert "孙建国" in page.get_by_test_id("entry-actor").inner_text()
    when = page.get_by_test_id("entry-time").inner_text()
    assert "2025-10-09" in when and "15:00" in when
    form = page.get_by_test_id("submitted-form")
    assert form.locator("textarea[name=opinion]").input_value() == "经营正常，同意展期"
    assert form.locator("textarea[name=opinion]").is_disabled()
    assert form.locator("button[type=submit]").count() == 0
    shoot(page, "replay-reopened-form")
