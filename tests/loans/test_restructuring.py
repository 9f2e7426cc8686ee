"""Restructured assets from the loan's history (分类办法 第十七–二十条): a second restructuring
during observation is "restructured again" (at least 可疑) and does not overwrite the first's
"class before"; a loan 不良 before it is not upgraded from the class it has now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.settings import Settings
from loans.regulation import FloorFacts, RuleBook, classification_floor
from loans.restructuring import Restructuring, restructuring_facts
from statemachines.enums import RiskClass

BOOK = RuleBook.from_settings(Settings(_env_file=None))


@dataclass
class Inst:
    due_date: date
    principal_due_cents: int = 100
    interest_due_cents: int = 0
    principal_paid_cents: int = 100
    interest_paid_cents: int = 0
    paid_off_on: date | None = None


def _monthly(start: date, n: int, paid: bool = True) -> list[Inst]:
    out = []
    for k in range(n):
        y, m = divmod(start.month - 1 + k, 12)
        due = date(start.year + y, m + 1, 15)
        out.append(Inst(due, paid_off_on=due if paid else None))
    return out


def test_second_restructuring_in_observation_is_again_and_keeps_first_class_before():
    insts = _monthly(date(2025, 2, 15), 24)
    history = [
        Restructuring(date(2025, 3, 1), RiskClass.pass_),
        Restructuring(date(2025, 6, 1), RiskClass.special_mention),  # 3 months in: observed
    ]
    facts = restructuring_facts(history, insts, date(2025, 7, 1), BOOK)
    assert (facts.restructured_on, facts.class_before, facts.again_in_observation) == (
        date(2025, 6, 1),
        RiskClass.pass_,
        True,
    )
    floor = classification_floor(
        FloorFacts(
            restructured_on=facts.restructured_on,
            observation_start=facts.observation_start,
            on_time_periods_since_start=facts.on_time_periods,
            class_before_restructure=facts.class_before,
            restructured_again_in_observation=facts.again_in_observation,
        ),
        date(2025, 7, 1),
        BOOK,
    )
    assert floor.risk_class == RiskClass.doubtful and "restructured_again_doubtful" in floor.reasons


def test_restructuring_after_observation_ended_starts_a_new_sequence():
    insts = _monthly(date(2024, 2, 15), 36)
    history = [
        Restructuring(date(2024, 3, 1), RiskClass.substandard),
        Restructuring(date(2025, 9, 1), RiskClass.special_mention),  # 18 months, all paid: ended
    ]
    facts = restructuring_facts(history, insts, date(2025, 10, 1), BOOK)
    assert (facts.class_before, facts.again_in_observation) == (RiskClass.special_mention, False)


def test_npl_before_restructuring_not_upgraded_from_the_class_it_has_now():
    facts = FloorFacts(
        restructured_on=date(2025, 3, 1),
        observation_start=date(2025, 3, 15),
        on_time_periods_since_start=1,
        class_before_restructure=RiskClass.substandard,
        current_class=RiskClass.doubtful,  # worsened since
    )
    floor = classification_floor(facts, date(2025, 5, 1), BOOK)
    assert floor.risk_class == RiskClass.doubtful  # not back to 次级 during observation


def test_missed_payment_restarts_observation():
    insts = _monthly(date(2025, 2, 15), 24)
    insts[3].paid_off_on = None  # 2025-05-15 missed
    facts = restructuring_facts(
        [Restructuring(date(2025, 2, 1), RiskClass.pass_)], insts, date(2026, 3, 1), BOOK
    )
    assert facts.observation_start == date(2025, 5, 15)
