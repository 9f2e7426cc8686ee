"""The student-loan book over HTTP, on the hand-built book of tests/reports/student_book.py (its
figures are checked by hand in tests/reports/test_student_reports.py; here: the same figures
reach the reader, scoped to them): the report as JSON, CSV and a page (zh / en), a loan's
student facts on its page and in its JSON, and the student work in the inbox."""

from __future__ import annotations

from datetime import date

import pytest

from loans.demo import DEMO_PASSWORD
from tests.api.browser import sign_in
from tests.reports.student_book import D, build

TODAY = date(2026, 7, 10)


@pytest.fixture
def book(session, org, clock, clock_now, client):
    """The book, and the client signed in as the auditor (the whole bank, read-only)."""
    build(session, org, clock)
    clock_now.set_date(TODAY)
    sign_in(client, "auditor")
    return org


def _headers(client, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_json_has_the_month_and_the_year_per_institution(client, book):
    body = client.get("/api/v1/reports/student-loans", params={"on": D.isoformat()}).json()
    assert (body["on"], body["month_start"], body["year_start"]) == (
        "2026-06-30", "2026-06-01", "2026-01-01")  # fmt: skip
    month = {(r["institution"] or {}).get("code", "total"): r for r in body["overdue_collection"]}
    u1 = month["U1"]
    assert (u1["loans"], u1["overdue_loans"], u1["new_overdue"], u1["cured"]) == (5, 2, 1, 1)
    assert (u1["collected_cents"], u1["subsidy_cents"], u1["overdue_rate"]) == (
        60_000, 2000, "0.4570")  # fmt: skip
    assert month["total"]["institution"] is None and month["total"]["loans"] == 7
    year = {r["institution"]["code"]: r for r in body["institution_assessment"]}
    assert year["U1"]["grade"] == {"code": "D", "name_zh": "不合格", "name_en": "Unsatisfactory"}
    assert (year["U1"]["defaulters"], year["U1"]["default_rate"]) == (2, "0.6667")
    assert year["C1"]["grade"]["code"] == "A" and year["C1"]["suspend"] is False


def test_a_branch_manager_sees_own_branch_institutions_only(client, book):
    body = client.get("/api/v1/reports/student-loans", params={"on": D.isoformat()},
                      headers=_headers(client, "am_sh1")).json()  # fmt: skip
    assert [r["institution"]["code"] for r in body["institution_assessment"]] == ["C1"]


def test_asset_disposal_refused_and_a_future_date_422(client, book):
    refused = client.get("/api/v1/reports/student-loans", headers=_headers(client, "disposal"))
    assert refused.status_code == 403
    late = client.get("/api/v1/reports/student-loans", params={"on": "2026-07-11"})
    assert late.status_code == 422 and late.json()["detail"]["errors"][0]["field"] == "on"
    page = client.get("/reports/student-loans", params={"on": "2026-07-11"})
    assert page.status_code == 422 and "不能晚于" in page.text


def test_csv_download(client, book):
    response = client.get("/api/v1/reports/student-loans.csv", params={"on": D.isoformat()})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="student-loans-2026-06-30.csv"' in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff") and "逾期收缴月报" in text and "机构考核" in text
    assert any(line.startswith("assessment,U1,北京某大学,student,2026,5,") for line in
               text.splitlines())  # fmt: skip


def test_page_chinese_first_and_english(client, book):
    zh = client.get("/reports/student-loans", params={"on": D.isoformat()})
    assert zh.status_code == 200
    assert "逾期收缴月报" in zh.text and "经办机构年度考核" in zh.text and "北京某大学" in zh.text
    assert "不合格" in zh.text
    en = client.get("/reports/student-loans", params={"on": D.isoformat(), "lang": "en"})
    assert "Monthly overdue collection" in en.text and "Unsatisfactory" in en.text
    assert "/reports/student-loans?on=" in client.get("/reports").text  # linked from /reports


def test_a_loans_student_facts_on_its_page_and_json(client, book):
    body = client.get("/api/v1/loans/S7").json()
    student = body["student"]
    assert (student["institution_code"], student["status"]) == ("U1", "left_school")
    assert (student["graduation_date"], student["graduation_confirmed_on"]) == (
        "2026-04-20", "2026-06-02")  # fmt: skip
    assert student["repayment_start"] == "2031-04-20" and student["subsidised"] is True
    assert (
        client.get("/api/v1/loans/S3").json()["student"]["subsidy_cents"] == 21 * 2000
    )  # 2024-10-15 … 2026-06-15
    page = client.get("/loans/S7")
    assert page.status_code == 200 and "助学贷款信息" in page.text and "还本起始日" in page.text
    assert '<td title="confirm_graduation">毕业确认</td>' in page.text  # on the loan's timeline
    en = client.get("/loans/S7", params={"lang": "en"})
    assert "Repayment start" in en.text and "left school" in en.text


def test_student_work_is_in_the_inbox_with_its_kind(client, book):
    headers = _headers(client, "am_bj1")
    body = client.get("/api/v1/tasks", params={"view": "queue", "kind": "student_contact"},
                      headers=headers).json()  # fmt: skip
    loans = sorted(t["loan_no"] for t in body["data"])
    assert loans == ["S2", "S4", "S7", "S7"]  # the year's, and S7's after its confirmation
    assert {t["product"] for t in body["data"]} == {"student"}
    sign_in(client, "am_bj1")
    page = client.get("/inbox", params={"kind": "student_contact"})
    assert page.status_code == 200 and "助学贷款联系记录" in page.text
    assert "2026 年度联系" in page.text and "毕业后信息确认" in page.text
    en = client.get("/inbox", params={"kind": "student_contact", "lang": "en"})
    assert "yearly contact 2026" in en.text and "after graduation" in en.text
