"""Inspection forms: first usage check (首次用途检查) and collateral check (押品检查), DOMAIN §4.

Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, ClassVar

from forms.base import (
    AttachmentRef,
    Conclusion,
    LabelledEnum,
    LongText,
    RuleViolation,
    TaskForm,
    Yuan,
    label,
    missing,
)


class FirstUsageCheckForm(TaskForm):
    """首次检查: within a month of disbursement (corporate), was the money used as contracted
    (004 §三/四). Diversion is itself a warning signal (001 §4)."""

    kind: ClassVar[str] = "first_usage_check"
    title_zh: ClassVar[str] = "首次用途检查"
    title_en: ClassVar[str] = "First usage check"

    checked_on: date = label("检查日期", "Checked on")
    funds_used_as_contracted: bool = label("资金按合同约定用途使用", "Funds used as contracted")
    diversion_found: bool = label("发现挪用贷款资金", "Diversion of funds found")
    diversion_details: LongText | None = label(
        "挪用情况说明（金额、去向）", "Diversion details (amount, where it went)", default=None
    )
    project_progress: LongText | None = label(
        "项目进度（如贷款用于项目）", "Project progress (if the loan funds a project)", default=None
    )
    evidence: list[AttachmentRef] = label(
        "用途证明材料（发票、合同等）", "Evidence (invoices, contracts)", default_factory=list
    )
    conclusion: Conclusion = label("检查结论", "Conclusion")
    notes: LongText | None = label("备注", "Notes", default=None)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        if v.get("diversion_found") is True:
            if missing(v, "diversion_details"):
                yield RuleViolation(
                    "diversion_details",
                    "发现挪用时须说明挪用情况",
                    "describe the diversion when one is found",
                )
            if v.get("funds_used_as_contracted") is True:
                yield RuleViolation(
                    "funds_used_as_contracted",
                    "已发现挪用，不能同时认定资金按约定用途使用",
                    "funds cannot be 'used as contracted' when a diversion was found",
                )
            if v.get("conclusion") == Conclusion.normal:
                yield RuleViolation(
                    "conclusion",
                    "已发现挪用，检查结论不能为“正常”",
                    "the conclusion cannot be 'normal' when a diversion was found",
                )


class CollateralCondition(LabelledEnum):
    good = "good", "良好", "Good"
    fair = "fair", "一般", "Fair"
    poor = "poor", "较差", "Poor"


class CollateralCheckForm(TaskForm):
    """押品检查: the collateral exists, its condition and value, insurance, seizure (DOMAIN §4,
    on-site revisit list)."""

    kind: ClassVar[str] = "collateral_check"
    title_zh: ClassVar[str] = "押品检查"
    title_en: ClassVar[str] = "Collateral check"

    checked_on: date = label("检查日期", "Checked on")
    collateral_exists: bool = label("押品存在且与登记一致", "Collateral exists as registered")
    condition: CollateralCondition = label("押品状况", "Condition")
    estimated_value: Yuan = label("估计价值（元）", "Estimated value (yuan)")
    insurance_valid: bool = label("保险有效", "Insurance valid")
    seized_or_frozen: bool = label("被查封或冻结", "Seized or frozen")
    notes: LongText | None = label("情况说明", "Notes", default=None)
    photos: list[AttachmentRef] = label("现场照片", "Photos", default_factory=list)

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        # A missing or seized collateral is a warning signal: the file must say what was found.
        trouble = v.get("collateral_exists") is False or v.get("seized_or_frozen") is True
        if trouble and missing(v, "notes"):
            yield RuleViolation(
                "notes",
                "押品不存在或被查封冻结时须说明情况",
                "explain when the collateral is missing, seized or frozen",
            )
