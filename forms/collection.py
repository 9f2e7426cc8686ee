"""Collection forms (催收, DOMAIN §7): a collection contact with its outcome, a promise to pay and
the willingness × ability quadrant that picks the strategy (003); and the referral to legal action.

Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, ClassVar

from forms.base import (
    AttachmentRef,
    LabelledEnum,
    LongText,
    PositiveYuan,
    RuleViolation,
    ShortText,
    TaskForm,
    Yuan,
    label,
    missing,
    not_before,
)


class Channel(LabelledEnum):
    """Means of collection, from friendly to forceful (003)."""

    phone = "phone", "电话", "Phone"
    sms = "sms", "短信", "Text message"
    letter = "letter", "催收函", "Collection letter"
    visit = "visit", "上门", "On-site visit"
    guarantor = "guarantor", "联系担保人", "Guarantor contacted"
    lawyer_letter = "lawyer_letter", "律师函", "Lawyer's letter"


class ContactOutcome(LabelledEnum):
    promise_to_pay = "promise_to_pay", "承诺还款", "Promise to pay"
    paid = "paid", "已还款", "Paid"
    hardship = "hardship", "有还款意愿但暂无能力", "Willing but unable"
    refused = "refused", "拒绝还款", "Refused"
    dispute = "dispute", "对欠款有异议", "Disputes the debt"
    unreachable = "unreachable", "联系不上", "Unreachable"


class Level(LabelledEnum):
    high = "high", "强", "High"
    low = "low", "弱", "Low"


class CollectionContactForm(TaskForm):
    """催收联系记录: who was reached how, what they said, a promise (amount, date), and the
    willingness × ability judgement (quadrants I–IV of 003)."""

    kind: ClassVar[str] = "collection_contact"
    title_zh: ClassVar[str] = "催收联系记录"
    title_en: ClassVar[str] = "Collection contact"

    contacted_on: date = label("联系日期", "Contacted on")
    channel: Channel = label("催收方式", "Channel")
    contact_person: ShortText = label("联系人", "Person contacted")
    reached: bool = label("是否联系上", "Reached", default=False)
    outcome: ContactOutcome = label("联系结果", "Outcome")
    promise_amount: PositiveYuan | None = label(
        "承诺还款金额（元）", "Promised amount (yuan)", default=None
    )
    promise_date: date | None = label("承诺还款日期", "Promised by", default=None)
    willingness: Level = label("还款意愿", "Willingness to pay")
    ability: Level = label("还款能力", "Ability to pay")
    notes: LongText = label("情况说明", "Notes")
    evidence: list[AttachmentRef] = label(
        "录音、回执等", "Recordings, receipts", default_factory=list
    )

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        if v.get("outcome") == ContactOutcome.promise_to_pay:
            for name, zh, en in (
                ("promise_amount", "承诺还款金额", "the promised amount"),
                ("promise_date", "承诺还款日期", "the promised date"),
            ):
                if missing(v, name):
                    yield RuleViolation(name, f"承诺还款时须填写{zh}", f"give {en}")
        if not not_before(v.get("contacted_on"), v.get("promise_date")):
            yield RuleViolation(
                "promise_date", "承诺还款日期不能早于联系日期", "cannot be before the contact"
            )
        if v.get("reached") is False and v.get("outcome") not in (
            None,
            ContactOutcome.unreachable,
        ):
            yield RuleViolation(
                "outcome",
                "未联系上时结果只能为“联系不上”",
                "not reached: the outcome is unreachable",
            )

    @property
    def quadrant(self) -> str:
        """I both · II willing, unable · III able, unwilling · IV neither (003)."""
        willing, able = self.willingness == Level.high, self.ability == Level.high
        return {(True, True): "I", (True, False): "II", (False, True): "III"}.get(
            (willing, able), "IV"
        )


class LegalMeasure(LabelledEnum):
    lawsuit = "lawsuit", "提起诉讼", "Lawsuit"
    preservation = "preservation", "诉讼保全", "Preservation of assets"
    enforcement = "enforcement", "申请强制执行", "Enforcement"
    guarantor_claim = "guarantor_claim", "向担保人追偿", "Claim on the guarantor"
    insurer_claim = "insurer_claim", "向保险人索赔", "Claim on the insurer"


class LegalReferralForm(TaskForm):
    """法律移交: 3 consecutive or 6 cumulative missed installments, or the top of the ladder, send
    the loan to legal action or to the guarantor/insurer (001 二 §2)."""

    kind: ClassVar[str] = "legal_referral"
    title_zh: ClassVar[str] = "法律诉讼移交"
    title_en: ClassVar[str] = "Referral to legal action"

    referred_on: date = label("移交日期", "Referred on")
    measures: list[LegalMeasure] = label(
        "拟采取措施", "Measures", default_factory=list, json_schema_extra={"required_by_rule": True}
    )
    claim_amount: Yuan = label("主张金额（元）", "Amount claimed (yuan)")
    counsel: ShortText | None = label("代理律师 / 律师事务所", "Counsel", default=None)
    notes: LongText = label("案情说明", "Summary")
    documents: list[AttachmentRef] = label("证据材料", "Documents", default_factory=list)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        if "measures" in v and missing(v, "measures"):
            yield RuleViolation("measures", "请至少选择一项措施", "choose at least one measure")
