"""The collection ladder as data (催收, DOMAIN §7, 003 §11, 001 二 §2): its steps — from
negotiation to legal referral, each with the days past due it starts at, its task, role, channels
and cadence — the strategy each willingness × ability quadrant calls for, and missed installments
counted from the book."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from core.identity import Role
from core.settings import Settings, get_settings
from loans import aging

LEGAL = 5  # the last step: legal referral

# 003: the strategy a quadrant of willingness × ability calls for
STRATEGY: dict[str, tuple[str, str]] = {
    "I": ("友好提醒，适当宽限", "Friendly reminder and some grace"),
    "II": ("考虑展期或调整还款计划，帮助恢复还款能力", "Consider an extension; restore capacity"),
    "III": ("加强教育，提高违约成本", "Re-education; raise the cost of default"),
    "IV": ("强力催收，准备诉讼", "Strong collection; prepare litigation"),
}


@dataclass(frozen=True)
class LadderStep:
    number: int
    code: str
    name_zh: str
    name_en: str
    min_days: int  # days past due from which this step applies
    task_kind: str
    role: Role
    channels: tuple[str, ...]  # what a contact at this step uses
    cadence_days: int | None  # a new task every N days while at this step (None: once)
    due_business_days: int
    head_office: bool = False  # the task goes to the head office (asset disposal)


def ladder(settings: Settings | None = None) -> tuple[LadderStep, ...]:
    s = settings or get_settings()
    days, cadence = s.collection_step_days, s.collection_cadence_days
    am = Role.account_manager
    return (
        LadderStep(1, "negotiation", "协商催收", "Negotiation", days[0], "collection_contact", am,
                   ("phone", "sms"), cadence[0], 3),
        LadderStep(2, "phone", "高频电话催收", "High-frequency phone", days[1], "collection_contact",
                   am, ("phone", "sms"), cadence[1], 1),
        LadderStep(3, "visit", "上门催收", "On-site visit", days[2], "collection_contact", am,
                   ("visit",), cadence[2], 5),
        LadderStep(4, "pressure", "全面施压（催收函、律师函、担保人）", "Full pressure", days[3],
                   "collection_contact", am, ("letter", "lawyer_letter", "guarantor"), cadence[3],
                   5),
        LadderStep(LEGAL, "legal", "移交法律诉讼", "Legal referral", days[4], "legal_referral",
                   Role.asset_disposal, (), None, 10, head_office=True),
    )  # fmt: skip


def missed_installments(installments: Sequence[Any], on: date) -> tuple[int, int]:
    """(consecutive, cumulative) installments payable before `on` not paid in full by then:
    the current run of misses up to `on`, and all misses of the loan."""
    due = sorted(
        (i for i in installments if aging.pay_by(i.due_date) < on), key=lambda i: i.due_date
    )
    missed = [not aging.paid_on_time(i) for i in due]
    run = 0
    for was_missed in reversed(missed):
        if not was_missed:
            break
        run += 1
    return run, sum(missed)
