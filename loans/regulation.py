"""Regulatory floor of the five-tier class (五级分类 DOMAIN §3): rules as data + a pure function.

Imports only core settings/errors, statemachines enums and the stdlib — no DB library.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import MappingProxyType

from core.errors import ValidationError
from core.settings import Settings, get_settings
from statemachines.enums import RiskClass

SOURCE_2023 = "商业银行金融资产风险分类办法"
EFFECTIVE_2023 = date(2023, 7, 1)  # 银保监会、人民银行令 2023年第1号; in force from this date


@dataclass(frozen=True, kw_only=True)
class ClassificationRule:
    """One versioned rule: where it comes from, when it is in force, the class it forces."""

    code: str
    floor: RiskClass | None  # None: the floor is dynamic (e.g. "keep the class it had")
    source: str
    article: str
    effective_from: date
    effective_to: date | None = None  # exclusive
    params: Mapping[str, object] = field(default_factory=dict, hash=False)
    description_zh: str = ""
    description_en: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValidationError(
                "规则的失效日须晚于生效日 (rule effective_to must be after effective_from)",
                code=self.code,
                effective_from=self.effective_from,
                effective_to=self.effective_to,
            )

    def is_in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)

    @property
    def ref(self) -> str:
        return f"{self.source} {self.article} ({self.effective_from.isoformat()})"


@dataclass(frozen=True)
class RuleBook:
    rules: tuple[ClassificationRule, ...]

    def __post_init__(self) -> None:
        for rule in self.rules:
            if rule.code not in _EVALUATORS:
                raise ValidationError(
                    "未知的分类规则代码 (unknown classification rule code)", code=rule.code
                )
            if rule.floor is None and rule.code not in _DYNAMIC_FLOOR_CODES:
                raise ValidationError("规则须有底线分类 (rule needs a floor class)", code=rule.code)

    def in_force(self, on: date) -> list[ClassificationRule]:
        return [rule for rule in self.rules if rule.is_in_force(on)]

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RuleBook:
        """The 2023 rules with their numbers taken from `Settings` (documented defaults there)."""
        s = get_settings() if settings is None else settings
        observation = {
            "min_periods": s.restructure_observation_min_periods,
            "min_months": s.restructure_observation_min_months,
        }
        grace, share = s.classification_grace_days, Decimal(s.contagion_npl_share)

        def rule(
            code: str,
            floor: RiskClass | None,
            article: str,
            params: Mapping[str, object],
            zh: str,
            en: str,
        ) -> ClassificationRule:
            return ClassificationRule(
                code=code,
                floor=floor,
                source=SOURCE_2023,
                article=article,
                effective_from=EFFECTIVE_2023,
                params=params,
                description_zh=zh,
                description_en=en,
            )

        rules = [
            rule(
                "dpd_grace_special_mention",
                RiskClass.special_mention,
                "第九条",
                {"days": grace},
                f"逾期超过{grace}天技术性宽限期，至少归为关注类",
                f"Overdue beyond the {grace}-day grace: at least special mention",
            ),
            rule(
                "dpd_90_substandard",
                RiskClass.substandard,
                "第十条",
                {"days": s.substandard_after_days},
                f"逾期超过{s.substandard_after_days}天，至少归为次级类",
                f"More than {s.substandard_after_days} days past due: at least substandard",
            ),
            rule(
                "dpd_270_doubtful",
                RiskClass.doubtful,
                "第十一条",
                {"days": s.doubtful_after_days},
                f"逾期超过{s.doubtful_after_days}天，至少归为可疑类",
                f"More than {s.doubtful_after_days} days past due: at least doubtful",
            ),
            rule(
                "dpd_360_loss",
                RiskClass.loss,
                "第十二条",
                {"days": s.loss_after_days},
                f"逾期超过{s.loss_after_days}天，归为损失类",
                f"More than {s.loss_after_days} days past due: loss",
            ),
            rule(
                "restructured_observation",
                RiskClass.special_mention,
                "第十九条",
                observation,
                "重组资产观察期内，重组前为正常或关注的，至少归为关注类",
                "Restructured, in observation, performing before: at least special mention",
            ),
            rule(
                "restructured_npl_no_upgrade",
                None,
                "第十九条",
                observation,
                "重组资产观察期内，重组前为不良的，不得上调分类",
                "Restructured, in observation, non-performing before: not upgraded",
            ),
        ]
        # Consultation draft, kept switchable: restructured again in observation → at least 可疑.
        if s.restructure_again_floor_doubtful:
            rules.append(
                rule(
                    "restructured_again_doubtful",
                    RiskClass.doubtful,
                    "第二十条",
                    observation,
                    "观察期内再次重组的，至少归为可疑类",
                    "Restructured again during observation: at least doubtful",
                )
            )
        rules += [
            rule(
                "contagion_npl_share",
                RiskClass.substandard,
                "第七条",
                {"npl_share": share},
                f"非零售债务人在本行债权超过{share:.2%}分类为不良的，其全部债权归为不良",
                f"Non-retail borrower, more than {share:.2%} of its claims NPL: all of them NPL",
            ),
        ]
        return cls(tuple(rules))


@dataclass(frozen=True)
class FloorFacts:
    days_past_due: int = 0  # counted including after an extension (展期 never resets it)
    is_retail: bool = False  # individual borrower; contagion applies to non-retail only
    borrower_npl_share: Decimal = Decimal(0)  # 不良 share of the borrower's claims, by outstanding
    restructured_on: date | None = None  # concession granted (重组); None = never restructured
    observation_start: date | None = None  # first repayment after the change, or last missed date
    on_time_periods_since_start: int = 0  # consecutive periods paid in full and on time
    class_before_restructure: RiskClass | None = None  # before the first of a sequence
    restructured_again_in_observation: bool = False  # restructured while in observation
    current_class: RiskClass | None = None  # the class now ("not upgraded" keeps it)


@dataclass(frozen=True)
class Floor:
    risk_class: RiskClass
    reasons: tuple[str, ...]  # codes of the rules that bind at `risk_class`
    rule_refs: tuple[str, ...]  # "<source> <article> (<effective_from>)" of those rules


def in_observation(facts: FloorFacts, on: date, rules: RuleBook) -> bool:
    """A restructured asset is observed ≥ min periods on time **and** ≥ min months (第十九条)."""
    if facts.restructured_on is None or facts.restructured_on > on:
        return False
    params = next((r.params for r in rules.in_force(on) if "min_periods" in r.params), None)
    if params is None:
        return False  # no observation rule in force on `on`
    if facts.observation_start is None or on < facts.observation_start:
        return True  # first repayment after the change not reached yet
    end = _add_months(facts.observation_start, _int_param(params, "min_months"))
    done = facts.on_time_periods_since_start >= _int_param(params, "min_periods") and on >= end
    return not done


def classification_floor(facts: FloorFacts, on: date, rules: RuleBook | None = None) -> Floor:
    """Best class the rules in force on `on` allow: the worst of every applicable floor."""
    book = RuleBook.from_settings() if rules is None else rules
    observed = in_observation(facts, on, book)
    applied: list[tuple[ClassificationRule, RiskClass]] = []
    for rule in book.in_force(on):
        forced = _EVALUATORS[rule.code](rule, facts, observed)
        if forced is not None:
            applied.append((rule, forced))
    result = RiskClass.pass_
    for _, forced in applied:
        result = result.worse_of(forced)
    binding = [rule for rule, forced in applied if forced == result]
    return Floor(
        risk_class=result,
        reasons=tuple(rule.code for rule in binding),
        rule_refs=tuple(dict.fromkeys(rule.ref for rule in binding)),
    )


def _dpd(rule: ClassificationRule, facts: FloorFacts, observed: bool) -> RiskClass | None:
    return rule.floor if facts.days_past_due > _int_param(rule.params, "days") else None


def _restructured_performing(
    rule: ClassificationRule, facts: FloorFacts, observed: bool
) -> RiskClass | None:
    before = facts.class_before_restructure
    return rule.floor if observed and (before is None or not before.is_npl) else None


def _restructured_npl(
    rule: ClassificationRule, facts: FloorFacts, observed: bool
) -> RiskClass | None:
    """不良 before the restructuring: not upgraded during observation — from the class it has
    now (a loan that was 次级 and is now 可疑 stays 可疑), never better than before."""
    before = facts.class_before_restructure
    if not (observed and before is not None and before.is_npl):
        return None
    return before.worse_of(facts.current_class) if facts.current_class else before


def _restructured_again(
    rule: ClassificationRule, facts: FloorFacts, observed: bool
) -> RiskClass | None:
    return rule.floor if observed and facts.restructured_again_in_observation else None


def _contagion(rule: ClassificationRule, facts: FloorFacts, observed: bool) -> RiskClass | None:
    threshold = rule.params.get("npl_share")
    if not isinstance(threshold, Decimal):
        raise ValidationError(
            "规则参数须为小数 (rule param must be a Decimal)", code=rule.code, param="npl_share"
        )
    if facts.is_retail or facts.borrower_npl_share <= threshold:
        return None
    return rule.floor


_Evaluator = Callable[[ClassificationRule, FloorFacts, bool], RiskClass | None]
_EVALUATORS: dict[str, _Evaluator] = {
    "dpd_grace_special_mention": _dpd,
    "dpd_90_substandard": _dpd,
    "dpd_270_doubtful": _dpd,
    "dpd_360_loss": _dpd,
    "restructured_observation": _restructured_performing,
    "restructured_npl_no_upgrade": _restructured_npl,
    "restructured_again_doubtful": _restructured_again,
    "contagion_npl_share": _contagion,
}
_DYNAMIC_FLOOR_CODES = frozenset({"restructured_npl_no_upgrade"})


def _int_param(params: Mapping[str, object], key: str) -> int:
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(
            "规则参数须为整数 (rule param must be an integer)", param=key, value=value
        )
    return value


def _add_months(start: date, months: int) -> date:
    """Same day `months` later, clamped to the month end (31 Jan + 1 → 28/29 Feb)."""
    years, month0 = divmod(start.month - 1 + months, 12)
    year, month = start.year + years, month0 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
