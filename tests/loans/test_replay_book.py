"""As-of replay equals the stored state for every loan of a generated book at every date: 30 loans
with varied repayment behaviour (on time, late and cured, stopped paying, never paid, paid off
early, extended) run through the real daily sweep day by day for four months, the floor
proposals applied as the classification chain would; after each day every loan's stored
(state, class) is kept, and `replay_loan(as_of=day)` must give exactly that for every loan and day."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from sqlmodel import Session, select

import loans.sweep as sweep
from core.identity import Role
from loans.book import get_loan, installments_of
from loans.extensions import grant_extension, request_extension
from loans.payments import record_payment
from loans.queries import replay_loan
from loans.schedule import add_months
from loans.status_history import CLASSIFICATION, LIFECYCLE, on_day
from loans.transitions import reclassify_loan
from statemachines.enums import LoanState
from tests.factories import make_loan

START = date(2025, 1, 10)
END = date(2025, 5, 20)  # four months of sweeps: past 90 days for the loans that never pay
LOANS = 30


def _pay(session: Session, loan_no: str, on: date, clock, *, until: date, everything=False) -> None:
    """Pay what is due up to `until` (or everything), valued `on`."""
    loan = get_loan(session, loan_no)
    if not LoanState(loan.state).is_open:
        return
    amount = sum(
        i.outstanding_cents
        for i in installments_of(session, loan.id or 0)
        if everything or i.due_date <= until
    )
    if amount <= 0:
        return
    record_payment(session, loan, payment_ref=f"{loan_no}-{on}", value_date=on,
                   amount_cents=amount, actor="system:test", now=clock.now(),
                   business_date=on)  # fmt: skip


# Each behaviour: (loan, day) → pay on that day? `lag` days after each due date, `stop` after n.
Behaviour = Callable[[Session, str, date, object], None]


def _late_by(lag: int, stop_after: date | None = None) -> Behaviour:
    def act(session: Session, loan_no: str, day: date, clock: object) -> None:
        if stop_after and day > stop_after:
            return
        due = day - timedelta(days=lag)
        loan = get_loan(session, loan_no)
        if any(i.due_date == due for i in installments_of(session, loan.id or 0)):
            _pay(session, loan_no, day, clock, until=due)

    return act


def _never(session: Session, loan_no: str, day: date, clock: object) -> None:
    return None


def _early_payoff(on: date) -> Behaviour:
    def act(session: Session, loan_no: str, day: date, clock: object) -> None:
        if day == on:
            _pay(session, loan_no, day, clock, until=day, everything=True)
        else:
            _late_by(0)(session, loan_no, day, clock)

    return act


BEHAVIOURS: list[Behaviour] = [
    _late_by(0),  # on time
    _late_by(10),  # late every month, cured each time
    _late_by(0, stop_after=date(2025, 2, 28)),  # stopped paying: overdue → NPL
    _never,  # never paid
    _late_by(40),  # 40 days late, then catches up (special mention, cured)
    _early_payoff(date(2025, 3, 20)),  # paid off early: settled
]


def _extend(session: Session, loan_no: str, day: date, clock) -> None:
    loan = get_loan(session, loan_no)
    request = request_extension(
        session, loan_no, new_maturity_date=add_months(loan.maturity_date, 3),
        requested_by="am_bj1", reason="资金周转", financial_difficulty=False, on=day,
    )  # fmt: skip
    grant_extension(
        session, request.id, approved_by="head_bj", approver_roles=[Role.branch_head],
        actor="u:head_bj", now=clock.now(), business_date=day,
    )  # fmt: skip


def test_replay_as_of_equals_stored_state_for_every_loan_every_day(engine, session, org, clock):
    rng = random.Random(20251)
    plan: dict[str, tuple[Behaviour, date]] = {}
    for n in range(LOANS):
        disbursed = START + timedelta(days=rng.randrange(0, 40))
        loan_no = f"G{n:03d}"
        clock.set_date(disbursed, hour=9)
        make_loan(session, org, clock, loan_no, disbursed=disbursed, months=rng.choice([6, 12]))
        plan[loan_no] = (BEHAVIOURS[n % len(BEHAVIOURS)], disbursed)
    extended = {f"G{n:03d}" for n in range(0, LOANS, 12)}  # on-time payers, extended mid-way
    snapshots: dict[date, dict[str, tuple[str, str]]] = {}
    day = START
    while day <= END:
        clock.set_date(day, hour=12)
        for loan_no, (behaviour, disbursed) in plan.items():
            if disbursed < day:
                behaviour(session, loan_no, day, clock)
        if day == date(2025, 3, 10):
            for loan_no in sorted(extended):
                _extend(session, loan_no, day, clock)
        session.commit()
        clock.set_date(day, hour=20)
        result = sweep.sweep_date(
            lambda: Session(engine, expire_on_commit=False), day, now=clock.now()
        )
        for proposal in result.proposals:  # the chain's outcome: the floor, approved
            reclassify_loan(session, proposal.loan_no, proposal.floor_class, actor="u:head_bj",
                            now=clock.now(), business_date=day, reason="floor",
                            proposed_by="am_bj1", approved_by="head_bj")  # fmt: skip
        session.commit()
        session.expire_all()
        snapshots[day] = {
            no: (str(loan.state), str(loan.risk_class))
            for no in plan
            if (loan := get_loan(session, no)).disbursement_date <= day
        }
        day += timedelta(days=1)

    seen_states = {s for snap in snapshots.values() for s, _ in snap.values()}
    seen_classes = {c for snap in snapshots.values() for _, c in snap.values()}
    # the book is varied enough to mean something: every kind of history happened
    assert {"normal", "overdue", "extended", "settled", "non_performing"} <= seen_states
    assert {"pass", "special_mention", "substandard"} <= seen_classes
    paths = {no: [snap[no][0] for snap in snapshots.values() if no in snap] for no in plan}
    cured = [no for no, p in paths.items() if any(a == "overdue" and b in ("normal", "watched")
                                                   for a, b in zip(p, p[1:], strict=False))]  # fmt: skip
    assert cured  # late, then cured

    mismatches = []
    for day, snap in snapshots.items():
        for loan_no, stored in snap.items():
            replayed = replay_loan(session, loan_no, as_of=day, today=END)
            got = (
                replayed.result.states.get("loan_lifecycle"),
                replayed.result.states.get("risk_classification"),
            )
            if got != stored or replayed.result.problems:
                mismatches.append((loan_no, day, stored, got, replayed.result.problems))
    assert mismatches == []
    # the book-wide projection the reports read gives the same state and class on every day
    assert {day: _projected(session, day) for day in snapshots} == snapshots
    # and today's replay agrees with the stored columns for every loan
    assert all(replay_loan(session, no).matches_stored for no in plan)


def _projected(session: Session, day: date) -> dict[str, tuple[str, str]]:
    from loans.models import Loan

    state, risk = on_day(LIFECYCLE, day), on_day(CLASSIFICATION, day)
    rows = session.exec(
        select(Loan.loan_no, state.c.state, risk.c.state)
        .join(state, state.c.loan_id == Loan.id)
        .join(risk, risk.c.loan_id == Loan.id)
    ).all()
    return {no: (s, c) for no, s, c in rows}
