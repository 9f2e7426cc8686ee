"""Loan-card (credit reference) check form (贷款卡检索), monthly by the 20th: DOMAIN §4, 000 §1.1.

Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator

from forms.base import (
    AttachmentRef,
    Choices,
    Conclusion,
    FormRow,
    LabelledEnum,
    LongText,
    PositiveYuan,
    RuleViolation,
    ShortText,
    SignedYuan,
    TaskForm,
    label,
    missing,
    risk_class_schema,
    rule_error,
)
from statemachines.enums import RiskClass


def _watch_or_worse(value: RiskClass) -> RiskClass:
    # Only other-bank classes of 关注 or worse are registered, each with amount and reason (000 §1.1).
    if value is RiskClass.pass_:
        raise rule_error(
            "只登记关注类及更差的分类，正常类无需登记",
            "register special mention or worse only, not pass",
        )
    return value


_WORSE_THAN_PASS = [c for c in RiskClass if c is not RiskClass.pass_]
WatchOrWorse = Annotated[
    RiskClass,
    AfterValidator(_watch_or_worse),
    risk_class_schema(*_WORSE_THAN_PASS),
    Choices(*_WORSE_THAN_PASS),
]


class OtherBankClassification(FormRow):
    title_zh: ClassVar[str] = "他行关注及以下分类"
    title_en: ClassVar[str] = "Other-bank classification (special mention or worse)"

    bank: ShortText = label("银行", "Bank")
    amount: PositiveYuan = label("金额（元）", "Amount (yuan)")
    risk_class: WatchOrWorse = label("分类", "Class")
    reason: ShortText = label("原因", "Reason")


class DelinquencyKind(LabelledEnum):
    overdue = "overdue", "逾期", "Overdue"
    arrears = "arrears", "欠息", "Interest arrears"
    advance = "advance", "垫款", "Advance"


class OtherBankDelinquency(FormRow):
    title_zh: ClassVar[str] = "他行逾期、欠息、垫款"
    title_en: ClassVar[str] = "Other-bank overdue, arrears, advances"

    bank: ShortText = label("银行", "Bank")
    kind: DelinquencyKind = label("类型", "Kind")
    amount: PositiveYuan = label("金额（元）", "Amount (yuan)")
    cause: ShortText = label("形成原因", "Cause")


class ConcentratedMaturity(FormRow):
    title_zh: ClassVar[str] = "他行大额或集中到期"
    title_en: ClassVar[str] = "Large or clustered maturities at other banks"

    bank: ShortText = label("银行", "Bank")
    amount: PositiveYuan = label("金额（元）", "Amount (yuan)")
    due_date: date = label("到期日", "Due date")


class LoanCardCheckForm(TaskForm):
    """贷款卡检索: what the credit reference shows about the borrower at other banks (000 §1.1)."""

    kind: ClassVar[str] = "loan_card_check"
    title_zh: ClassVar[str] = "贷款卡检索"
    title_en: ClassVar[str] = "Loan-card (credit reference) check"

    retrieved_on: date = label("检索日期", "Retrieved on")
    other_bank_credit_balance_change: SignedYuan = label(
        "他行授信余额变化（元，减少为负）", "Change in other-bank credit balance (yuan, − = down)"
    )
    other_bank_credit_balance_change_reason: LongText | None = label(
        "他行授信余额变化原因", "Reason for the other-bank credit change", default=None
    )
    external_guarantee_balance_change: SignedYuan = label(
        "对外担保余额变化（元，减少为负）", "Change in external guarantee balance (yuan, − = down)"
    )
    external_guarantee_balance_change_reason: LongText | None = label(
        "对外担保余额变化原因（含是否为关联方担保）",
        "Reason for the guarantee change (incl. related parties)",
        default=None,
    )
    other_bank_classifications: list[OtherBankClassification] = label(
        "他行关注及以下分类", "Other-bank classes special mention or worse", default_factory=list
    )
    other_bank_delinquencies: list[OtherBankDelinquency] = label(
        "他行逾期、欠息、垫款", "Overdue, arrears and advances at other banks", default_factory=list
    )
    concentrated_maturities: list[ConcentratedMaturity] = label(
        "他行大额或集中到期", "Large or clustered maturities at other banks", default_factory=list
    )
    environment_social_security_tax_notes: LongText | None = label(
        "环保、社保、纳税等情况", "Environment, social security and tax notes", default=None
    )
    report: AttachmentRef | None = label("征信报告", "Credit report", default=None)
    conclusion: Conclusion = label("检索结论", "Conclusion")

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        # Every change in the balances is explained (000 §1.1 要求写明变化原因).
        changes = {
            "other_bank_credit_balance_change": ("他行授信余额", "the other-bank credit balance"),
            "external_guarantee_balance_change": ("对外担保余额", "the external guarantee balance"),
        }
        for name, (zh, en) in changes.items():
            change = v.get(name)
            if change is not None and change != 0 and missing(v, f"{name}_reason"):
                yield RuleViolation(
                    f"{name}_reason",
                    f"{zh}有变化时须说明原因",
                    f"give the reason when {en} changed",
                )
