"""Days past due and the restructuring observation period, from installments as of a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from loans.aging import days_past_due, outstanding_cents, restructuring_observation


@dataclass
class Inst:
    due_date: date
    paid_off_on: date | None = None
    principal_due_cents: int = 100
    interest_due_cents: int = 10
    principal_paid_cents: int = 0
    interest_paid_cents: int = 0


SCHEDULE = [Inst(date(2025, 1, 15)), Inst(date(2025, 2, 15)), Inst(date(2025, 3, 15))]


@pytest.mark.parametrize(
    ("on", "dpd"),
    [
        (date(2025, 1, 14), 0),
        (date(2025, 1, 15), 0),
        (date(2025, 1, 16), 1),
        (date(2025, 2, 16), 32),
        (date(2025, 4, 15), 90),
    ],
)
def test_days_past_due_oldest_unpaid_counts(on, dpd):
    assert days_past_due(SCHEDULE, on) == dpd


def test_days_past_due_paid_after_date_still_overdue_as_of_then():
    paid_late = [Inst(date(2025, 1, 15), paid_off_on=date(2025, 2, 1))]
    assert days_past_due(paid_late, date(2025, 1, 20)) == 5
    assert days_past_due(paid_late, date(2025, 2, 1)) == 0


def test_outstanding_sums_principal_and_interest():
    assert outstanding_cents([Inst(date(2025, 1, 1), principal_paid_cents=40)]) == 70


def test_observation_restarts_at_missed_payment():
    insts = [
        Inst(date(2025, 5, 15), paid_off_on=date(2025, 5, 15)),
        Inst(date(2025, 6, 15), paid_off_on=date(2025, 6, 20)),  # late: restart here
        Inst(date(2025, 7, 15), paid_off_on=date(2025, 7, 15)),
    ]
    obs = restructuring_observation(insts, date(2025, 5, 1), date(2025, 8, 1))
    assert (obs.start, obs.on_time_periods) == (date(2025, 6, 15), 1)


def test_observation_starts_at_first_repayment_after_change():
    insts = [
        Inst(date(2025, 4, 15), paid_off_on=date(2025, 4, 15)),
        Inst(date(2025, 5, 15), paid_off_on=date(2025, 5, 15)),
    ]
    obs = restructuring_observation(insts, date(2025, 5, 1), date(2025, 6, 1))
    assert (obs.start, obs.on_time_periods) == (date(2025, 5, 15), 1)
