"""The inbox and task pages without a browser: tabs, counts, overdue rows, errors kept."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from loans.demo import DEMO_PASSWORD
from tests.factories import make_loan
from tests.tasks.conftest import new_task


@pytest.fixture
def web(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    late = new_task(session, org, clock, loan, key="late", due=date(2025, 3, 1))
    fine = new_task(session, org, clock, loan, key="fine", due=date(2025, 3, 20))
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        client.post("/login", data={"username": "am_bj1", "password": DEMO_PASSWORD})
        yield client, late, fine
    app.dependency_overrides.clear()


def test_inbox_tabs_counts_overdue_highlighted(web):
    client, late, fine = web
    page = client.get("/inbox").text
    assert 'data-testid="tab-queue"' in page and "待领取" in page
    assert f'<tr class="overdue" data-task-id="{late.id}">' in page
    assert f'<tr class="" data-task-id="{fine.id}">' in page
    assert 'data-testid="overdue-count">已逾期 1<' in page


def test_inbox_filter_overdue_only(web):
    client, late, fine = web
    page = client.get("/inbox", params={"overdue": "yes"}).text
    assert f'data-task-id="{late.id}"' in page and f'data-task-id="{fine.id}"' not in page


def test_task_page_claim_then_form_errors_keep_input(web):
    client, late, _ = web
    client.post(f"/tasks/{late.id}/claim")
    response = client.post(
        f"/tasks/{late.id}",
        data={
            "_action": "complete",
            "other_bank_credit_balance_change": "12.5",
            "external_guarantee_balance_change": "0",
            "conclusion": "normal",
        },
    )
    assert response.status_code == 422
    assert "请修改标出的字段后再提交" in response.text
    assert 'value="12.5"' in response.text  # the user's input is kept
    assert 'data-field="retrieved_on"' in response.text and "has-error" in response.text


def test_task_page_draft_saved_then_shown(web):
    client, late, _ = web
    client.post(f"/tasks/{late.id}/claim")
    saved = client.post(
        f"/tasks/{late.id}",
        data={"_action": "draft", "environment_social_security_tax_notes": "社保正常"},
        follow_redirects=True,
    )
    assert "草稿已保存" in saved.text and "社保正常" in saved.text


def test_task_page_other_branch_404(web, session, org, clock):
    client, late, _ = web
    client.post("/logout")
    client.post("/login", data={"username": "am_sh1", "password": DEMO_PASSWORD})
    assert client.get(f"/tasks/{late.id}").status_code == 404


def test_loan_page_lists_open_tasks(web):
    client, late, fine = web
    page = client.get("/loans/L1").text
    assert f'href="/tasks/{late.id}"' in page and f'href="/tasks/{fine.id}"' in page


def test_task_page_submit_by_non_assignee_403_before_form_check(web):
    client, late, _ = web
    client.post(f"/tasks/{late.id}/claim")
    client.post("/logout")
    client.post("/login", data={"username": "am_bj2", "password": DEMO_PASSWORD})
    response = client.post(f"/tasks/{late.id}", data={"_action": "complete"})
    assert response.status_code == 403
    assert "not in am_bj2&#39;s inbox" in response.text


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _stored(session, tmp_path):
    from sqlmodel import select

    from tasks.models import Attachment

    files = [p for p in (tmp_path / "att").rglob("*") if p.is_file()]
    return session.exec(select(Attachment)).all(), files


@pytest.mark.parametrize("action", ["draft", "complete"])
def test_task_form_auditor_post_with_file_403_stores_nothing(
    web, session, org, clock, tmp_path, action
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    client.post(f"/tasks/{visit.id}/claim")  # am_bj1 holds it; the auditor may read it
    client.post("/logout")
    client.post("/login", data={"username": "auditor", "password": DEMO_PASSWORD})
    response = client.post(
        f"/tasks/{visit.id}",
        data={"_action": action},
        files={"photos": ("site.png", PNG, "image/png")},
    )
    assert response.status_code == 403
    assert _stored(session, tmp_path) == ([], [])


def test_task_form_non_assignee_post_with_file_403_stores_nothing(
    web, session, org, clock, tmp_path
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    client.post(f"/tasks/{visit.id}/claim")
    client.post("/logout")
    client.post("/login", data={"username": "am_bj2", "password": DEMO_PASSWORD})
    response = client.post(
        f"/tasks/{visit.id}",
        data={"_action": "draft"},
        files={"photos": ("site.png", PNG, "image/png")},
    )
    assert response.status_code == 409  # not theirs to save: TaskClosedError, before storing
    assert _stored(session, tmp_path) == ([], [])


def test_task_form_html_upload_refused_beside_field_nothing_stored(
    web, session, org, clock, tmp_path
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    client.post(f"/tasks/{visit.id}/claim")
    response = client.post(
        f"/tasks/{visit.id}",
        data={"_action": "draft"},
        files={"photos": ("x.html", b"<script>alert(1)</script>", "text/html")},
    )
    assert response.status_code == 422
    assert "不接受此类文件（text/html）" in response.text
    assert _stored(session, tmp_path)[0] == []


def test_task_form_draft_with_photo_readable_by_colleague_not_other_branch(
    web, session, org, clock
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    client.post(f"/tasks/{visit.id}/claim")
    saved = client.post(
        f"/tasks/{visit.id}",
        data={"_action": "draft"},
        files={"photos": ("site.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.expire_all()
    from tasks.models import HumanTask

    sha = session.get(HumanTask, visit.id).draft["photos"][0]["sha256"]
    for who, status in (("am_bj2", 200), ("am_sh1", 404)):
        client.post("/logout")
        client.post("/login", data={"username": who, "password": DEMO_PASSWORD})
        assert client.get(f"/api/v1/attachments/{sha}").status_code == status, who
