"""Approval pages without a browser: file from the loan page (errors beside the fields, input
kept), the head's task page with the request's facts, the committee's with who decided before,
the request page, withdrawal; auditors read and file nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from tests.api.browser import post_form, sign_in
from tests.approvals.conftest import BIG, TODAY, pay_through
from tests.factories import make_loan


@pytest.fixture
def web(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    make_loan(session, org, clock, "L2", principal_cents=BIG)
    pay_through(session, clock, "L2", TODAY)
    fixed = FixedClock()
    fixed.set_date(TODAY)
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        yield client
    app.dependency_overrides.clear()


def _as(client: TestClient, username: str) -> TestClient:
    client.cookies.clear()
    sign_in(client, username)
    return client


def _file(client: TestClient, **fields) -> object:
    data = {"new_maturity_date": "2026-07-15", "reason": "下游客户回款延迟"} | fields
    page = "/loans/L2/apply/extension"
    return post_form(client, page, page, data, follow_redirects=False)


def _approve(client: TestClient, username: str, opinion: str) -> None:
    _as(client, username)
    task_id = re.search(r'data-task-id="(\d+)"', client.get("/inbox").text).group(1)
    post_form(client, f"/tasks/{task_id}", f"/tasks/{task_id}/claim")
    done = post_form(
        client,
        f"/tasks/{task_id}",
        f"/tasks/{task_id}",
        {"_action": "complete", "decision": "approve", "opinion": opinion,
              "guarantor_consent_filed": "true", "approved_term_months": "6"},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text


def test_account_manager_files_from_loan_page_errors_beside_fields_input_kept(web):
    client = _as(web, "am_bj1")
    page = client.get("/loans/L2").text
    assert 'href="/loans/L2/apply/extension"' in page and "申请展期" in page
    form = client.get("/loans/L2/apply/extension").text
    assert "展期后到期日" in form and "是否属于重组由系统按借款人事实认定" in form
    bad = _file(client, new_maturity_date="2027-03-15", reason="资金周转压力")  # 14 > 12 months
    assert bad.status_code == 422
    assert "超过期限 12 个月贷款的展期上限 12 个月" in bad.text
    assert "资金周转压力" in bad.text and 'value="2027-03-15"' in bad.text
    filed = _file(client)
    assert filed.status_code == 303 and filed.headers["location"].startswith("/requests/")
    page = client.get(filed.headers["location"]).text
    assert "审批中" in page and "支行负责人审批" in page and "王晓明 (am_bj1)" in page


def test_head_sees_facts_committee_sees_who_decided_before(web):
    _file(_as(web, "am_bj1"))
    head = _as(web, "head_bj")
    inbox = head.get("/inbox").text
    assert "展期至 2026-07-15（6个月）" in inbox and "第 1/2 支行负责人审批" in inbox
    task_id = re.search(r'data-task-id="(\d+)"', inbox).group(1)
    task = head.get(f"/tasks/{task_id}").text
    assert 'data-testid="request-facts"' in task and "2026-07-15" in task
    _approve(web, "head_bj", "经营正常，同意上报")
    committee = _as(web, "committee1")
    task_id = re.search(r'data-task-id="(\d+)"', committee.get("/inbox").text).group(1)
    page = committee.get(f"/tasks/{task_id}").text
    assert "孙建国 (head_bj)" in page and "经营正常，同意上报" in page and "同意" in page
    _approve(web, "committee1", "同意展期")
    loan = _as(web, "am_bj1").get("/loans/L2").text
    assert "已批准" in loan and "展期" in loan


def test_auditor_reads_request_files_nothing_other_branch_404(web):
    request_url = _file(_as(web, "am_bj1")).headers["location"]
    auditor = _as(web, "auditor")
    assert auditor.get(request_url).status_code == 200
    assert 'data-testid="loan-actions"' not in auditor.get("/loans/L2").text
    assert auditor.get("/loans/L2/apply/extension").status_code == 403
    assert _as(web, "am_sh1").get(request_url).status_code == 404


def test_applicant_withdraws_from_request_page_who_and_why_shown(web):
    request_url = _file(_as(web, "am_bj1")).headers["location"].split("?")[0]
    page = post_form(web, request_url, f"{request_url}/withdraw", {"reason": "客户已筹得资金"})
    assert page.status_code == 200 and "已撤回" in page.text
    shown = web.get(request_url).text
    assert "撤回申请" not in shown  # nothing left to withdraw
    notes = shown.split('data-testid="request-notes"')[1].split("</table>")[0]
    assert "撤回" in notes and "王晓明 (am_bj1)" in notes and "客户已筹得资金" in notes
    assert "Withdrawn" in web.get(request_url + "?lang=en").text
    api = web.get("/api/v1/approval-requests/" + request_url.rsplit("/", 1)[1]).json()
    assert [(n["event"], n["actor"], n["reason"]) for n in api["notes"]] == [
        ("withdraw", "u:am_bj1", "客户已筹得资金")
    ]


def test_request_page_in_english(web):
    request_url = _file(_as(web, "am_bj1")).headers["location"].split("?")[0]
    page = web.get(request_url + "?lang=en").text
    assert "Extension" in page and "pending" in page and "Decisions" in page


def test_warning_reported_from_loan_page(web):
    client = _as(web, "am_bj1")
    form = "/loans/L2/apply/warning_report"
    bad = post_form(client, form, form, {"description": "x"})
    assert bad.status_code == 422 and "请至少选择一个预警信号" in bad.text
    ok = post_form(
        client,
        form,
        form,
        {"signals": ["sued_by_suppliers"], "description": "被两家供应商起诉"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    page = client.get(ok.headers["location"]).text
    assert "被供应商起诉" in page and "已报告" in page


def test_auditor_files_request_with_evidence_403_stores_nothing(web, session, tmp_path):
    from sqlmodel import select

    from tasks.models import Attachment

    response = _as(web, "auditor").post(
        "/loans/L2/apply/classification",
        data={"proposed_class": "special_mention", "reason": "行业下行"},
        files={"evidence": ("e.pdf", b"%PDF-1.4 evidence", "application/pdf")},
    )
    assert response.status_code == 403
    assert session.exec(select(Attachment)).all() == []
    assert not any(p.is_file() for p in (tmp_path / "att").rglob("*"))
