"""Contact forms: customer visit (客户拜访记录, DOMAIN §4 / 000 §1.2) and phone follow-up (电话回访).

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
    Username,
    has_duplicates,
    label,
    missing,
    not_before,
)

INSPECTORS_ON_SITE = 2  # 二人实地检查 (000 §1.2)


class PlaceVisited(LabelledEnum):
    borrower_office = "borrower_office", "借款人办公场所", "Borrower's office"
    guarantor_office = "guarantor_office", "保证人办公场所", "Guarantor's office"
    production_site = "production_site", "生产经营场所", "Production / business site"
    collateral_location = "collateral_location", "抵押物所在地", "Collateral location"


class CustomerVisitForm(TaskForm):
    """客户拜访记录: two people on site, the places seen, the 8 interview items, photos (000 §1.2).

    Whether one inspector is the loan's lead or assistant manager is checked against the DB by
    tasks/, not here.
    """

    kind: ClassVar[str] = "customer_visit"
    title_zh: ClassVar[str] = "客户拜访记录"
    title_en: ClassVar[str] = "Customer visit"

    visited_on: date = label("拜访日期", "Visited on")
    inspectors: list[Username] = label(
        "检查人（二人）",
        "Inspectors (two people)",
        default_factory=list,
        json_schema_extra={"slots": INSPECTORS_ON_SITE, "required_by_rule": True},
    )
    places_visited: list[PlaceVisited] = label(
        "实地查看场所",
        "Places visited",
        default_factory=list,
        json_schema_extra={"required_by_rule": True},
    )
    item_1_operations: LongText = label(
        "（一）近期经营情况及财务指标变化",
        "1. Recent operations and changes in financial indicators",
    )
    item_2_financing_investment: LongText = label(
        "（二）近期融资及对外投资情况", "2. Recent financing and external investment"
    )
    item_3_counterparties: LongText = label(
        "（三）主要交易对手变化及原因", "3. Changes in main counterparties and why"
    )
    item_4_market_outlook: LongText = label(
        "（四）企业对市场及前景的看法", "4. The company's view of its market and outlook"
    )
    item_5_settlement_decline: LongText | None = label(
        "（五）在我行结算量下降的原因（如有）",
        "5. Why settlement through our bank fell (if it did)",
        default=None,
    )
    item_6_project_progress: LongText | None = label(
        "（六）项目进度（如贷款用于项目）",
        "6. Project progress (if the loan funds a project)",
        default=None,
    )
    item_7_cooperation_problems: LongText = label(
        "（七）与我行合作中存在的主要问题", "7. Main problems in working with our bank"
    )
    item_8_other: LongText | None = label("（八）其他", "8. Other", default=None)
    site_observations: LongText = label("现场查看情况", "Site observations")
    photos: list[AttachmentRef] = label(
        "现场照片",
        "Site photos",
        default_factory=list,
        json_schema_extra={"required_by_rule": True},
    )
    inspection_sheet: AttachmentRef | None = label(
        "签字的现场检查表", "Signed inspection sheet", default=None
    )
    risk_found: bool = label("发现风险", "Risk found")
    risk_description: LongText | None = label("风险情况说明", "Risk description", default=None)
    warned_superiors: bool = label("已向上级预警", "Superiors warned", default=False)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        inspectors = v.get("inspectors")
        if inspectors is not None and len(inspectors) != INSPECTORS_ON_SITE:
            yield RuleViolation(
                "inspectors",
                f"须二人实地检查：请填写两名检查人（现为{len(inspectors)}人）",
                f"two people must inspect on site: give two inspectors (got {len(inspectors)})",
            )
        elif inspectors is not None and has_duplicates(inspectors):
            yield RuleViolation(
                "inspectors",
                "须二人实地检查：两名检查人不能是同一人",
                "two people must inspect on site: the two inspectors must differ",
            )
        if "places_visited" in v and missing(v, "places_visited"):
            yield RuleViolation(
                "places_visited", "请至少选择一个实地查看场所", "choose at least one place visited"
            )
        elif has_duplicates(v.get("places_visited")):
            yield RuleViolation("places_visited", "场所重复", "a place is listed twice")
        if "photos" in v and missing(v, "photos"):
            yield RuleViolation(
                "photos", "请至少上传一张现场照片", "attach at least one photo taken on site"
            )
        if v.get("risk_found") is True and missing(v, "risk_description"):
            yield RuleViolation(
                "risk_description", "发现风险时须说明风险情况", "describe the risk that was found"
            )


class PhoneFollowUpForm(TaskForm):
    """电话回访 under intensive monitoring, every 10 days (000 XX银行贷后管理流程)."""

    kind: ClassVar[str] = "phone_follow_up"
    title_zh: ClassVar[str] = "电话回访"
    title_en: ClassVar[str] = "Phone follow-up"

    called_on: date = label("回访日期", "Called on")
    contact_person: ShortText = label("联系人", "Contact person")
    reached: bool = label("已接通", "Reached")
    controller_whereabouts: LongText | None = label(
        "联系人及实际控制人去向", "Whereabouts of the contact and the controller", default=None
    )
    operating_normally: bool | None = label("经营正常", "Operating normally", default=None)
    sales_and_purchases: LongText | None = label("购销情况", "Sales and purchases", default=None)
    new_orders: LongText | None = label("新增订单", "New orders", default=None)
    payroll: LongText | None = label("工资发放情况", "Payroll", default=None)
    other: LongText | None = label("其他情况", "Other", default=None)
    promise_to_pay_amount: PositiveYuan | None = label(
        "承诺还款金额（元）", "Promised amount (yuan)", default=None
    )
    promise_to_pay_date: date | None = label("承诺还款日期", "Promised date", default=None)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        if v.get("reached") is True:
            for name, zh, en in (
                ("controller_whereabouts", "联系人及实际控制人去向", "the whereabouts"),
                ("operating_normally", "是否经营正常", "whether it operates normally"),
                ("sales_and_purchases", "购销情况", "sales and purchases"),
                ("new_orders", "新增订单", "new orders"),
                ("payroll", "工资发放情况", "payroll"),
            ):
                if missing(v, name):
                    yield RuleViolation(name, f"已接通时须填写{zh}", f"record {en} when reached")
        amount, when = v.get("promise_to_pay_amount"), v.get("promise_to_pay_date")
        if v.get("reached") is False and (amount is not None or when is not None):
            field = "promise_to_pay_amount" if amount is not None else "promise_to_pay_date"
            yield RuleViolation(
                field, "未接通时不能记录还款承诺", "no promise to pay without reaching anyone"
            )
        elif amount is not None and when is None and "promise_to_pay_date" in v:
            yield RuleViolation(
                "promise_to_pay_date",
                "填写了承诺还款金额，须同时填写承诺还款日期",
                "give the promised date together with the amount",
            )
        elif when is not None and amount is None and "promise_to_pay_amount" in v:
            yield RuleViolation(
                "promise_to_pay_amount",
                "填写了承诺还款日期，须同时填写承诺还款金额",
                "give the promised amount together with the date",
            )
        if not not_before(v.get("called_on"), when):
            yield RuleViolation(
                "promise_to_pay_date",
                "承诺还款日期不能早于回访日期",
                "the promised date cannot be before the call",
            )
