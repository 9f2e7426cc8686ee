"""Approval-step forms (DOMAIN §6): extension (展期), classification (五级分类), warning disposition
(预警处置) and write-off (核销) reviews. Pure pydantic: imports no DB, HTTP or Prefect library.

Authority, four eyes, term limits and the 损失-only rule need the DB and live in loans/ and tasks/.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, ClassVar

from forms.base import (
    AttachmentRef,
    Decision,
    LabelledEnum,
    LongText,
    RiskClassChoice,
    RuleViolation,
    ShortText,
    TaskForm,
    Username,
    has_duplicates,
    label,
    missing,
)


def _required_to_approve(
    v: Mapping[str, Any], name: str, zh: str, en: str
) -> Iterator[RuleViolation]:
    if v.get("decision") == Decision.approve and missing(v, name):
        yield RuleViolation(name, f"同意时须填写{zh}", f"give {en} to approve")


class ExtensionReviewForm(TaskForm):
    """展期审批: one level of the extension chain (account manager → branch head → committee)."""

    kind: ClassVar[str] = "extension_review"
    title_zh: ClassVar[str] = "展期审批"
    title_en: ClassVar[str] = "Extension review"

    decision: Decision = label("审批意见", "Decision")
    opinion: LongText = label("审批意见说明", "Opinion")
    conditions: LongText | None = label("附加条件", "Conditions", default=None)
    guarantor_consent_filed: bool = label(
        "担保人书面同意已归档", "Guarantors' written consent on file", default=False
    )
    approved_term_months: int | None = label(
        "批准展期期限（月）", "Approved extension term (months)", default=None, ge=1, le=600
    )

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        # Guarantors consent to an extension in writing (贷款通则; DOMAIN §6).
        if v.get("decision") == Decision.approve and v.get("guarantor_consent_filed") is False:
            yield RuleViolation(
                "guarantor_consent_filed",
                "同意展期须先取得担保人书面同意并归档",
                "the guarantors' written consent must be on file to approve",
            )
        yield from _required_to_approve(
            v, "approved_term_months", "批准展期期限", "the approved term"
        )


class ClassificationReviewForm(TaskForm):
    """五级分类认定: department head's initial or the committee's final confirmation (DOMAIN §3)."""

    kind: ClassVar[str] = "classification_review"
    title_zh: ClassVar[str] = "五级分类认定"
    title_en: ClassVar[str] = "Risk classification review"

    decision: Decision = label("审批意见", "Decision")
    confirmed_class: RiskClassChoice | None = label("认定分类", "Confirmed class", default=None)
    opinion: LongText = label("认定意见", "Opinion")

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        yield from _required_to_approve(v, "confirmed_class", "认定分类", "the confirmed class")


class SignalGrade(LabelledEnum):
    blue = "blue", "蓝色", "Blue"
    yellow = "yellow", "黄色", "Yellow"
    orange = "orange", "橙色", "Orange"
    red = "red", "红色", "Red"


class Measure(LabelledEnum):
    """Responses to a warning signal (003 §22)."""

    demand_early_repayment = "demand_early_repayment", "提前收回", "Demand early repayment"
    more_collateral = "more_collateral", "追加担保", "Demand more collateral"
    litigation_preservation = "litigation_preservation", "诉讼保全", "Litigation preservation"
    restrict_operations = "restrict_operations", "限制经营", "Restrict operations"
    move_to_watch = "move_to_watch", "列入关注", "Move to the watch list"
    propose_reclassification = (
        "propose_reclassification",
        "建议调整分类",
        "Propose reclassification",
    )
    other = "other", "其他", "Other"


class WarningDispositionForm(TaskForm):
    """预警处置: one level of the warning-disposition chain confirms (or not) the signal, grades
    it, chooses measures, names an owner and a deadline (003 §21–22).

    Version 2 added `decision` (the chain needs one); a version-1 payload was a disposition that
    was filed, i.e. an approval (see the upgrader in forms/registry.py).
    """

    kind: ClassVar[str] = "warning_disposition"
    title_zh: ClassVar[str] = "预警处置"
    title_en: ClassVar[str] = "Warning disposition"
    schema_version: ClassVar[int] = 2

    decision: Decision = label("审批意见", "Decision")
    signal_grade: SignalGrade = label("预警等级", "Signal grade")
    measures: list[Measure] = label(
        "处置措施", "Measures", default_factory=list, json_schema_extra={"required_by_rule": True}
    )
    disposal_plan: LongText = label("处置方案", "Disposal plan")
    owner: Username = label("处置责任人（用户名）", "Owner (username)")
    deadline: date = label("处置期限", "Deadline")
    opinion: LongText | None = label("审批意见", "Opinion", default=None)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        if "measures" in v and missing(v, "measures"):
            yield RuleViolation("measures", "请至少选择一项处置措施", "choose at least one measure")
        elif has_duplicates(v.get("measures")):
            yield RuleViolation("measures", "处置措施重复", "a measure is listed twice")


class WriteOffReviewForm(TaskForm):
    """核销审查: committee review of a 损失 loan's write-off; recoveries are still pursued after."""

    kind: ClassVar[str] = "write_off_review"
    title_zh: ClassVar[str] = "核销审查"
    title_en: ClassVar[str] = "Write-off review"

    decision: Decision = label("审查意见", "Decision")
    recovery_prospects: LongText = label("清收前景", "Recovery prospects")
    committee_meeting_ref: ShortText | None = label(
        "贷审会会议纪要编号", "Credit committee minutes no.", default=None
    )
    opinion: LongText = label("审查意见说明", "Opinion")

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        yield from _required_to_approve(
            v, "committee_meeting_ref", "贷审会会议纪要编号", "the committee minutes number"
        )


