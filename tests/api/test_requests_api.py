"""/api/v1 approval requests and warnings over HTTP: each refusal with its status and code —
the rule named (422), not yours (403), another branch (404), not now (409)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.deps import get_clock
from api.main import app
from audit.journal import JournalEntry
from core.clock import FixedClock
from loans.demo import DEMO_PASSWORD
from tests.approvals.conftest import APPROVE_EXTENSION, TODAY, pay_through
from tests.factories import make_loan

EXTENSION = {"new_maturity_date": "2026-07-15", "reason": "下游客户回款延迟"}


@pytest.fixture
def api(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    make_loan(session, org, clock, "L1")
    pay_through(session, clock, "L1", TODAY)
    make_loan(session, org, clock, "L9")  # never pays: 次级 floor on TODAY
    fixed = FixedClock()
    fixed.set_date(TODAY)
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        yield client, fixed
    app.dependency_overrides.clear()


def _h(client, username):
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _extension(client, who="am_bj1", body=EXTENSION, loan="L1"):
    return client.post(
        f"/api/v1/loans/{loan}/extension-requests", json=body, headers=_h(client, who)
    )


def test_extension_filed_201_head_sees_it_in_queue_with_facts(api):
    client, _ = api
    response = _extension(client)
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["state"], body["levels"]) == (
        "extension",
        "pending",
        ["支行负责人审批", "信贷评审委员会审批"],
    )
    [task] = client.get("/api/v1/tasks", headers=_h(client, "head_bj")).json()["data"]
    assert task["kind"] == "extension_review" and task["loan_no"] == "L1"
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=_h(client, "head_bj")).json()
    facts = detail["context"]["facts"]
    assert facts["new_maturity_date"] == "2026-07-15" and facts["extension_months"] == 6
    assert client.get("/api/v1/tasks", headers=_h(client, "head_sh")).json()["count"] == 0


def test_extension_window_closed_422_names_the_rule(api):
    client, fixed = api
    fixed.set_date(date(2025, 12, 20))
    response = _extension(client)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_input"
    assert [e["rule"] for e in detail["errors"]] == ["extension_window"]


def test_extension_by_another_branch_404_by_head_403(api):
    client, _ = api
    assert _extension(client, "am_sh1").status_code == 404
    response = _extension(client, "head_bj")
    assert response.status_code == 403 and response.json()["detail"]["code"] == "permission_denied"


def test_second_live_extension_422_and_bad_body_422(api):
    client, _ = api
    assert _extension(client).status_code == 201
    again = _extension(client).json()["detail"]
    assert again["errors"][0]["rule"] == "extension_one_live"
    bad = _extension(client, body={"new_maturity_date": "someday", "reason": ""})
    assert bad.status_code == 422


def test_self_approval_over_http_403_and_refusal_journaled(api, session, org):
    from core.identity import Role, UserRole

    client, _ = api
    session.add(UserRole(user_id=org.users["am_bj1"].id, role=Role.branch_head))
    session.commit()
    _extension(client)
    h = _h(client, "am_bj1")
    [task] = [
        t for t in client.get("/api/v1/tasks", headers=h).json()["data"]
        if t["kind"] == "extension_review"
    ]  # fmt: skip
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=h).status_code == 200
    response = client.post(
        f"/api/v1/tasks/{task['id']}/complete", json={"data": APPROVE_EXTENSION}, headers=h
    )
    assert response.status_code == 403 and response.json()["detail"]["code"] == "self_approval"
    session.expire_all()
    refused = session.exec(select(JournalEntry).where(JournalEntry.event == "refused_complete"))
    assert len(refused.all()) == 1


def test_withdraw_then_again_409(api):
    client, _ = api
    request = _extension(client).json()
    h = _h(client, "am_bj1")
    path = f"/api/v1/approval-requests/{request['id']}/withdraw"
    first = client.post(path, json={"reason": "客户已自筹资金"}, headers=h)
    assert first.status_code == 200 and first.json()["state"] == "withdrawn"
    again = client.post(path, json={"reason": "x"}, headers=h)
    assert again.status_code == 409 and again.json()["detail"]["code"] == "transition_not_allowed"


def test_request_read_by_auditor_not_by_another_branch(api):
    client, _ = api
    request = _extension(client).json()
    path = f"/api/v1/approval-requests/{request['id']}"
    assert client.get(path, headers=_h(client, "auditor")).status_code == 200
    assert client.get(path, headers=_h(client, "am_sh1")).status_code == 404
    listed = client.get("/api/v1/loans/L1/requests", headers=_h(client, "head_bj")).json()
    assert [r["id"] for r in listed["data"]] == [request["id"]]


def test_classification_proposal_better_than_floor_422_field(api):
    client, _ = api
    response = client.post(
        "/api/v1/loans/L9/classification-proposals",
        json={"proposed_class": "special_mention", "reason": "客户承诺还款"},
        headers=_h(client, "am_bj1"),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]["errors"]
    assert error["field"] == "proposed_class" and "次级" in error["message"]
    unknown = client.post(
        "/api/v1/loans/L9/classification-proposals",
        json={"proposed_class": "terrible", "reason": "x"},
        headers=_h(client, "am_bj1"),
    )
    assert unknown.status_code == 422


def test_write_off_not_loss_422(api):
    client, _ = api
    response = client.post(
        "/api/v1/loans/L9/write-off-requests",
        json={"reason": "无法收回"},
        headers=_h(client, "am_bj1"),
    )
    assert response.status_code == 422 and "loss" in response.json()["detail"]["message"]


def test_warning_reported_201_and_unknown_signal_422(api):
    client, _ = api
    h = _h(client, "am_bj1")
    ok = client.post(
        "/api/v1/loans/L1/warnings",
        json={"signals": ["sued_by_suppliers"], "description": "被三家供应商起诉"},
        headers=h,
    )
    assert ok.status_code == 201 and ok.json()["state"] == "raised"
    bad = client.post(
        "/api/v1/loans/L1/warnings", json={"signals": ["x"], "description": "y"}, headers=h
    )
    assert bad.status_code == 422 and bad.json()["detail"]["errors"][0]["field"] == "signals"
    assert len(client.get("/api/v1/loans/L1/warnings", headers=h).json()) == 1
    assert "sued_by_suppliers" in client.get("/api/v1/warnings/signals", headers=h).json()
    auditor = client.post(
        "/api/v1/loans/L1/warnings",
        json={"signals": ["sued_by_suppliers"], "description": "x"},
        headers=_h(client, "auditor"),
    )
    assert auditor.status_code == 403
