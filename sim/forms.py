"""What a bot writes into each kind of form: the data a careful clerk would file, drawn from the
seed, and true to the simulated borrower (a collector's promise is the day the borrower will in
fact pay; a check finds risk where the borrower is about to default). Every payload is validated
by the form itself when the task is completed, like a person's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sim.params import Profile, draw

Filler = Callable[["Context"], dict[str, Any]]


@dataclass(frozen=True)
class Context:
    """What the bot knows when it fills a form."""

    seed: int
    task_key: str
    day: date
    username: str
    colleague: str
    profile: str | None  # the borrower's repayment profile (None: no loan)
    next_payment: date | None  # when the borrower will next pay (collection contacts)
    amount_due: str  # yuan, what is overdue (collection contacts)
    photo: dict[str, Any]
    document: dict[str, Any]
    subject: dict[str, Any]  # the approval request's subject, else the task's context
    approve_share: float
    managers: tuple[str, ...] = ()  # the loan's lead and assistant account managers
    channels: tuple[str, ...] = ("phone",)  # what this step of the collection ladder uses

    def chance(self, *about: object) -> float:
        return draw(self.seed, self.task_key, *about)

    @property
    def troubled(self) -> bool:
        return self.profile in (Profile.default, Profile.chronic)


def _conclusion(c: Context) -> str:
    if c.troubled and c.chance("finding") < 0.3:
        return "risk"
    return "attention" if c.chance("finding") < 0.1 else "normal"


def first_usage_check(c: Context) -> dict[str, Any]:
    diverted = c.troubled and c.chance("diverted") < 0.1
    return {
        "checked_on": c.day.isoformat(),
        "funds_used_as_contracted": not diverted,
        "diversion_found": diverted,
        "diversion_details": "部分贷款资金转入关联企业账户" if diverted else None,
        "project_progress": "按计划推进",
        "evidence": [c.document],
        "conclusion": "risk" if diverted else _conclusion(c),
        "notes": "发票、合同与用途一致" if not diverted else "部分资金流向关联企业",
    }


def loan_card_check(c: Context) -> dict[str, Any]:
    return {
        "retrieved_on": c.day.isoformat(),
        "other_bank_credit_balance_change": "0",
        "external_guarantee_balance_change": "0",
        "other_bank_classifications": [],
        "other_bank_delinquencies": [],
        "concentrated_maturities": [],
        "environment_social_security_tax_notes": "社保、纳税正常",
        "report": c.document,
        "conclusion": _conclusion(c),
    }


def _inspectors(c: Context) -> list[str]:
    """Two people on site, at least one the loan's lead or assistant manager (DOMAIN §4)."""
    team = list(dict.fromkeys(m for m in c.managers if m))
    return team if len(team) == 2 else [*team, c.colleague][:2]


def customer_visit(c: Context) -> dict[str, Any]:
    risk = _conclusion(c) == "risk"
    return {
        "visited_on": c.day.isoformat(),
        "inspectors": _inspectors(c),
        "places_visited": ["borrower_office", "production_site"],
        "item_1_operations": "经营基本稳定" if not risk else "销售收入明显下滑",
        "item_2_financing_investment": "无新增融资及对外投资",
        "item_3_counterparties": "主要客户未变化",
        "item_4_market_outlook": "市场需求平稳",
        "item_5_settlement_decline": None,
        "item_6_project_progress": None,
        "item_7_cooperation_problems": "无",
        "item_8_other": None,
        "site_observations": "生产经营正常" if not risk else "厂区开工不足，库存积压",
        "photos": [c.photo],
        "inspection_sheet": c.document,
        "risk_found": risk,
        "risk_description": "回款放缓，存在违约风险" if risk else None,
        "warned_superiors": risk,
    }


