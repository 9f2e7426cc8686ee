"""The task form keeps uploaded files even when the form is sent back — but only for someone
who may work the task: anyone else is refused before a byte is stored (found by the
authorization matrix: an auditor could store files through the form)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from tasks import service
from tasks.models import Attachment
from tests.api.browser import post_form, sign_in
from tests.factories import make_loan
from tests.tasks.conftest import TODAY, as_user, new_task


@pytest.fixture
def visit(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    task = new_task(session, org, clock, loan, kind="customer_visit")
    service.claim(
        session, task.id, as_user(session, "am_bj1"), now=clock.now(), business_date=TODAY
    )
    session.commit()
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        yield client, task
    app.dependency_overrides.clear()


def _post_photo(client, task, username):
    client.cookies.clear()
    sign_in(client, username)
    return post_form(
        client,
        f"/tasks/{task.id}",
        f"/tasks/{task.id}",
        {"_action": "draft"},
        files={"photos": ("site.jpg", b"\xff\xd8\xff\xe0 a photo", "image/jpeg")},
        follow_redirects=False,
    )


def _stored(session) -> int:
    session.expire_all()
    return session.exec(select(func.count()).select_from(Attachment)).one()


@pytest.mark.parametrize("username", ["auditor", "am_bj2", "head_bj"])
def test_task_form_upload_by_someone_not_the_assignee_refused_nothing_stored(
    visit, session, username
):
    client, task = visit
    assert _post_photo(client, task, username).status_code == 403
    assert _stored(session) == 0


def test_task_form_upload_by_the_assignee_kept(visit, session):
    client, task = visit
    assert _post_photo(client, task, "am_bj1").status_code == 303
    assert _stored(session) == 1
