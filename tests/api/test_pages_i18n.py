"""What pages say, in Chinese first and English with ?lang=en: domain errors by their code
and context, journal reasons, enum values, labelled badges."""

from __future__ import annotations

import re

import pytest

from api.i18n import state_label
from api.i18n_messages import error_message, reason_text
from core.errors import PostloanError, RuleViolationError, ValidationError
from tasks.errors import TaskAlreadyClaimedError, TaskNotClaimedError
from tests.api.browser import post_form, sign_in, sign_out
from tests.api.test_task_pages import web  # noqa: F401  (the signed-in page client)


def _login(client, username):
    sign_out(client)
    sign_in(client, username)


def _claim(client, task_id, suffix=""):
    return post_form(client, f"/tasks/{task_id}", f"/tasks/{task_id}/claim{suffix}")


def test_claim_taken_task_error_page_chinese_then_english(web):  # noqa: F811
    client, late, _ = web
    _claim(client, late.id)
    _login(client, "am_bj2")
    zh = _claim(client, late.id)
    assert zh.status_code == 409
    assert f"任务 {late.id} 已被am_bj1领取" in zh.text and "already claimed" not in zh.text
    en = _claim(client, late.id, "?lang=en")
    assert f"task {late.id} is already claimed by am_bj1" in en.text


def test_release_unclaimed_task_error_page_chinese(web):  # noqa: F811
    client, late, _ = web
    response = post_form(client, f"/tasks/{late.id}", f"/tasks/{late.id}/release")
    assert response.status_code == 409
    assert f"任务 {late.id} 尚未领取：请先领取，再退回" in response.text


def test_loan_timeline_reasons_in_page_language(web):  # noqa: F811
    client, _, _ = web
    zh = client.get("/loans/L1").text.split('id="timeline"')[1]
    assert "贷款入账" in zh and "loan booked" not in zh
    en = client.get("/loans/L1?lang=en").text.split('id="timeline"')[1]
    assert "loan booked" in en


def test_loan_badges_labelled_state_and_class(web):  # noqa: F811
    client, _, _ = web
    zh = client.get("/loans/L1").text
    assert '<span class="badge-k">状态</span> 正常' in zh
    assert '<span class="badge-k">五级分类</span> 正常' in zh
    en = client.get("/loans/L1?lang=en").text
    assert '<span class="badge-k">State</span> Normal' in en
    assert '<span class="badge-k">Risk class</span> Pass' in en


@pytest.mark.parametrize(
    ("value", "en"),
    [("non_performing", "Non-performing"), ("written_off", "Written off"),
     ("special_mention", "Special mention")],
)  # fmt: skip
def test_state_label_english_not_raw_enum(value, en):
    assert state_label(value, "en") == en


@pytest.mark.parametrize(
    ("error", "zh", "en"),
    [
        (TaskAlreadyClaimedError(7, None), "任务 7 已被他人领取", "task 7 is already claimed by someone"),
        (TaskNotClaimedError(7, "complete"), "任务 7 尚未领取：请先领取，再提交", "task 7 is not claimed: claim it first"),
        (PostloanError("boom"), "操作未完成：boom", "Not done: boom"),
        (RuleViolationError("还款 P1 已分配 (payment P1 is already allocated)"),
         "还款 P1 已分配 (payment P1 is already allocated)",
         "Against a business rule: payment P1 is already allocated"),
        (ValidationError("日历文件 x.csv 无法读取 (x.csv: bad value (line 3))"),
         "日历文件 x.csv 无法读取 (x.csv: bad value (line 3))", "Invalid input: x.csv: bad value (line 3)"),
    ],
)  # fmt: skip
def test_error_message_by_code_and_context(error, zh, en):
    assert error_message(error, "zh") == zh
    assert en in error_message(error, "en")
    assert not re.search(r"[\u4e00-\u9fff]", error_message(error, "en"))  # no Chinese half


@pytest.mark.parametrize(
    ("reason", "zh", "en"),
    [
        ("installment due 2026-07-02 unpaid", "2026-07-02 应还款未还", "installment due 2026-07-02 unpaid"),
        ("逾期已清偿 (arrears cleared)", "逾期已清偿", "arrears cleared"),
        ("贷款入账 (loan booked)", "贷款入账", "loan booked"),
        ("还款 P-1，起息日 2025-02-01 (payment P-1 valued 2025-02-01)", "还款 P-1，起息日 2025-02-01",
         "payment P-1 valued 2025-02-01"),
        ("连续 3 期、累计 6 期未还款 (3 consecutive / 6 cumulative installments missed)",
         "连续 3 期、累计 6 期未还款", "3 consecutive / 6 cumulative installments missed"),
        ("从 loans.csv 导入 (imported from loans.csv)", "从 loans.csv 导入", "imported from loans.csv"),
        ("同意展期六个月", "同意展期六个月", "同意展期六个月"),  # a person's words stay as typed
    ],
)  # fmt: skip
def test_reason_text_in_page_language(reason, zh, en):
    assert (reason_text(reason, "zh"), reason_text(reason, "en")) == (zh, en)


def test_inbox_task_states_read_as_words_in_english(web):  # noqa: F811
    client, _, _ = web
    en = client.get("/inbox?lang=en").text
    assert "<td>Open</td>" in en and "<td>open</td>" not in en
    assert "<td>待领取</td>" in client.get("/inbox?lang=zh").text