def phone_follow_up(c: Context) -> dict[str, Any]:
    return {
        "called_on": c.day.isoformat(),
        "contact_person": "财务负责人",
        "reached": True,
        "controller_whereabouts": "实际控制人在岗",
        "operating_normally": not c.troubled,
        "sales_and_purchases": "购销平稳",
        "new_orders": None,
        "payroll": "工资按月发放",
        "other": None,
        "promise_to_pay_amount": None,
        "promise_to_pay_date": None,
    }


def collateral_check(c: Context) -> dict[str, Any]:
    return {
        "checked_on": c.day.isoformat(),
        "collateral_exists": True,
        "condition": "good" if not c.troubled else "fair",
        "estimated_value": "1000000.00",
        "insurance_valid": True,
        "seized_or_frozen": False,
        "notes": "押品状况正常",
        "photos": [c.photo],
    }


def _notice(c: Context) -> dict[str, Any]:
    return {
        "issued_on": c.day.isoformat(),
        "delivery_method": "in_person" if c.chance("delivery") < 0.7 else "registered_mail",
        "receipt": c.photo,
        "notes": None,
    }


def collection_contact(c: Context) -> dict[str, Any]:
    """Reached most of the time; a borrower who will pay within a month promises that day (a
    kept promise); a defaulter promises now and then and does not pay (a broken one)."""
    channel = c.channels[int(c.chance("channel") * len(c.channels))] if c.channels else "phone"
    base = {"contacted_on": c.day.isoformat(), "channel": channel, "contact_person": "借款人本人"}
    if c.chance("reached") < 0.15:
        return {**base, "reached": False, "outcome": "unreachable", "willingness": "low",
                "ability": "low", "notes": "电话无人接听", "evidence": []}  # fmt: skip
    pays = c.next_payment
    if pays is not None and pays <= c.day + timedelta(days=30):
        promise = max(pays, c.day)
        return {**base, "reached": True, "outcome": "promise_to_pay",
                "promise_amount": c.amount_due, "promise_date": promise.isoformat(),
                "willingness": "high", "ability": "high" if c.profile != Profile.chronic else "low",
                "notes": f"承诺于{promise}前还款", "evidence": []}  # fmt: skip
    if c.chance("empty promise") < 0.4:
        promise = c.day + timedelta(days=7)
        return {**base, "reached": True, "outcome": "promise_to_pay",
                "promise_amount": c.amount_due, "promise_date": promise.isoformat(),
                "willingness": "low", "ability": "low", "notes": "口头承诺，缺乏还款来源",
                "evidence": []}  # fmt: skip
    outcome = "hardship" if c.chance("why") < 0.5 else "refused"
    return {**base, "reached": True, "outcome": outcome,
            "willingness": "high" if outcome == "hardship" else "low", "ability": "low",
            "notes": "经营困难，暂无还款能力" if outcome == "hardship" else "拒绝还款",
            "evidence": []}  # fmt: skip


def legal_referral(c: Context) -> dict[str, Any]:
    return {
        "referred_on": c.day.isoformat(),
        "measures": ["lawsuit", "guarantor_claim"],
        "claim_amount": c.amount_due,
        "counsel": "本行法律事务部",
        "notes": "多次催收无果，移交诉讼",
        "documents": [c.document],
    }


def _decision(c: Context) -> str:
    roll = c.chance("decision")
    if roll < c.approve_share:
        return "approve"
    return "return_for_revision" if roll < (1 + c.approve_share) / 2 else "reject"


def extension_review(c: Context) -> dict[str, Any]:
    decision = _decision(c)
    return {
        "decision": decision,
        "opinion": {
            "approve": "还款来源可靠，同意展期",
            "reject": "还款能力不足，不同意展期",
            "return_for_revision": "请补充现金流测算",
        }[decision],  # fmt: skip
        "conditions": None,
        "guarantor_consent_filed": True,
        "approved_term_months": 6 if decision == "approve" else None,
    }


