"""Page labels, Chinese first with English available (`?lang=en`, remembered in a cookie)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from api.i18n_messages import LOAN_STATES_EN, RISK_CLASSES_EN, TASK_STATES
from api.i18n_replay import REPLAY_LABELS
from api.i18n_student import STUDENT_LABELS
from statemachines.enums import LoanState, RiskClass

LABELS: dict[str, tuple[str, str]] = {
    "app": ("贷后管理", "Post-loan management"),
    "loans": ("贷款台账", "Loan book"),
    "reports": ("资产质量报表", "Portfolio report"),
    "loan": ("贷款", "Loan"),
    "loan_no": ("贷款编号", "Loan no."),
    "borrower": ("借款人", "Borrower"),
    "branch": ("机构", "Branch"),
    "manager": ("客户经理", "Account manager"),
    "product": ("产品", "Product"),
    "state": ("状态", "State"),
    "class": ("五级分类", "Risk class"),
    "class_floor": ("分类底线", "Regulatory floor"),
    "principal": ("本金", "Principal"),
    "outstanding": ("未还本金", "Outstanding principal"),
    "outstanding_total": ("未还本息", "Outstanding (principal + interest)"),
    "disbursed": ("发放日", "Disbursed"),
    "maturity": ("到期日", "Maturity"),
    "dpd": ("逾期天数", "Days past due"),
    "rate": ("年利率", "Annual rate"),
    "method": ("还款方式", "Repayment method"),
    "schedule": ("还款计划", "Repayment schedule"),
    "due_date": ("应还日", "Due date"),
    "principal_due": ("应还本金", "Principal due"),
    "interest_due": ("应还利息", "Interest due"),
    "paid": ("已还", "Paid"),
    "paid_off_on": ("结清日", "Paid off on"),
    "history": ("履历", "History"),
    "timeline": ("时间线", "Timeline"),
    "as_of": ("截至", "As of"),
    "as_of_view": (
        "截至该日的视图：状态与五级分类按日志回放，已还金额按起息日不晚于该日的还款重新分配，"
        "逾期天数、未还本息与分类底线均按该日计算；还款计划为现行计划（含此后展期的变更），"
        "借款人其他贷款按当前状态计入",
        "The loan as of this date: state and class replayed from the journal, amounts paid "
        "re-allocated from the payments valued by then, days past due, outstanding and the "
        "floor computed for that date; the schedule is the current one (including later "
        "extensions), the borrower's other loans count as they are now",
    ),
    "back_to_today": ("回到今天", "Back to today"),
    "payments": ("还款记录", "Payments"),
    "value_date": ("起息日", "Value date"),
    "payment_ref": ("交易流水号", "Reference"),
    "payment_amount": ("还款金额", "Amount"),
    "applied_interest": ("冲利息", "To interest"),
    "applied_principal": ("冲本金", "To principal"),
    "unapplied": ("未分配", "Held"),
    "date": ("业务日期", "Business date"),
    "event": ("事件", "Event"),
    "actor": ("操作人", "Actor"),
    "reason": ("原因", "Reason"),
    "from_to": ("变更", "Change"),
    "search": ("查询", "Search"),
    "all": ("全部", "All"),
    "total": ("共", "Total"),
    "replay_ok": ("回放与当前状态一致", "Replay matches the stored state"),
    "replay_bad": ("回放与当前状态不一致", "Replay does NOT match the stored state"),
    "none": ("无", "none"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Wrong username or password"),
    "inbox": ("我的任务", "My tasks"),
    "open_tasks": ("待办任务", "Open tasks"),
    "task": ("任务", "Task"),
    "due": ("截止日", "Due"),
    "overdue": ("已逾期", "Overdue"),
    "view_queue": ("待领取", "Queue"),
    "view_inbox": ("处理中", "In progress"),
    "view_archive": ("已完成", "Done"),
    "view_all": ("本机构全部", "All in my unit"),
    "kind": ("任务类型", "Task type"),
    "only_overdue": ("仅逾期", "Overdue only"),
    "not_overdue": ("未逾期", "Not overdue"),
    "bucket": ("逾期档", "Bucket"),
    "exposure": ("敞口", "Exposure"),
    "assignee": ("处理人", "Assignee"),
    "claim": ("领取", "Claim"),
    "release": ("退回待领取", "Release"),
    "save_draft": ("保存草稿", "Save draft"),
    "submit": ("提交", "Submit"),
    "draft_saved": ("草稿已保存", "Draft saved"),
    "claimed": ("已领取，可以填写", "Claimed: you can fill it in now"),
    "fix_errors": ("请修改标出的字段后再提交", "Please correct the marked fields"),
    "completed_by": ("完成人", "Completed by"),
    "completed_at": ("提交时间", "Submitted at"),
    "submitted_by_at": ("已提交", "Submitted"),
    "assigned": ("已分派", "Assigned"),
    "assign": ("分派给", "Assign to"),
    "delegate": ("转派给", "Delegate to"),
    "hand_reason": ("原因", "Reason"),
    "choose_person": ("请选择人员", "Choose a person"),
    "all_tasks": ("任务", "Tasks"),
    "claimed_at": ("领取时间", "Claimed at"),
    "read_only_form": ("只读", "read-only"),
    **{f"state_{state}": label for state, label in TASK_STATES.items()},
    # approval requests, warnings, collection
    "requests": ("审批申请", "Approval requests"),
    "request": ("审批申请", "Approval request"),
    "request_kind": ("申请类型", "Request"),
    "request_state": ("审批状态", "Status"),
    "level": ("审批层级", "Level"),
    "requested_by": ("申请人", "Applied by"),
    "requested_on": ("申请日期", "Applied on"),
    "amount": ("金额（敞口）", "Amount (exposure)"),
    "decisions": ("审批记录", "Decisions"),
    "decision": ("意见", "Decision"),
    "decided_by": ("审批人", "Decided by"),
    "on_behalf_of": ("代", "on behalf of"),
    "opinion": ("意见说明", "Opinion"),
    "decided_at": ("审批时间", "Decided at"),
    "outcome": ("结果", "Outcome"),
    "request_notes": ("其他变动", "Other changes"),
    "note_event": ("变动", "Change"),
    "note_by": ("操作人", "By"),
    "note_reason": ("原因", "Reason"),
    "note_at": ("时间", "At"),
    "note_amend": ("调整", "Amended"),
    "note_resubmit": ("重新提交", "Resubmitted"),
    "note_withdraw": ("撤回", "Withdrawn"),
    "waiting_at": ("待审批", "Waiting at"),
    "withdraw": ("撤回申请", "Withdraw"),
    "withdraw_reason": ("撤回原因", "Why withdraw"),
    "facts": ("申请事项", "What is asked"),
    "apply": ("提交申请", "Submit"),
    "cancel": ("取消", "Cancel"),
    "file_extension": ("申请展期", "Apply for an extension"),
    "file_classification": ("提出分类调整", "Propose a reclassification"),
    "file_write_off": ("申请核销", "Apply for write-off"),
    "file_handover": ("申请移交资产处置", "Hand over to asset disposal"),
    "file_warning_report": ("报告预警信号", "Report a warning signal"),
    "new_maturity_date": ("展期后到期日", "New maturity date"),
    "extension_months": ("展期期限（月）", "Extension (months)"),
    "financial_difficulty": (
        "借款人存在财务困难（如预计逾期、无法按市场利率融资）",
        "The borrower is in financial difficulty (likely overdue, cannot borrow at market rates)",
    ),
    "restructuring": ("重组", "Restructuring"),
    "restructuring_note": (
        "是否属于重组由系统按借款人事实认定（已逾期、其他债务已为不良等）",
        "Whether it is a restructuring is decided from the borrower's facts "
        "(already overdue, other debts non-performing …)",
    ),
    "guarantor_consent": ("保证人书面同意函", "Guarantor's written consent"),
    "proposed_class": ("建议分类", "Proposed class"),
    "current_class": ("现分类", "Current class"),
    "application_reason": ("申请原因", "Reason"),
    "evidence": ("证明材料", "Evidence"),
    "signals": ("预警信号", "Warning signals"),
    "description": ("情况说明", "What was seen"),
    "warnings": ("预警", "Warnings"),
    "grade": ("预警等级", "Grade"),
    "owner": ("处置责任人", "Owner"),
    "deadline": ("处置期限", "Deadline"),
    "reasons": ("依据", "Grounds"),
    "notifications": ("提醒", "Reminders"),
    "filed": ("申请已提交，已送审", "Filed: it is with its first approver"),
    "withdrawn": ("申请已撤回", "Request withdrawn"),
    "step": ("催收阶段", "Collection step"),
    "strategy": ("建议策略", "Suggested strategy"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
}

REQUEST_STATES: dict[str, tuple[str, str]] = {
    "submitted": ("已提交", "submitted"),
    "pending": ("审批中", "pending"),
    "returned": ("退回补充", "returned for revision"),
    "approved": ("已批准", "approved"),
    "rejected": ("已否决", "rejected"),
    "withdrawn": ("已撤回", "withdrawn"),
}
REQUEST_KINDS: dict[str, tuple[str, str]] = {
    "extension": ("展期申请", "Extension"),
    "classification": ("五级分类调整", "Reclassification"),
    "write_off": ("核销申请", "Write-off"),
    "handover": ("移交资产处置", "Handover to asset disposal"),
    "warning": ("预警处置", "Warning disposition"),
}
DECISIONS: dict[str, tuple[str, str]] = {
    "approve": ("同意", "approved"),
    "reject": ("不同意", "rejected"),
    "return_for_revision": ("退回补充", "returned for revision"),
}
WARNING_STATES: dict[str, tuple[str, str]] = {
    "raised": ("已报告", "raised"),
    "tracking": ("跟踪处置", "tracking"),
    "closed": ("已关闭", "closed"),
    "dismissed": ("已排除", "dismissed"),
}
RESTRUCTURING_REASONS: dict[str, tuple[str, str]] = {
    "declared_financial_difficulty": (
        "客户经理认定借款人财务困难",
        "assessed in financial difficulty",
    ),
    "days_past_due": ("已逾期 {} 天", "{} days past due"),
    "other_npl_loan": ("借款人其他贷款 {} 已为不良", "another loan {} is non-performing"),
}

LABELS |= REPLAY_LABELS  # the replay pages' own labels (api/i18n_replay.py)
LABELS |= STUDENT_LABELS  # the student-loan labels of the loan page (api/i18n_student.py)


OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "loan_state": ("贷款状态", "Loan state"),
    "new_maturity_date": ("展期后到期日", "New maturity"),
    "restructured": ("重组", "Restructuring"),
    "risk_class": ("五级分类", "Risk class"),
    "changed": ("分类变更", "Class changed"),
    "owner": ("接收人 / 责任人", "Owner"),
    "grade": ("预警等级", "Grade"),
    "state": ("状态", "State"),
    "classification_request_id": ("分类调整申请", "Reclassification request"),
}


def restructuring_reason(code: str, lang: str) -> str:
    """'days_past_due:18' → '已逾期 18 天'."""
    name, _, detail = code.partition(":")
    zh, en = RESTRUCTURING_REASONS.get(name, (name, name))
    return (en if lang == "en" else zh).format(detail)


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return "en" if lang == "en" else "zh"


def in_language(table: dict[str, tuple[str, str]], lang: str) -> dict[str, str]:
    """A page's own (Chinese, English) label table in the page's language."""
    index = 1 if lang == "en" else 0
    return {key: pair[index] for key, pair in table.items()}


def translator(lang: str) -> Callable[[str], str]:
    index = 1 if lang == "en" else 0

    def t(key: str) -> str:
        return LABELS[key][index] if key in LABELS else key

    return t


EVENTS: dict[str, tuple[str, str]] = {
    "open": ("开立", "opened"),
    "mark_overdue": ("转入逾期", "marked overdue"),
    "cure": ("逾期清偿", "arrears cured"),
    "flag_risk": ("列入关注", "put on watch"),
    "clear_risk": ("解除关注", "taken off watch"),
    "approve_extension": ("展期生效", "extension applied"),
    "classify_npl": ("转入不良", "moved to non-performing"),
    "hand_over": ("移交资产处置", "handed to asset disposal"),
    "reinstate": ("不良转回", "reinstated"),
    "write_off": ("核销", "written off"),
    "settle": ("结清", "settled"),
    "record_recovery": ("核销后收回", "recovery recorded"),
    "record_payment": ("还款入账", "payment recorded"),
    "allocate_payment": ("还款分配", "payment allocated"),
    "classify_pass": ("分类调整为正常", "classified pass"),
    "classify_special_mention": ("分类调整为关注", "classified special mention"),
    "classify_substandard": ("分类调整为次级", "classified substandard"),
    "classify_doubtful": ("分类调整为可疑", "classified doubtful"),
    "classify_loss": ("分类调整为损失", "classified loss"),
    "book_student_loan": ("助学贷款入账", "student loan booked"),
    "confirm_graduation": ("毕业确认", "graduation confirmed"),
}

PRODUCTS: dict[str, tuple[str, str]] = {
    "working_capital": ("流动资金贷款", "working capital"),
    "fixed_asset": ("固定资产贷款", "fixed asset"),
    "trade_finance": ("贸易融资", "trade finance"),
    "mortgage": ("个人住房贷款", "mortgage"),
    "car": ("汽车贷款", "car loan"),
    "consumer": ("个人消费贷款", "consumer loan"),
    "student": ("助学贷款", "student loan"),
}


def state_label(value: str | None, lang: str) -> str:
    """A lifecycle state or a risk class, in the page language."""
    if value is None:
        return "∅"
    for enum in (LoanState, RiskClass):
        try:
            member = enum(value)
        except ValueError:
            continue
        english = LOAN_STATES_EN if enum is LoanState else RISK_CLASSES_EN
        return member.label_zh if lang != "en" else english.get(member.value, member.value)
    return value


def lookup(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    return table[key][1 if lang == "en" else 0] if key in table else key
