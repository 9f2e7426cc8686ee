"""Restructured assets (重组资产, 分类办法 第十七–二十条): their floor facts from the loan's history of
restructurings, never from what the last one overwrote. Pure functions; the callers load rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from loans.aging import InstallmentLike, restructuring_observation
from loans.regulation import FloorFacts, RuleBook, in_observation
from statemachines.enums import RiskClass


@dataclass(frozen=True)
class Restructuring:
    """One concession granted for financial difficulty: when, and the class the loan had."""

    applied_on: date
    class_before: RiskClass


@dataclass(frozen=True)
class RestructuringFacts:
    restructured_on: date | None = None  # the latest restructuring
    observation_start: date | None = None
    on_time_periods: int = 0
    class_before: RiskClass | None = None  # before the first restructuring of the sequence
    again_in_observation: bool = False  # the latest came while the previous was observed


def restructuring_facts(
    history: Iterable[Restructuring],
    installments: Sequence[InstallmentLike],
    on: date,
    rules: RuleBook,
) -> RestructuringFacts:
    """Walk the restructurings up to `on`: one granted while the previous one is still in its
    observation period continues the sequence (restructured again → at least 可疑, 第二十条 draft);
    otherwise it starts a new one. A missed payment restarts observation (aging)."""
    sequence: list[Restructuring] = []
    for item in sorted((r for r in history if r.applied_on <= on), key=lambda r: r.applied_on):
        if sequence and _observed(sequence[-1], installments, item.applied_on, rules):
            sequence.append(item)
        else:
            sequence = [item]
    if not sequence:
        return RestructuringFacts()
    latest = sequence[-1]
    observation = restructuring_observation(installments, latest.applied_on, on)
    return RestructuringFacts(
        restructured_on=latest.applied_on,
        observation_start=observation.start,
        on_time_periods=observation.on_time_periods,
        class_before=sequence[0].class_before,
        again_in_observation=len(sequence) > 1,
    )


def _observed(
    item: Restructuring, installments: Sequence[InstallmentLike], on: date, rules: RuleBook
) -> bool:
    observation = restructuring_observation(installments, item.applied_on, on)
    facts = FloorFacts(
        restructured_on=item.applied_on,
        observation_start=observation.start,
        on_time_periods_since_start=observation.on_time_periods,
    )
    return in_observation(facts, on, rules)


def floor_facts(
    *,
    days_past_due: int,
    is_retail: bool,
    borrower_npl_share: Decimal,
    current_class: RiskClass,
    restructuring: RestructuringFacts,
) -> FloorFacts:
    """The one way FloorFacts are assembled (the transition service and the sweep both call it)."""
    return FloorFacts(
        days_past_due=days_past_due,
        is_retail=is_retail,
        borrower_npl_share=borrower_npl_share,
        restructured_on=restructuring.restructured_on,
        observation_start=restructuring.observation_start,
        on_time_periods_since_start=restructuring.on_time_periods,
        class_before_restructure=restructuring.class_before,
        restructured_again_in_observation=restructuring.again_in_observation,
        current_class=current_class,
    )
