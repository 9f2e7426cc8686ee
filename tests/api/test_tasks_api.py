"""/api/v1/tasks: worklists and commands over HTTP; each error mapping with its code."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from core.identity import Role
from loans.demo import DEMO_PASSWORD
from tests.factories import make_loan
from tests.tasks.conftest import new_task
from tests.tasks.payloads import LOAN_CARD_CHECK

JPEG = b"\xff\xd8\xff\xe0 jpeg bytes"


@pytest.fixture
def api(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    task = new_task(session, org, clock, loan)
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        yield client, task
    app.dependency_overrides.clear()


def _h(client, username):
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_queue_claim_inbox_complete_archive_over_http(api):
    client, task = api
    am = _h(client, "am_bj1")
    queue = client.get("/api/v1/tasks", params={"view": "queue"}, headers=am).json()
    assert [t["id"] for t in queue["data"]] == [task.id] and queue["counts"]["queue"] == 1
    detail = client.get(f"/api/v1/tasks/{task.id}", headers=am).json()
    assert detail["form_kind"] == "loan_card_check" and "properties" in detail["form_schema"]
    claimed = client.post(
        f"/api/v1/tasks/{task.id}/claim", json={"version": detail["version"]}, headers=am
    )
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "am_bj1"
    inbox = client.get("/api/v1/tasks", params={"view": "inbox"}, headers=am).json()
    assert [t["id"] for t in inbox["data"]] == [task.id]
    done = client.post(
        f"/api/v1/tasks/{task.id}/complete", json={"data": LOAN_CARD_CHECK}, headers=am
    )
    assert done.status_code == 200 and done.json()["state"] == "completed"
    archive = client.get("/api/v1/tasks", params={"view": "archive"}, headers=am).json()
    assert [t["id"] for t in archive["data"]] == [task.id]


def test_filters_kind_and_overdue(api):
    client, task = api
    am = _h(client, "am_bj1")
    none = client.get("/api/v1/tasks", params={"kind": "customer_visit"}, headers=am).json()
    assert none["count"] == 0
    late = client.get(
        "/api/v1/tasks", params={"overdue": "false", "loan_no": "L1"}, headers=am
    ).json()
    assert late["count"] == 1


def test_unknown_task_404(api):
    client, _ = api
    response = client.get("/api/v1/tasks/999", headers=_h(client, "am_bj1"))
    assert response.status_code == 404 and response.json()["detail"]["code"] == "not_found"


def test_other_branch_task_404(api):
    client, task = api
    response = client.post(f"/api/v1/tasks/{task.id}/claim", headers=_h(client, "am_sh1"))
    assert response.status_code == 404


def test_wrong_role_claim_403(api):
    client, task = api
    response = client.post(f"/api/v1/tasks/{task.id}/claim", headers=_h(client, "rm_bj"))
    assert response.status_code == 403
    assert response.json()["detail"]["code"] == "task_permission_denied"


def test_double_claim_409_names_holder(api):
    client, task = api
    client.post(f"/api/v1/tasks/{task.id}/claim", headers=_h(client, "am_bj1"))
    response = client.post(f"/api/v1/tasks/{task.id}/claim", headers=_h(client, "am_bj2"))
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail["code"] == "task_already_claimed" and detail["context"]["assignee"] == "am_bj1"


def test_double_submit_409_one_completion(api):
    client, task = api
    am = _h(client, "am_bj1")
    client.post(f"/api/v1/tasks/{task.id}/claim", headers=am)
    first = client.post(
        f"/api/v1/tasks/{task.id}/complete", json={"data": LOAN_CARD_CHECK}, headers=am
    )
    second = client.post(
        f"/api/v1/tasks/{task.id}/complete", json={"data": LOAN_CARD_CHECK}, headers=am
    )
    assert (first.status_code, second.status_code) == (200, 409)
    assert second.json()["detail"]["code"] == "task_already_completed"


def test_invalid_form_422_names_each_field(api):
    client, task = api
    am = _h(client, "am_bj1")
    client.post(f"/api/v1/tasks/{task.id}/claim", headers=am)
    response = client.post(
        f"/api/v1/tasks/{task.id}/complete",
        json={"data": {"conclusion": "maybe", "bogus": 1}},
        headers=am,
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["detail"]["errors"]}
    assert {"retrieved_on", "conclusion", "bogus"} <= fields


def test_stale_version_409(api):
    client, task = api
    client.post(f"/api/v1/tasks/{task.id}/claim", headers=_h(client, "am_bj1"))
    response = client.post(
        f"/api/v1/tasks/{task.id}/release", json={"version": 1}, headers=_h(client, "am_bj1")
    )
    assert response.status_code == 409 and response.json()["detail"]["code"] == "conflict"


def test_self_approval_403_and_recorded(api, session, org, clock):
    client, _ = api
    from core.identity import user_by_username

    task = new_task(
        session,
        org,
        clock,
        None,
        kind="extension_review",
        key="E1",
        role=Role.branch_head,
        requested_by=user_by_username(session, "head_bj"),
    )
    head = _h(client, "head_bj")
    client.post(f"/api/v1/tasks/{task.id}/claim", headers=head)
    response = client.post(
        f"/api/v1/tasks/{task.id}/complete",
        headers=head,
        json={
            "data": {
                "decision": "approve",
                "opinion": "ok",
                "guarantor_consent_filed": True,
                "approved_term_months": 6,
            }
        },
    )
    assert response.status_code == 403 and response.json()["detail"]["code"] == "self_approval"
    history = client.get(f"/api/v1/tasks/{task.id}", headers=head).json()
    assert history["state"] == "claimed"
    from audit.journal import chain

    session.expire_all()
    assert chain(session, "task", str(task.id))[-1].event == "refused_complete"


def test_upload_attachment_then_download(api):
    client, _ = api
    am = _h(client, "am_bj1")
    up = client.post(
        "/api/v1/attachments", headers=am, files={"file": ("site.jpg", JPEG, "image/jpeg")}
    )
    assert up.status_code == 201
    ref = up.json()
    assert len(ref["sha256"]) == 64 and ref["size"] == len(JPEG)
    down = client.get(f"/api/v1/attachments/{ref['sha256']}", headers=am)
    assert down.content == JPEG and down.headers["content-type"] == "image/jpeg"


def test_openapi_lists_every_form_schema(api):
    client, _ = api
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"forms.customer_visit", "forms.loan_card_check", "forms.write_off_review"} <= set(
        schemas
    )
