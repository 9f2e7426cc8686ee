"""What a page says about a domain error, a journal reason or a stored enum value, in the page
language (Chinese first, English with `?lang=en`). Errors are rendered from their code and
context (core/errors.py), never by parsing their English message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PostloanError,
    RuleViolationError,
    TransitionNotAllowedError,
    ValidationError,
)

_CJK = re.compile(r"[\u3400-\u9fff]")

# code, or code:rule (the `rule` in the error's context) → (zh, en); {name} reads the context
ERRORS: dict[str, tuple[str, str]] = {
    "task_already_claimed": (
        "任务 {task_id} 已被{assignee}领取",
        "task {task_id} is already claimed by {assignee}",
    ),
    "task_already_completed": (
        "任务 {task_id} 已由{completed_by}完成",
        "task {task_id} was already completed by {completed_by}",
    ),
    "task_not_claimed": (
        "任务 {task_id} 尚未领取：请先领取，再{event}",
        "task {task_id} is not claimed: claim it first",
    ),
    "task_closed": (
        "任务 {task_id} 已{state}，不能{event}",
        "task {task_id} is {state}: it cannot be {event}",
    ),
    "task_permission_denied:read_only": (
        "审计人员只能查看任务，不能操作",
        "auditors can read tasks but not act on them",
    ),
    "task_permission_denied:not_candidate": (
        "{actor} 不是此任务的候选人（角色或机构不符）",
        "{actor} is not a candidate for this task (role or org unit)",
    ),
    "task_permission_denied:not_assignee": (
        "此任务不在 {actor} 的待办中，请先领取",
        "the task is not in {actor}'s inbox; claim it first",
    ),
    "task_permission_denied:not_delegator": (
        "只有处理人或上级负责人可以转派此任务",
        "only the assignee or a supervisor may delegate this task",
    ),
    "task_permission_denied:not_supervisor": (
        "只有任务所属机构的负责人可以执行此操作",
        "only a supervisor of the task's unit may do this",
    ),
    "task_permission_denied:target_not_candidate": (
        "被指派人不是此任务的候选人（角色或机构不符）",
        "the new assignee is not a candidate for this task (role or org unit)",
    ),
    "task_permission_denied:system_only": (
        "任务只能由系统置为过期",
        "tasks expire only by the system",
    ),
    "visit_inspectors:two_inspectors": (
        "须二人实地检查：请选择两名不同的检查人",
        "two different people must inspect on site",
    ),
    "visit_inspectors:not_account_manager": (
        "检查人 {inspector} 不是在职客户经理",
        "inspector {inspector} is not an active account manager",
    ),
    "visit_inspectors:not_in_branch": (
        "检查人 {inspector} 不是本贷款所属机构的客户经理",
        "inspector {inspector} is not an account manager of the loan's branch",
    ),
    "visit_inspectors:no_own_manager": (
        "检查人中须有本贷款（{loan_no}）的主办或协办客户经理",
        "one inspector must be the lead or assistant manager of loan {loan_no}",
    ),
    "visit_inspectors:filer_not_inspector": (
        "拜访记录须由两名检查人之一提交",
        "the visit record is filed by one of its two inspectors",
    ),
    "self_approval": (
        "四眼原则：不能审批自己提交的申请",
        "four eyes: nobody approves their own request",
    ),
    "same_approver_in_chain": (
        "四眼原则：同一审批链的各级须由不同的人审批",
        "four eyes: each level of an approval chain must be a different person",
    ),
    "conflict:task": (
        "任务 {task_id} 已被他人修改，请刷新后重试",
        "task {task_id} was changed meanwhile; reload and try again",
    ),
    "not_found:task": (
        "未找到任务 {task_id}（或无权查看）",
        "no task {task_id} (or not yours to see)",
    ),
    "not_found:loan": (
        "未找到贷款 {loan_no}（或无权查看）",
        "no loan {loan_no} (or not yours to see)",
    ),
    "not_authenticated": (
        "用户名或密码错误，或登录已过期",
        "wrong username or password, or the sign-in has expired",
    ),
}
# the family of an error we have no sentence for: a Chinese heading, then its own message
FAMILIES: list[tuple[type[PostloanError], tuple[str, str]]] = [
    (NotFoundError, ("未找到", "Not found")),
    (PermissionDeniedError, ("无权操作", "Not allowed")),
    (ValidationError, ("输入有误", "Invalid input")),
    (ConflictError, ("数据已变更，请刷新后重试", "Changed meanwhile; reload and try again")),
    (TransitionNotAllowedError, ("当前状态下不能执行此操作", "Not possible in the current state")),
    (RuleViolationError, ("不符合业务规则", "Against a business rule")),
    (PostloanError, ("操作未完成", "Not done")),
]
TASK_EVENTS: dict[str, tuple[str, str]] = {
    "open": ("开立", "opened"),
    "claim": ("领取", "claimed"),
    "release": ("退回", "released"),
    "delegate": ("转派", "delegated"),
    "assign": ("分派", "assigned"),
    "complete": ("提交", "completed"),
    "save_draft": ("保存草稿", "saved as a draft"),
    "cancel": ("取消", "cancelled"),
    "escalate": ("升级", "escalated"),
    "expire": ("置为过期", "expired"),
}
# a task's state as every page shows it (api/i18n's `state_*` labels are these)
TASK_STATES: dict[str, tuple[str, str]] = {
    "open": ("待领取", "Open"),
    "claimed": ("处理中", "In progress"),
    "escalated": ("已升级", "Escalated"),
    "completed": ("已完成", "Completed"),
    "cancelled": ("已取消", "Cancelled"),
    "expired": ("已过期", "Expired"),
}
LOAN_STATES_EN = {
    "normal": "Normal",
    "watched": "On watch",
    "overdue": "Overdue",
    "extended": "Extended",
    "non_performing": "Non-performing",
    "written_off": "Written off",
    "settled": "Settled",
}
RISK_CLASSES_EN = {
    "pass": "Pass",
    "special_mention": "Special mention",
    "substandard": "Substandard",
    "doubtful": "Doubtful",
    "loss": "Loss",
}


class _Context(dict[str, Any]):
    def __init__(self, context: Mapping[str, Any], lang: str) -> None:
        super().__init__(context)
        self.lang = lang

    def __missing__(self, key: str) -> str:
        return "他人" if self.lang != "en" and key in ("assignee", "completed_by") else "?"


def _value(key: str, value: Any, lang: str) -> Any:
    i = 1 if lang == "en" else 0
    if key == "event" and str(value) in TASK_EVENTS:
        return TASK_EVENTS[str(value)][i]
    if key == "state" and str(value) in TASK_STATES:
        return TASK_STATES[str(value)][i]
    if value is None:
        return "someone" if lang == "en" else "他人"
    return value


def error_message(exc: PostloanError, lang: str) -> str:
    """The sentence a page shows for a domain error."""
    i = 1 if lang == "en" else 0
    ctx = exc.context or {}
    keys = [f"{exc.code}:{ctx.get('rule')}"] if ctx.get("rule") else []
    keys += [f"{exc.code}:task"] if "task_id" in ctx else []
    keys += [f"{exc.code}:loan"] if "loan_no" in ctx else []
    keys.append(exc.code)
    for key in keys:
        if key in ERRORS:
            values = {k: _value(k, v, lang) for k, v in ctx.items()}
            return ERRORS[key][i].format_map(_Context(values, lang))
    if lang != "en" and _CJK.search(exc.message):
        return exc.message  # already written in Chinese (bilingual messages of the domain)
    heading = next(text for cls, text in FAMILIES if isinstance(exc, cls))[i]
    if lang == "en":
        return f"{heading}: {english_half(exc.message)}"
    return f"{heading}：{exc.message}"


def english_half(message: str) -> str:
    """The English of a "中文 (English)" message: the bracket after its last Chinese character
    (it may hold brackets of its own); the message itself when it has no such half."""
    last = max((m.end() for m in _CJK.finditer(message)), default=-1)
    if last < 0 or not message.endswith((")", "）")):
        return message
    start = min(
        (j for j in (message.find("(", last), message.find("（", last)) if j >= 0), default=-1
    )
    english = message[start + 1 : -1].strip() if start >= 0 else ""
    return english if re.search("[A-Za-z]", english) else message


# Journal reasons the system writes (a person's reason is shown as they typed it).
_REASONS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"^loan booked$"), "贷款入账", "loan booked"),
    (re.compile(r"^payment (\S+)$"), "还款 {0}", "payment {0}"),
    (re.compile(r"^installment due (\S+) unpaid$"), "{0} 应还款未还", "installment due {0} unpaid"),
    (re.compile(r"^arrears paid (\S+)$"), "{0} 逾期已清偿", "arrears paid {0}"),
    (re.compile(r"^regulatory floor: (.+)$"), "监管分类底线：{0}", "regulatory floor: {0}"),
    (re.compile(r"^write-off approved$"), "核销已批准", "write-off approved"),
    (
        re.compile(r"^核销后收回 (\S+) \(payment (\S+)\)$"),
        "核销后收回 {0}（还款 {1}）",
        "recovery of {0} after write-off (payment {1})",
    ),
]
# "中文 (English)": the system's bilingual reasons, one half per page language
_BILINGUAL = re.compile(
    r"^(?P<zh>.*[\u3400-\u9fff].*?)\s*[（(](?P<en>[^\u3400-\u9fff（）()]*[A-Za-z][^\u3400-\u9fff（）()]*)[)）]$"
)


def reason_text(reason: str | None, lang: str) -> str:
    if not reason:
        return ""
    for pattern, zh, en in _REASONS:
        match = pattern.match(reason)
        if match:
            return (en if lang == "en" else zh).format(*match.groups())
    both = _BILINGUAL.match(reason)
    if both and len(both["en"].split()) > 1:
        return both["en"] if lang == "en" else both["zh"]
    return reason