class HandoverReviewForm(TaskForm):
    """移交资产处置审批: the department head hands a 不良 loan to the asset disposal unit, naming
    who takes it over (a recorded change of owner, DOMAIN §2)."""

    kind: ClassVar[str] = "handover_review"
    title_zh: ClassVar[str] = "移交资产处置审批"
    title_en: ClassVar[str] = "Handover to asset disposal"

    decision: Decision = label("审批意见", "Decision")
    disposal_owner: Username | None = label(
        "接收人（资产处置部门用户名）", "Taken over by (asset disposal username)", default=None
    )
    opinion: LongText = label("审批意见说明", "Opinion")

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        yield from _required_to_approve(v, "disposal_owner", "接收人", "who takes the loan over")


class RevisionAction(LabelledEnum):
    resubmit = "resubmit", "补充后重新提交", "Resubmit with the additions"
    withdraw = "withdraw", "撤回申请", "Withdraw the request"


class RequestRevisionForm(TaskForm):
    """退回补充: the applicant answers a request sent back by a level of its chain — resubmits it
    (the chain starts again from its first level) or withdraws it."""

    kind: ClassVar[str] = "request_revision"
    title_zh: ClassVar[str] = "申请退回补充"
    title_en: ClassVar[str] = "Request returned for revision"

    action: RevisionAction = label("处理方式", "What to do")
    note: LongText = label("补充说明", "What was added or why it is withdrawn")
    documents: list[AttachmentRef] = label("补充材料", "Additional documents", default_factory=list)


class TrackingOutcome(LabelledEnum):
    resolved = "resolved", "风险已化解，关闭预警", "Risk resolved: close the warning"
    continuing = "continuing", "继续跟踪", "Keep tracking"


class WarningTrackingForm(TaskForm):
    """预警跟踪: the case owner reports on the disposal plan until the risk is resolved."""

    kind: ClassVar[str] = "warning_tracking"
    title_zh: ClassVar[str] = "预警跟踪处置"
    title_en: ClassVar[str] = "Warning follow-up"

    reported_on: date = label("报告日期", "Reported on")
    measures_taken: list[Measure] = label("已采取措施", "Measures taken", default_factory=list)
    progress: LongText = label("处置进展", "Progress")
    outcome: TrackingOutcome = label("结论", "Outcome")
    evidence: list[AttachmentRef] = label("证明材料", "Evidence", default_factory=list)
