"""Step 4 of the sweep: lifecycle moves (overdue, cure, settle) through the machine's own
transition table, written optimistically in bulk and journaled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    func,
    or_,
    select,
    update,
)
from sqlmodel import Session

from core.errors import RuleViolationError, TransitionNotAllowedError
from loans.book import LOAN
from loans.sweeping.arrears import (
    FACTS,
)
from loans.sweeping.results import (
    ACTOR,
    CURE,
    INSTALLMENTS,
    LOANS,
    MACHINE,
    MARK_OVERDUE,
    SETTLE,
    ChunkResult,
    SkippedMove,
    among,
    id_parts,
)
from statemachines.enums import LoanState, RiskClass
from statemachines.loan_lifecycle import LoanFacts, LoanLifecycle

# -- 4. lifecycle moves ---------------------------------------------------------------------------
# Sources come from the machine's own transition table: it stays the one definition of what moves.
OVERDUE_FROM = tuple(sorted(LoanLifecycle.sources_of(MARK_OVERDUE)))
CURE_FROM = tuple(sorted(LoanLifecycle.sources_of(CURE)))
SETTLE_FROM = tuple(sorted(LoanLifecycle.sources_of(SETTLE)))


@dataclass(frozen=True)
class Mover:
    """A loan SQL selected to move, with the facts the machine's guards read."""

    id: int
    loan_no: str
    state: str
    risk_class: str
    days_past_due: int
    version: int
    event: str
    outstanding_cents: int = 0


class _Slot:
    """The machine's model: only a state, re-pointed loan by loan (never the ORM row)."""

    __slots__ = ("state",)

    def __init__(self, state: str) -> None:
        self.state = state


def select_movers(session: Session, d: date, lo: int, hi: int) -> list[Mover]:
    """The loans whose state must move, in one scan of the chunk: arrears in a performing state,
    none in an overdue one, or a schedule paid off by D (which wins over a cure)."""
    loans, first = LOANS, FACTS.c.first_unpaid
    paid_up = and_(FACTS.c.loan_id.is_not(None), first.is_(None))
    query = (
        select(
            loans.c.id,
            loans.c.loan_no,
            loans.c.state,
            loans.c.risk_class,
            loans.c.days_past_due,
            loans.c.version,
            paid_up.label("paid_up"),
        )
        .select_from(loans.outerjoin(FACTS, FACTS.c.loan_id == loans.c.id))
        .where(
            loans.c.id.between(lo, hi),
            loans.c.booked_on <= d,
            or_(
                and_(loans.c.state.in_(OVERDUE_FROM), loans.c.days_past_due > 0),
                and_(loans.c.state.in_(CURE_FROM), loans.c.days_past_due == 0),
                and_(loans.c.state.in_(SETTLE_FROM), paid_up),
            ),
        )
        .order_by(loans.c.id)
    )
    rows = list(session.connection().execute(query))
    outstanding = _outstanding(session, [row.id for row in rows])
    return [
        Mover(
            row.id,
            row.loan_no,
            row.state,
            row.risk_class,
            row.days_past_due,
            row.version,
            _event(row),
            outstanding.get(row.id, 0),
        )
        for row in rows
    ]


def _event(row: Any) -> str:
    if row.paid_up and row.state in SETTLE_FROM:
        return SETTLE  # paid in full wins over a cure
    return MARK_OVERDUE if row.days_past_due > 0 else CURE


def _outstanding(session: Session, loan_ids: list[int]) -> dict[int, int]:
    inst, found = INSTALLMENTS, {}
    due = (inst.c.principal_due_cents - inst.c.principal_paid_cents) + (
        inst.c.interest_due_cents - inst.c.interest_paid_cents
    )
    for part in id_parts(session, loan_ids):
        query = select(inst.c.loan_id, func.sum(due)).where(among(session, inst.c.loan_id, part))
        found.update(
            (loan_id, int(amount or 0))
            for loan_id, amount in session.connection().execute(query.group_by(inst.c.loan_id))
        )
    return found


def decide(movers: list[Mover], result: ChunkResult) -> list[tuple[Mover, str]]:
    """Run the real LoanLifecycle for each mover; refusals are reported, never raised.

    One machine per chunk, re-pointed through its public `current_state_value` (~130 µs a loan
    against ~500 µs constructing one per loan, python-statemachine 3.2.2).
    """
    machine = LoanLifecycle.restore(_Slot(LoanState.normal))
    moves = []
    for mover in movers:
        machine.current_state_value = LoanState(mover.state)  # ValueError on an unknown state
        facts = LoanFacts(
            risk_class=RiskClass(mover.risk_class),
            days_past_due=mover.days_past_due,
            outstanding_cents=mover.outstanding_cents,
        )
        try:
            machine.fire(mover.event, facts=facts)
        except (RuleViolationError, TransitionNotAllowedError) as exc:
            result.refused.append(
                SkippedMove(mover.id, mover.loan_no, mover.event, mover.state, str(exc))
            )
            continue
        moves.append((mover, str(machine.current_state_value)))
        if machine.is_terminated:  # a final state (settled) stops the engine: take a fresh one
            machine = LoanLifecycle.restore(_Slot(LoanState.normal))
    return moves


def _reason(mover: Mover, d: date) -> str:
    if mover.event == MARK_OVERDUE:
        due = d - timedelta(days=mover.days_past_due)
        return f"{due} 应还款未还 (installment due {due} unpaid)"
    if mover.event == CURE:
        return "逾期已清偿 (arrears cleared)"
    return "贷款已结清 (nothing outstanding)"


def write_moves(
    session: Session, moves: list[tuple[Mover, str]], result: ChunkResult
) -> list[dict[str, Any]]:
    """Optimistic bulk write: state and version only where the version is still the one read."""
    if not moves:
        return []
    stmt = (
        update(LOANS)
        .where(LOANS.c.id == bindparam("m_id"), LOANS.c.version == bindparam("m_version"))
        .values(state=bindparam("m_state"), version=LOANS.c.version + 1)
    )
    params = [{"m_id": m.id, "m_version": m.version, "m_state": to} for m, to in moves]
    matched = _execute_checked(session, stmt, params)
    items = []
    for (mover, to), ok in zip(moves, matched, strict=True):
        if not ok:
            result.conflicts.append(
                SkippedMove(
                    mover.id,
                    mover.loan_no,
                    mover.event,
                    mover.state,
                    f"changed concurrently since version {mover.version}; left for the next run",
                )
            )
            continue
        result.moves[mover.event] += 1
        if mover.event == SETTLE:
            result.settled.append(mover.id)
        items.append(
            {
                "aggregate_type": LOAN,
                "aggregate_id": mover.loan_no,
                "machine": MACHINE,
                "event": mover.event,
                "from_state": mover.state,
                "to_state": to,
                "actor": ACTOR,
                "reason": _reason(mover, result.business_date),
                "payload": {
                    "days_past_due": mover.days_past_due,
                    "outstanding_cents": mover.outstanding_cents,
                    "risk_class": mover.risk_class,
                },
            }
        )
    return items


def _execute_checked(session: Session, stmt: Any, params: list[dict[str, Any]]) -> list[bool]:
    """executemany, and which rows matched. Drivers report only the total, so on a short count
    the batch is rolled back to a savepoint and replayed row by row (rare: a concurrent writer)."""
    savepoint = session.begin_nested()
    if session.connection().execute(stmt, params).rowcount == len(params):
        savepoint.commit()
        return [True] * len(params)
    savepoint.rollback()
    conn = session.connection()
    return [conn.execute(stmt, p).rowcount == 1 for p in params]