def classification_review(c: Context) -> dict[str, Any]:
    """A floor's downgrade is confirmed (the rule forces it); other proposals by the odds."""
    proposed = c.subject.get("proposed_class")
    forced = bool(c.subject.get("rule_refs"))
    decision = "approve" if forced or c.chance("decision") < c.approve_share else "reject"
    return {
        "decision": decision,
        "confirmed_class": proposed if decision == "approve" else None,
        "opinion": "符合监管认定标准，同意" if decision == "approve" else "依据不足，维持原分类",
    }


def warning_disposition(c: Context) -> dict[str, Any]:
    return {
        "decision": "approve",
        "signal_grade": "orange" if c.troubled else "yellow",
        "measures": ["move_to_watch"] if c.troubled else ["other"],
        "disposal_plan": "加强监测，每月走访",
        "owner": c.managers[0] if c.managers else c.username,
        "deadline": (c.day + timedelta(days=30)).isoformat(),
        "opinion": "同意处置方案",
    }


def warning_tracking(c: Context) -> dict[str, Any]:
    resolved = not c.troubled or c.chance("resolved") < 0.3
    return {
        "reported_on": c.day.isoformat(),
        "measures_taken": ["other"],
        "progress": "已落实监测措施",
        "outcome": "resolved" if resolved else "continuing",
        "evidence": [c.document],
    }


def write_off_review(c: Context) -> dict[str, Any]:
    return {
        "decision": "approve",
        "recovery_prospects": "借款人无可执行财产，保证人无代偿能力",
        "committee_meeting_ref": f"贷审会〔{c.day.year}〕{c.day:%m%d}号",
        "opinion": "符合核销条件，同意核销",
    }


def handover_review(c: Context) -> dict[str, Any]:
    return {"decision": "approve", "disposal_owner": "disposal", "opinion": "同意移交资产处置部门"}


def request_revision(c: Context) -> dict[str, Any]:
    return {"action": "resubmit", "note": "已按要求补充材料", "documents": [c.document]}


def graduation_confirmation(c: Context) -> dict[str, Any]:
    """Most students graduate on the expected date; some stay on (further degree, delay)."""
    expected = date.fromisoformat(str(c.subject.get("expected_graduation_date") or c.day))
    base = {"phone": "13800138000", "address": "借款学生家庭住址", "email": None,
            "emergency_contact": "父母", "confirmation_sheet": c.document, "notes": None}  # fmt: skip
    if c.chance("stays on") < 0.08:
        return {**base, "status": "in_school", "graduation_date": None,
                "new_expected_graduation_date": date(max(expected, c.day).year + 1, 7, 1).isoformat(),
                "employment": None, "employer": None}  # fmt: skip
    employed = c.chance("employed") < 0.75 and not c.troubled
    return {**base, "status": "graduated", "graduation_date": min(expected, c.day).isoformat(),
            "new_expected_graduation_date": None,
            "employment": "employed" if employed else "seeking",
            "employer": "某科技有限公司" if employed else None}  # fmt: skip


def student_contact(c: Context) -> dict[str, Any]:
    reached = c.chance("reached") < 0.9
    return {
        "contacted_on": c.day.isoformat(),
        "channel": "phone" if c.chance("channel") < 0.7 else "instant_message",
        "reached": reached,
        "school_status": None,
        "phone": None,
        "address": None,
        "employer": None,
        "repayment_explained": reached,
        "notes": "已告知还款安排" if reached else "电话未接通",
    }


FILLERS: dict[str, Filler] = {
    "first_usage_check": first_usage_check,
    "loan_card_check": loan_card_check,
    "customer_visit": customer_visit,
    "phone_follow_up": phone_follow_up,
    "collateral_check": collateral_check,
    "maturity_notice": _notice,
    "overdue_notice": _notice,
    "collection_contact": collection_contact,
    "legal_referral": legal_referral,
    "extension_review": extension_review,
    "classification_review": classification_review,
    "warning_disposition": warning_disposition,
    "warning_tracking": warning_tracking,
    "write_off_review": write_off_review,
    "handover_review": handover_review,
    "request_revision": request_revision,
    "graduation_confirmation": graduation_confirmation,
    "student_contact": student_contact,
}
