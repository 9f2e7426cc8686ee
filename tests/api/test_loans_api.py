"""JSON API and pages over a small book: list, detail, history as of a date, verify, errors."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.errors import status_for
from api.main import app
from core.clock import FixedClock
from core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    TransitionNotAllowedError,
    ValidationError,
)
from loans.demo import DEMO_PASSWORD
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import RiskClass
from tests.api.browser import sign_in
from tests.factories import make_loan


@pytest.fixture
def client(engine, session, org, clock):
    make_loan(session, org, clock, "L1")
    make_loan(session, org, clock, "L2", branch="SH01", manager="am_sh1")
    transition_loan(
        session,
        "L1",
        "mark_overdue",
        actor="system:test",
        now=clock.now(),
        business_date=date(2025, 2, 20),
    )
    reclassify_loan(
        session,
        "L1",
        RiskClass.special_mention,
        actor="system:test",
        now=clock.now(),
        business_date=date(2025, 3, 1),
        reason="overdue > 7 days",
    )
    session.commit()
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 10))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as c:
        login = sign_in(c, "auditor", follow_redirects=False)
        assert login.status_code == 303  # the session cookie now rides along (pages + API)
        yield c
    app.dependency_overrides.clear()


def test_health_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_list_loans_filter_state_returns_matching(client):
    body = client.get("/api/v1/loans").json()
    assert body["count"] == 2
    only = client.get("/api/v1/loans", params={"state": "overdue"}).json()
    assert [row["loan_no"] for row in only["data"]] == ["L1"]
    assert only["data"][0]["risk_class"] == "special_mention"


def test_list_loans_bad_limit_422_names_field(client):
    response = client.get("/api/v1/loans", params={"limit": 0})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]["errors"]] == ["query.limit"]


def test_read_loan_detail_dpd_and_floor(client):
    body = client.get("/api/v1/loans/L1").json()
    assert body["days_past_due"] == 23  # first installment due 2025-02-15, today 2025-03-10
    assert body["class_floor"] == "special_mention"
    assert body["class_floor_rules"] and "第九条" in body["class_floor_rules"][0]
    assert len(body["installments"]) == 12


def test_read_unknown_loan_404_with_code(client):
    response = client.get("/api/v1/loans/NOPE")
    assert response.status_code == 404
    assert response.json()["detail"]["code"] == "not_found"
    assert "NOPE" in response.json()["detail"]["message"]


def test_history_as_of_replays_that_day(client):
    body = client.get("/api/v1/loans/L1/history", params={"as_of": "2025-02-25"}).json()
    assert body["states"] == {"loan_lifecycle": "overdue", "risk_classification": "pass"}
    assert body["matches_stored"] is None
    now = client.get("/api/v1/loans/L1/history").json()
    assert now["matches_stored"] is True
    assert [e["event"] for e in now["entries"]][-1] == "classify_special_mention"


def test_history_bad_date_422(client):
    assert client.get("/api/v1/loans/L1/history", params={"as_of": "2025-13-01"}).status_code == 422


def test_branch_user_sees_own_branch_only(client):
    token = client.post(
        "/api/v1/auth/token", data={"username": "am_sh1", "password": DEMO_PASSWORD}
    ).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = client.get("/api/v1/loans", headers=headers).json()
    assert [row["loan_no"] for row in body["data"]] == ["L2"]
    assert client.get("/api/v1/loans/L1", headers=headers).status_code == 404


def test_audit_verify_ok(client):
    body = client.get("/api/v1/audit/verify").json()
    assert body["ok"] is True and body["chains"] == 3  # two loans and the auditor's sign-in


def test_loans_page_chinese_first_english_on_request(client):
    page = client.get("/loans")
    assert page.status_code == 200
    assert "贷款台账" in page.text and "L1" in page.text and "关注" in page.text
    english = client.get("/loans", params={"lang": "en"})
    assert "Loan book" in english.text
    assert english.cookies.get("lang") == "en"


def test_loan_page_timeline_as_of(client):
    page = client.get("/loans/L1", params={"as_of": "2025-02-25"})
    assert page.status_code == 200
    assert (
        "转入逾期" in page.text
        and "正常 → 逾期" in page.text
        and "五级分类</span> ∅ → 正常" in page.text
    )
    assert "classify_special_mention" not in page.text  # not yet on 2025-02-25
    english = client.get("/loans/L1", params={"lang": "en"})
    assert "marked overdue" in english.text and "Normal → Overdue" in english.text


def test_read_loan_as_of_state_class_and_schedule_of_that_day(client):
    today = client.get("/api/v1/loans/L1").json()
    assert (today["state"], today["risk_class"], today["as_of"]) == (
        "overdue", "special_mention", None,
    )  # fmt: skip
    body = client.get("/api/v1/loans/L1", params={"as_of": "2025-02-10"}).json()
    assert (body["state"], body["risk_class"], body["as_of"]) == ("normal", "pass", "2025-02-10")
    assert body["days_past_due"] == 0 and body["class_floor"] == "pass"


@pytest.mark.parametrize("as_of", ["2025-01-14", "2025-03-11"])
def test_read_loan_as_of_outside_loan_life_422_in_chinese(client, as_of):
    response = client.get("/api/v1/loans/L1", params={"as_of": as_of})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_input" and detail["message"].startswith("截至日期")
    history = client.get("/api/v1/loans/L1/history", params={"as_of": as_of})
    assert history.status_code == 422


def test_loan_page_as_of_header_is_of_that_day(client):
    page = client.get("/loans/L1", params={"as_of": "2025-02-10"})
    assert page.status_code == 200
    header = page.text[page.text.index("<h1>") : page.text.index("</h1>")]
    assert "正常" in header and "逾期" not in header and "关注" not in header
    assert "截至 2025-02-10" in header and 'data-testid="as-of-note"' in page.text
    assert "逾期天数 (2025-02-10)" in page.text
    today = client.get("/loans/L1")
    header = today.text[today.text.index("<h1>") : today.text.index("</h1>")]
    assert "逾期" in header and "关注" in header and "as-of-note" not in today.text


def test_loan_page_as_of_before_disbursement_error_page(client):
    page = client.get("/loans/L1", params={"as_of": "2024-12-31"})
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"] and "截至日期" in page.text


def test_loan_page_unknown_404_html(client):
    page = client.get("/loans/NOPE")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"] and "NOPE" in page.text


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("x"), 404),
        (PermissionDeniedError("x"), 403),
        (ValidationError("x"), 422),
        (ConflictError("x"), 409),
        (TransitionNotAllowedError("x"), 409),
        (RuleViolationError("x"), 409),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_error_mapping_each_domain_error_status(error, status):
    assert status_for(error) == status
