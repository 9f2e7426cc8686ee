"""Stored state values (str enums: the DB holds their values)."""

from __future__ import annotations

from enum import StrEnum


class LoanState(StrEnum):
    normal = "normal"  # 正常
    watched = "watched"  # 关注 (watch list)
    overdue = "overdue"  # 逾期
    extended = "extended"  # 展期
    non_performing = "non_performing"  # 不良
    written_off = "written_off"  # 核销
    settled = "settled"  # 结清

    @property
    def label_zh(self) -> str:
        return _LOAN_STATE_ZH[self]

    @property
    def is_open(self) -> bool:
        return self not in (LoanState.written_off, LoanState.settled)


_LOAN_STATE_ZH = {
    LoanState.normal: "正常",
    LoanState.watched: "关注",
    LoanState.overdue: "逾期",
    LoanState.extended: "展期",
    LoanState.non_performing: "不良",
    LoanState.written_off: "核销",
    LoanState.settled: "结清",
}


class RiskClass(StrEnum):
    """五级分类, ordered best → worst; `rank` compares them."""

    pass_ = "pass"  # 正常
    special_mention = "special_mention"  # 关注
    substandard = "substandard"  # 次级
    doubtful = "doubtful"  # 可疑
    loss = "loss"  # 损失

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_npl(self) -> bool:
        """次级/可疑/损失 are non-performing (不良)."""
        return self.rank >= RiskClass.substandard.rank

    @property
    def label_zh(self) -> str:
        return _CLASS_ZH[self]

    def worse_of(self, other: RiskClass) -> RiskClass:
        return self if self.rank >= other.rank else other

    def is_better_than(self, other: RiskClass) -> bool:
        return self.rank < other.rank


_RANK = {c: i for i, c in enumerate(RiskClass)}
_CLASS_ZH = {
    RiskClass.pass_: "正常",
    RiskClass.special_mention: "关注",
    RiskClass.substandard: "次级",
    RiskClass.doubtful: "可疑",
    RiskClass.loss: "损失",
}


class TaskState(StrEnum):
    open = "open"  # 待领取: in the queue of its candidates
    claimed = "claimed"  # 处理中: in its assignee's inbox
    escalated = "escalated"  # 已升级: waiting for the escalation target
    completed = "completed"  # 已完成
    cancelled = "cancelled"  # 已取消
    expired = "expired"  # 已过期 (no longer needed; a late task is still open, flagged overdue)

    @property
    def is_active(self) -> bool:
        return self in (TaskState.open, TaskState.claimed, TaskState.escalated)


class RequestState(StrEnum):
    """An approval request (审批申请) on its chain."""

    submitted = "submitted"  # 已提交
    pending = "pending"  # 审批中 (at level k)
    returned = "returned"  # 退回补充 (back with the applicant)
    approved = "approved"  # 已批准
    rejected = "rejected"  # 已否决
    withdrawn = "withdrawn"  # 已撤回

    @property
    def is_live(self) -> bool:
        """Still open: at most one live request of a kind per loan."""
        return self in (RequestState.submitted, RequestState.pending, RequestState.returned)

    @property
    def label_zh(self) -> str:
        return _REQUEST_STATE_ZH[self]


_REQUEST_STATE_ZH = {
    RequestState.submitted: "已提交",
    RequestState.pending: "审批中",
    RequestState.returned: "退回补充",
    RequestState.approved: "已批准",
    RequestState.rejected: "已否决",
    RequestState.withdrawn: "已撤回",
}


class RequestKind(StrEnum):
    """What an approval request asks for (DOMAIN §6)."""

    extension = "extension"  # 展期
    classification = "classification"  # 五级分类调整
    write_off = "write_off"  # 核销
    handover = "handover"  # 移交资产处置
    warning = "warning"  # 预警处置

    @property
    def label_zh(self) -> str:
        return _REQUEST_KIND_ZH[self]


_REQUEST_KIND_ZH = {
    RequestKind.extension: "展期申请",
    RequestKind.classification: "五级分类调整",
    RequestKind.write_off: "核销申请",
    RequestKind.handover: "移交资产处置",
    RequestKind.warning: "预警处置",
}


class WarningState(StrEnum):
    """An early-warning case (预警)."""

    raised = "raised"  # 已报告: graded and planned by the disposition chain
    tracking = "tracking"  # 跟踪处置: confirmed, its owner carries out the plan
    closed = "closed"  # 已关闭
    dismissed = "dismissed"  # 已排除: the chain did not confirm the signal

    @property
    def label_zh(self) -> str:
        return {
            "raised": "已报告",
            "tracking": "跟踪处置",
            "closed": "已关闭",
            "dismissed": "已排除",
        }[self.value]
