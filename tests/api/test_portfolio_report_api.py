"""The portfolio report over HTTP: JSON, CSV, Excel, the page (zh / en) and its charts, on the
hand-built book of tests/reports/portfolio_book.py (its figures are checked by hand in
tests/reports/test_portfolio.py; here: the same figures reach the reader, scoped to them)."""

from __future__ import annotations

import base64
import io
import re

import pytest
from openpyxl import load_workbook

from tests.api.browser import sign_in
from tests.api.test_operations_report_api import _headers
from tests.reports.portfolio_book import TODAY, D, S, Y, build

ON = {"on": D.isoformat(), "since": S.isoformat()}


@pytest.fixture
def book(session, org, clock, clock_now, client):
    """The book, and the client signed in as the auditor (the whole bank, read-only)."""
    build(session, org, clock)
    clock.set_date(TODAY)
    clock_now.set_date(TODAY)
    sign_in(client, "auditor")


def test_auditor_reads_the_whole_bank_as_of_d(client, book):
    body = client.get("/api/v1/reports/portfolio", params=ON).json()
    assert (body["on"], body["since"]) == ("2025-06-30", "2025-03-31")
    tiers = {t["risk_class"]: (t["count"], t["balance_cents"] // Y) for t in body["tiers"]}
    assert tiers["pass"] == (3, 340_000) and tiers["substandard"] == (1, 390_000)
    assert body["npl_ratio"] == "0.3786"
    assert body["overdue"]["M6+"]["mortgage"] == {"count": 1, "balance_cents": 390_000 * Y}
    assert body["expected_bad_debt_cents"] == (1_200 + 75_000 + 351_000) * Y
    rows = {m["from_class"]: m for m in body["migration"]}
    assert rows["substandard"]["cells"]["written_off"]["count"] == 1
    assert [c["bucket"] for c in body["roll"][0]["cells"]][:2] == ["M1", "M2"]


def test_default_dates_are_today_and_the_end_of_last_year(client, book):
    body = client.get("/api/v1/reports/portfolio").json()
    assert (body["on"], body["since"]) == (TODAY.isoformat(), "2024-12-31")


def test_account_manager_sees_own_branch_only(client, book):
    body = client.get("/api/v1/reports/portfolio", params=ON,
                      headers=_headers(client, "am_sh1")).json()  # fmt: skip
    assert body["total"] == {"count": 1, "balance_cents": 60_000 * Y}  # A7 only
    assert body["products"] == ["student"]
    page = client.get("/reports", params=ON, headers=_headers(client, "am_sh1"))
    assert "范围：SH01。" in page.text


def test_asset_disposal_refused(client, book):
    response = client.get("/api/v1/reports/portfolio", headers=_headers(client, "disposal"))
    assert response.status_code == 403
    assert response.json()["detail"]["message"].startswith("报表仅供")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"on": "2025-07-11"}, "on"), ({"on": "2025-02-30"}, "on"),
     ({"on": "2025-06-30", "since": "2025-06-30"}, "since"), ({"since": "soon"}, "since")],
)  # fmt: skip
def test_bad_dates_422_name_the_field(client, book, params, field):
    response = client.get("/api/v1/reports/portfolio", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(e.get("field", "").endswith(field) for e in detail["errors"]), detail


def test_csv_download(client, book):
    response = client.get("/api/v1/reports/portfolio.csv", params=ON)
    assert response.status_code == 200
    assert 'filename="portfolio-2025-06-30.csv"' in response.headers["content-disposition"]
    lines = response.content.decode("utf-8").splitlines()
    assert lines[0].startswith("\ufeff资产质量报表")
    assert "次级 substandard,1,390000.00,20.00,37.86" in lines
    assert "不良 NPL,1,390000.00,20.00,37.86" in lines
    assert "合计 M,,,,,,,427200.00" in lines


def test_excel_download_one_sheet_per_figure(client, book):
    response = client.get("/api/v1/reports/portfolio.xlsx", params=ON)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["五级分类 five tiers", "逾期矩阵 overdue matrix",
                                   "迁徙率 roll rates", "坏账预估 expected bad debt",
                                   "分类迁徙 migration"]  # fmt: skip
    tiers = list(workbook["五级分类 five tiers"].iter_rows(values_only=True))
    assert tiers[2][:3] == ("正常 pass", 3, 340000.0)


def test_page_chinese_first_and_english(client, book):
    zh = client.get("/reports", params=ON)
    assert zh.status_code == 200
    for text in (
        "资产质量报表",
        "不良贷款率",
        "37.86%",
        "逾期矩阵",
        "五级分类迁徙矩阵",
        "坏账预估",
    ):
        assert text in zh.text
    # the charts are drawn from the page's own report (one computation), embedded as images
    charts = re.findall(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', zh.text)
    assert len(charts) == 2
    tiers, roll = (base64.b64decode(c).decode("utf-8") for c in charts)
    assert "次级" in tiers and "37.86%" in tiers and "M3→M4" in roll
    assert "范围：全行。" in zh.text  # the auditor: the whole bank
    en = client.get("/reports", params={**ON, "lang": "en"})
    assert "Portfolio report" in en.text and "NPL ratio" in en.text
    assert "Scope: the whole bank. " in en.text
    assert "不良贷款率" not in en.text


def test_page_bad_date_is_an_error_page_not_500(client, book):
    response = client.get("/reports", params={"on": "2025-07-11"})
    assert response.status_code == 422
    assert "不能晚于" in response.text


@pytest.mark.parametrize("chart", ["tiers", "roll"])
def test_charts_are_svg_with_their_own_csp(client, book, chart):
    response = client.get(f"/reports/{chart}.svg", params={"on": D.isoformat()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<svg" in response.text and "<script" not in response.text
    assert "style=" not in response.text
    assert ("次级" if chart == "tiers" else "M3→M4") in response.text


@pytest.mark.parametrize("path", ["/api/v1/reports/portfolio", "/api/v1/reports/portfolio.xlsx",
                                  "/reports", "/reports/tiers.svg", "/reports/roll.svg"])  # fmt: skip
def test_a_date_before_the_book_began_is_an_empty_report(client, book, path):
    response = client.get(path, params={"on": "1990-06-30", "since": "1900-01-01"})
    assert response.status_code == 200
    if path == "/api/v1/reports/portfolio":
        body = response.json()
        assert body["total"] == {"count": 0, "balance_cents": 0} and body["npl_ratio"] is None
        assert body["roll"] == [] and body["expected_bad_debt_cents"] == 0


def test_a_summarised_day_says_so_and_gives_the_same_figures(client, book):
    from flows.daily_sweep import run_summary

    live = client.get("/api/v1/reports/portfolio", params={"on": D.isoformat()}).json()
    assert live["summarized_at"] is None
    assert "数据来源：实时计算" in client.get("/reports", params={"on": D.isoformat()}).text
    run_summary(D)
    stored = client.get("/api/v1/reports/portfolio", params={"on": D.isoformat()}).json()
    assert stored.pop("summarized_at") is not None
    live.pop("summarized_at")
    assert stored == live
    page = client.get("/reports", params={"on": D.isoformat(), "lang": "en"}).text
    assert "Source: the end-of-day book summary, built 20" in page
