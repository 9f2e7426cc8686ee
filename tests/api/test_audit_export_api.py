"""GET /api/v1/audit/export: a streamed download for auditors and administrators."""

from __future__ import annotations

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from loans.demo import DEMO_PASSWORD
from loans.transitions import transition_loan
from tests.factories import make_loan


@pytest.fixture
def client(engine, session, org, clock):
    make_loan(session, org, clock, "L1")
    make_loan(session, org, clock, "L2", branch="SH01", manager="am_sh1")
    transition_loan(session, "L1", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20), reason='逾期 <5> & "x"')  # fmt: skip
    session.commit()
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 10))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as c:
        yield c
    app.dependency_overrides.clear()


def _as(client, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_export_csv_auditor_download_with_filename_and_bom(client):
    r = client.get("/api/v1/audit/export", params={"format": "csv"}, headers=_as(client, "auditor"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="postloan-journal-2025-03-10.csv"' in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())
    assert r.text.count("\r\n") == 1 + 5  # header, two loans' openings, one move
    assert '"逾期 <5> & ""x"""' in r.text


def test_export_xes_and_ocel_types_and_branch_filter(client):
    headers = _as(client, "admin")
    xes = client.get("/api/v1/audit/export", params={"format": "xes"}, headers=headers)
    assert xes.headers["content-type"].startswith("application/xml")
    assert xes.text.count("<trace>") == 2 and "逾期 &lt;5&gt; &amp; " in xes.text
    ocel = client.get("/api/v1/audit/export", headers=headers,
                      params={"format": "ocel", "branch": "SH01", "date_to": "2025-12-31"})  # fmt: skip
    assert ocel.headers["content-type"] == "application/json"
    assert "SH01" in ocel.headers["content-disposition"]
    assert [o["id"] for o in json.loads(ocel.text)["objects"]] == ["loan:L2"]


def test_export_account_manager_refused_403(client):
    r = client.get("/api/v1/audit/export", headers=_as(client, "am_bj1"))
    assert r.status_code == 403 and r.json()["detail"]["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "pdf"}, "format"),
        ({"date_from": "2025-13-01"}, "date_from"),
        ({"date_from": "2025-03-01", "date_to": "2025-02-01"}, "date_to"),
        ({"branch": "NOPE"}, "branch"),
    ],
)
def test_export_bad_input_422_names_the_field(client, params, field):
    r = client.get("/api/v1/audit/export", params=params, headers=_as(client, "auditor"))
    assert r.status_code == 422, r.text
    assert field in r.text
