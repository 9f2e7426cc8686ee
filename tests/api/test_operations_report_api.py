"""The operations report over HTTP: JSON, CSV, the page (zh / en) and the coverage chart, on the
hand-built book of tests/reports/operations_book.py (its figures are checked by hand in
tests/reports/test_operations.py; here: the same figures reach the reader, scoped to them)."""

from __future__ import annotations

import base64
import re
from datetime import date

import pytest

from loans.demo import DEMO_PASSWORD
from tests.api.browser import sign_in
from tests.reports.operations_book import D, build


@pytest.fixture
def book(session, org, clock, clock_now, client):
    """The book, and the client signed in as the auditor (the whole bank, read-only)."""
    clock.set_date(date(2026, 3, 31))
    clock_now.set_date(date(2026, 3, 31))
    tasks = build(session, org, clock)
    sign_in(client, "auditor")
    return tasks


def _headers(client, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_auditor_reads_every_branch_as_of_d(client, book):
    body = client.get("/api/v1/reports/operations", params={"on": D.isoformat()}).json()
    assert (body["on"], body["period_start"], body["coverage_goal"]) == (
        "2026-03-20",
        "2026-03-01",
        "0.50",
    )
    totals = {r["branch"]: r for r in body["late_inspections"] if r["manager"] is None}
    # BJ01's total row as tests/reports/test_operations.py counts it by hand
    bj = totals["BJ01"]
    assert (bj["due"], bj["on_time"], bj["late"], bj["open_late"], bj["pending"]) == (6, 1, 1, 3, 1)
    assert set(totals) == {"BJ01", "SH01"}
    coverage = {c["branch"]: c for c in body["onsite_coverage"]}
    assert (coverage["BJ01"]["borrowers"], coverage["BJ01"]["visited"]) == (3, 1)
    assert coverage["BJ01"]["meets_goal"] is False and coverage["SH01"]["meets_goal"] is True
    kpi = next(k for k in body["collections"] if k["manager"] == "am_bj1")
    assert (kpi["contacts"], kpi["connected"], kpi["promises"]) == (5, 4, 3)


def test_account_manager_sees_own_branch_only(client, book):
    body = client.get("/api/v1/reports/operations", headers=_headers(client, "am_sh1")).json()
    assert {r["branch"] for r in body["late_inspections"]} == {"SH01"}
    assert [c["branch"] for c in body["onsite_coverage"]] == ["SH01"]


def test_asset_disposal_refused(client, book):
    response = client.get("/api/v1/reports/operations", headers=_headers(client, "disposal"))
    assert response.status_code == 403
    assert response.json()["detail"]["message"].startswith("报表仅供")


@pytest.mark.parametrize("on", ["2026-04-01", "2026-02-30", "yesterday"])
def test_bad_or_future_date_422_names_the_field(client, book, on):
    response = client.get("/api/v1/reports/operations", params={"on": on})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(e.get("field", "").endswith("on") for e in detail["errors"]), detail


def test_csv_download_bom_and_sections(client, book):
    response = client.get("/api/v1/reports/operations.csv", params={"on": D.isoformat()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="operations-2026-03-20.csv"' in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    assert "coverage,BJ01,3,1,33.33,50.00,否 no,1" in text.splitlines()


def test_page_chinese_first_and_english(client, book):
    zh = client.get("/reports/operations", params={"on": D.isoformat()})
    assert zh.status_code == 200
    assert "贷后作业报表" in zh.text and "年度现场检查覆盖率" in zh.text
    # the chart is drawn from the page's own report (one computation), embedded as an image
    (chart,) = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', zh.text)
    assert "BJ01" in base64.b64decode(chart).decode("utf-8")
    en = client.get("/reports/operations", params={"on": D.isoformat(), "lang": "en"})
    assert "Operations report" in en.text and "Annual on-site coverage" in en.text


def test_page_future_date_is_an_error_page_not_500(client, book):
    response = client.get("/reports/operations", params={"on": "2026-04-01"})
    assert response.status_code == 422
    assert "不能晚于" in response.text


def test_coverage_chart_svg_with_its_own_csp(client, book):
    response = client.get("/reports/operations/coverage.svg", params={"on": D.isoformat()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<svg" in response.text and "BJ01" in response.text
    assert "<script" not in response.text and "style=" not in response.text
