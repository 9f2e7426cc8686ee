"""The loan transition service: machine + journal + version in one transaction (decision 1)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session, select

from audit.journal import JournalEntry
from core.clock import FixedClock
from core.db import session_scope
from core.errors import ConflictError, RuleViolationError, TransitionNotAllowedError
from loans.book import get_loan, installments_of
from loans.floors import floor_for
from loans.payments import record_payment
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import LoanState, RiskClass
from statemachines.risk_classification import (
    ClassBelowFloorError,
    NplExitEvidenceError,
    UpgradeNotApprovedError,
)
from tests.factories import make_loan

FIRST_DUE = date(2025, 2, 15)  # 12-month equal-installment loan disbursed 2025-01-15


def _entries(session: Session, loan_no: str = "L1") -> list[JournalEntry]:
    session.expire_all()
    return list(
        session.exec(
            select(JournalEntry)
            .where(JournalEntry.aggregate_id == loan_no)
            .order_by(JournalEntry.chain_seq)
        ).all()
    )


def _go(session: Session, clock: FixedClock, event: str, day: date, **kw: object):
    clock.set_date(day)
    result = transition_loan(
        session, "L1", event, actor="system:test", now=clock.now(), business_date=day, **kw
    )  # type: ignore[arg-type]
    session.commit()
    return result


def _pay_all_due(session: Session, clock: FixedClock, until: date) -> None:
    loan = get_loan(session, "L1")
    for inst in installments_of(session, loan.id or 0):
        if inst.due_date <= until and inst.outstanding_cents:
            record_payment(
                session,
                loan,
                payment_ref=f"P{inst.seq_no}",
                value_date=until,
                amount_cents=inst.outstanding_cents,
                actor="system:test",
                now=clock.now(),
                business_date=until,
            )
    session.commit()


def test_open_loan_journals_both_machines_opening_states(session, org, clock):
    make_loan(session, org, clock)
    entries = _entries(session)
    assert [(e.machine, e.event, e.from_state, e.to_state) for e in entries] == [
        ("loan_lifecycle", "open", None, "normal"),
        ("risk_classification", "open", None, "pass"),
    ]
    assert entries[1].prev_hash == entries[0].hash


def test_mark_overdue_past_due_installment_moves_and_journals(session, org, clock):
    make_loan(session, org, clock)
    result = _go(session, clock, "mark_overdue", date(2025, 2, 20), reason="sweep")
    loan = get_loan(session, "L1")
    assert (loan.state, loan.version) == (LoanState.overdue, 2)
    entry = _entries(session)[-1]
    assert (entry.event, entry.from_state, entry.to_state, entry.actor, entry.business_date) == (
        "mark_overdue",
        "normal",
        "overdue",
        "system:test",
        date(2025, 2, 20),
    )
    assert result.entries[0].id == entry.id


def test_mark_overdue_nothing_past_due_refused_nothing_written(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(RuleViolationError, match="no installment is past due"):
        _go(session, clock, "mark_overdue", FIRST_DUE)
    session.rollback()
    assert get_loan(session, "L1").version == 1
    assert len(_entries(session)) == 2


def test_illegal_event_raises_and_changes_nothing(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(TransitionNotAllowedError, match="'cure' is not allowed"):
        _go(session, clock, "cure", date(2025, 2, 1))
    session.rollback()
    assert get_loan(session, "L1").state == LoanState.normal
    assert len(_entries(session)) == 2


def test_stale_expected_version_conflict(session, org, clock):
    make_loan(session, org, clock)
    _go(session, clock, "flag_risk", date(2025, 2, 1))
    with pytest.raises(ConflictError, match="changed since you loaded it"):
        _go(session, clock, "clear_risk", date(2025, 2, 2), expected_version=1)


def test_reclassify_better_than_floor_refused_with_rule(session, org, clock):
    make_loan(session, org, clock)
    _go(session, clock, "mark_overdue", date(2025, 2, 20))
    day = date(2025, 5, 20)  # 94 days past due → floor 次级
    assert floor_for(session, get_loan(session, "L1"), day).risk_class == RiskClass.substandard
    with pytest.raises(ClassBelowFloorError, match="监管底线为次级类.*dpd_90_substandard"):
        reclassify_loan(
            session,
            "L1",
            RiskClass.special_mention,
            actor="u:am_bj1",
            now=clock.now(),
            business_date=day,
            reason="proposal",
        )
    session.rollback()
    assert len(_entries(session)) == 3


def test_reclassify_npl_moves_lifecycle_in_same_transaction(session, org, clock):
    make_loan(session, org, clock)
    _go(session, clock, "mark_overdue", date(2025, 2, 20))
    day = date(2025, 5, 20)
    result = reclassify_loan(
        session,
        "L1",
        RiskClass.substandard,
        actor="system:test",
        now=clock.now(),
        business_date=day,
        reason="floor",
    )
    session.commit()
    assert [(e.machine, e.event) for e in result.entries] == [
        ("risk_classification", "classify_substandard"),
        ("loan_lifecycle", "classify_npl"),
    ]
    loan = get_loan(session, "L1")
    assert (loan.state, loan.risk_class) == (LoanState.non_performing, RiskClass.substandard)
    assert result.entries[0].payload["floor"] == "substandard"


def test_upgrade_without_approval_refused_then_approved_reinstates(session, org, clock):
    make_loan(session, org, clock)
    _go(session, clock, "mark_overdue", date(2025, 2, 20))
    reclassify_loan(
        session,
        "L1",
        RiskClass.substandard,
        actor="system:test",
        now=clock.now(),
        business_date=date(2025, 5, 20),
        reason="floor",
    )
    session.commit()
    _pay_all_due(session, clock, date(2025, 5, 25))
    day = date(2025, 5, 26)
    with pytest.raises(UpgradeNotApprovedError):
        reclassify_loan(
            session,
            "L1",
            RiskClass.special_mention,
            actor="u:am_bj1",
            now=clock.now(),
            business_date=day,
            reason="arrears cleared",
            proposed_by="am_bj1",
        )
    session.rollback()
    with pytest.raises(UpgradeNotApprovedError, match="four eyes"):
        reclassify_loan(
            session,
            "L1",
            RiskClass.special_mention,
            actor="u:am_bj1",
            now=clock.now(),
            business_date=day,
            reason="arrears cleared",
            proposed_by="am_bj1",
            approved_by="am_bj1",
        )
    session.rollback()

    def approved_upgrade(on: date) -> None:
        reclassify_loan(
            session,
            "L1",
            RiskClass.special_mention,
            actor="u:committee1",
            now=clock.now(),
            business_date=on,
            reason="arrears cleared",
            proposed_by="am_bj1",
            approved_by="committee1",
        )

    # the day after the arrears are cleared is too early (DOMAIN §3), approved or not
    with pytest.raises(NplExitEvidenceError, match="0 of 2 repayment periods"):
        approved_upgrade(day)
    session.rollback()
    for due in (date(2025, m, 15) for m in range(6, 12)):  # six months paid on the due dates
        _pay_all_due(session, clock, due)
    with pytest.raises(NplExitEvidenceError, match="end on 2025-11-25"):
        approved_upgrade(date(2025, 11, 24))
    session.rollback()
    approved_upgrade(date(2025, 11, 26))
    session.commit()
    loan = get_loan(session, "L1")
    assert (loan.state, loan.risk_class) == (LoanState.watched, RiskClass.special_mention)


def _to_loss(session: Session, clock: FixedClock) -> None:
    _go(session, clock, "mark_overdue", date(2025, 2, 20))
    reclassify_loan(
        session,
        "L1",
        RiskClass.loss,
        actor="system:test",
        now=clock.now(),
        business_date=date(2026, 2, 20),
        reason="361 days",
    )
    session.commit()


def test_write_off_loss_with_committee_then_only_recoveries(session, org, clock):
    make_loan(session, org, clock)
    _to_loss(session, clock)
    with pytest.raises(RuleViolationError, match="needs an approver"):
        _go(session, clock, "write_off", date(2026, 3, 1))
    session.rollback()
    _go(
        session,
        clock,
        "write_off",
        date(2026, 3, 1),
        approved_by="committee1",
        requested_by="am_bj1",
        reason="核销",
    )
    _go(session, clock, "record_recovery", date(2026, 6, 1), payload={"amount_cents": 1000})
    with pytest.raises(TransitionNotAllowedError):
        _go(session, clock, "settle", date(2026, 6, 2))


def test_settle_nothing_outstanding_settles(session, org, clock):
    make_loan(session, org, clock)
    with pytest.raises(RuleViolationError, match="still outstanding"):
        _go(session, clock, "settle", date(2025, 3, 1))
    session.rollback()
    _pay_all_due(session, clock, date(2026, 1, 15))
    _go(session, clock, "settle", date(2026, 1, 16))
    assert get_loan(session, "L1").state == LoanState.settled


def test_committed_transition_rolls_back_whole_on_error(engine, org, clock):
    with session_scope(engine) as s:
        make_loan(s, org, clock, commit=False)
    with pytest.raises(RuleViolationError), session_scope(engine) as s:
        transition_loan(
            s, "L1", "flag_risk", actor="t", now=clock.now(), business_date=date(2025, 2, 1)
        )
        transition_loan(
            s, "L1", "clear_risk", actor="t", now=clock.now(), business_date=date(2025, 2, 1)
        )  # fine: class is pass
        transition_loan(
            s, "L1", "settle", actor="t", now=clock.now(), business_date=date(2025, 2, 1)
        )  # refused → all rolled back
    with session_scope(engine) as s:
        assert get_loan(s, "L1").version == 1
        assert len(_entries(s)) == 2


def _stale_pair(engine, org, clock, loan_no="L1"):
    with session_scope(engine) as s:
        make_loan(s, org, clock, loan_no, commit=False)


def test_two_sessions_same_loan_second_writer_conflicts(engine, org, clock):
    """Interleaved deterministically: both read version 1; the second commit must not win.
    (Postgres: the version check matches no row; SQLite: the stale snapshot cannot write.)"""
    _stale_pair(engine, org, clock)
    first, second = session_scope(engine), session_scope(engine)
    a, b = first.__enter__(), second.__enter__()
    la, lb = get_loan(a, "L1"), get_loan(b, "L1")
    assert la.version == lb.version == 1
    la.state = LoanState.watched
    first.__exit__(None, None, None)
    lb.state = LoanState.overdue
    with pytest.raises(ConflictError):
        try:
            b.flush()
        except BaseException as exc:
            second.__exit__(type(exc), exc, exc.__traceback__)
            raise
    with session_scope(engine) as s:
        assert get_loan(s, "L1").state == LoanState.watched


def test_floor_contagion_other_npl_claim_over_share_forces_npl(session, org, clock):
    borrower = make_loan(session, org, clock, "L1").borrower_id
    from loans.models import Borrower

    b = session.get(Borrower, borrower)
    make_loan(
        session, org, clock, "L2", borrower=b, principal_cents=50_000_00, disbursed=date(2025, 5, 1)
    )
    _go(session, clock, "mark_overdue", date(2025, 2, 20))
    reclassify_loan(
        session,
        "L1",
        RiskClass.substandard,
        actor="system:test",
        now=clock.now(),
        business_date=date(2025, 5, 20),
        reason="floor",
    )
    session.commit()
    other = get_loan(session, "L2")
    floor = floor_for(session, other, date(2025, 5, 20))  # L1 holds > 10 % of the claims
    assert (floor.risk_class, floor.reasons) == (RiskClass.substandard, ("contagion_npl_share",))
    # and L1 alone is not held 不良 by itself: its own class does not count
    assert (
        "contagion_npl_share"
        not in floor_for(session, get_loan(session, "L1"), date(2025, 5, 20)).reasons
    )
