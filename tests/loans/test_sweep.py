"""The daily sweep: payments, days past due, buckets with history, lifecycle moves through the real
machine, floor proposals; idempotent per date, safe to resume after a crash (both backends)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, literal, text
from sqlmodel import Session, col, select

import loans.sweep as sweep
from audit.journal import DailyAnchor, JournalEntry
from audit.verify import verify_journal
from core.clock import FixedClock
from core.identity import Role
from core.settings import get_settings
from loans import aging
from loans.book import get_loan, installments_of
from loans.extensions import grant_extension, request_extension
from loans.floors import floor_for
from loans.models import BorrowerKind, Loan, LoanBucketHistory, Payment
from loans.payments import record_payment
from loans.transitions import reclassify_loan, transition_loan
from statemachines.enums import LoanState, RiskClass
from tests.factories import make_borrower, make_loan

FIRST_DUE = date(2025, 2, 15)  # 12-month equal-installment loan disbursed 2025-01-15


def _sweep(
    engine, clock: FixedClock, day: date, chunk_size: int = 10_000, workers: int = 1
) -> sweep.SweepResult:
    clock.set_date(day, hour=20)
    return sweep.sweep_date(
        lambda: Session(engine, expire_on_commit=False),
        day,
        now=clock.now(),
        chunk_size=chunk_size,
        workers=workers,
    )


def _fresh(session: Session) -> None:
    """End the test session's read transaction (a SQLite WAL snapshot) and forget loaded rows."""
    session.commit()
    session.expire_all()


def _loan(session: Session, loan_no: str = "L1"):
    _fresh(session)
    return get_loan(session, loan_no)


def _pay_due(session: Session, clock: FixedClock, loan_no: str, until: date, on: date) -> None:
    """Pay every installment due on or before `until`, valued `on`."""
    loan = get_loan(session, loan_no)
    clock.set_date(on)
    amount = sum(
        i.outstanding_cents for i in installments_of(session, loan.id) if i.due_date <= until
    )
    record_payment(
        session,
        loan,
        payment_ref=f"{loan_no}-{on}",
        value_date=on,
        amount_cents=amount,
        actor="system:test",
        now=clock.now(),
        business_date=on,
    )
    session.commit()


def _sweep_entries(session: Session, loan_no: str = "L1") -> list[JournalEntry]:
    _fresh(session)
    query = select(JournalEntry).where(
        JournalEntry.aggregate_id == loan_no, JournalEntry.actor == sweep.ACTOR
    )
    return list(session.exec(query.order_by(JournalEntry.chain_seq)).all())


def _history(session: Session, loan_id: int) -> list[tuple[str, date, date | None]]:
    _fresh(session)
    rows = session.exec(
        select(LoanBucketHistory)
        .where(LoanBucketHistory.loan_id == loan_id)
        .order_by(LoanBucketHistory.entered_on, LoanBucketHistory.id)
    ).all()
    return [(r.bucket, r.entered_on, r.left_on) for r in rows]


def _same_as_floor_for(session: Session, result: sweep.SweepResult) -> None:
    """The sweep proposes exactly what loans.transitions.floor_for says, loan by loan."""
    _fresh(session)
    expected = []
    for loan in session.exec(select(Loan).where(col(Loan.state).in_(sweep.OPEN))).all():
        floor = floor_for(session, loan, result.business_date)
        if floor.risk_class.rank > RiskClass(loan.risk_class).rank:
            expected.append((loan.loan_no, floor.risk_class, floor.reasons, floor.rule_refs))
    got = [(p.loan_no, p.floor_class, p.reasons, p.rule_refs) for p in result.proposals]
    assert sorted(got) == sorted(expected)


def _journal_ok(engine) -> None:
    with Session(engine) as s:
        report = verify_journal(s)
    assert report.ok, report.first_break and report.first_break.describe()


def test_sweep_installment_unpaid_marks_overdue_with_journal_entry(engine, session, org, clock):
    make_loan(session, org, clock)
    result = _sweep(engine, clock, date(2025, 2, 20))
    loan = _loan(session)
    assert (loan.state, loan.version, loan.days_past_due, loan.bucket) == (
        LoanState.overdue, 2, 5, "M1",
    )  # fmt: skip
    assert result.moves == {"mark_overdue": 1}
    assert (result.loans, result.dpd_updated, result.journal_entries, result.anchored) == (
        1,
        1,
        1,
        True,
    )
    [entry] = _sweep_entries(session)
    assert (entry.machine, entry.event, entry.from_state, entry.to_state) == (
        "loan_lifecycle", "mark_overdue", "normal", "overdue",
    )  # fmt: skip
    assert (entry.actor, entry.business_date, entry.reason) == (
        "system:daily-sweep", date(2025, 2, 20), "2025-02-15 应还款未还 (installment due 2025-02-15 unpaid)",
    )  # fmt: skip
    assert entry.payload["days_past_due"] == 5
    assert (
        session.exec(
            select(DailyAnchor).where(DailyAnchor.business_date == date(2025, 2, 20))
        ).first()
        is not None
    )
    _journal_ok(engine)


def test_sweep_arrears_paid_cures_back_to_normal(engine, session, org, clock):
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    _pay_due(session, clock, "L1", FIRST_DUE, date(2025, 2, 25))
    result = _sweep(engine, clock, date(2025, 2, 25))
    loan = _loan(session)
    assert (loan.state, loan.days_past_due, loan.bucket) == (LoanState.normal, 0, None)
    assert result.moves == {"cure": 1}
    entry = _sweep_entries(session)[-1]
    assert (entry.event, entry.from_state, entry.to_state, entry.reason) == (
        "cure", "overdue", "normal", "逾期已清偿 (arrears cleared)",
    )  # fmt: skip
    _journal_ok(engine)


def test_sweep_arrears_paid_class_special_mention_cures_to_watched(engine, session, org, clock):
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    reclassify_loan(
        session,
        "L1",
        RiskClass.special_mention,
        actor="u:am_bj1",
        now=clock.now(),
        business_date=date(2025, 2, 21),
        reason="arrears",
        proposed_by="am_bj1",
    )
    session.commit()
    _pay_due(session, clock, "L1", FIRST_DUE, date(2025, 2, 25))
    result = _sweep(engine, clock, date(2025, 2, 25))
    assert _loan(session).state == LoanState.watched
    assert result.moves == {"cure": 1}
    assert _sweep_entries(session)[-1].to_state == "watched"


def test_sweep_everything_paid_settles(engine, session, org, clock):
    make_loan(session, org, clock)
    _pay_due(session, clock, "L1", date(2026, 12, 31), date(2025, 3, 1))
    result = _sweep(engine, clock, date(2025, 3, 2))
    assert _loan(session).state == LoanState.settled
    assert result.moves == {"settle": 1}
    entry = _sweep_entries(session)[-1]
    assert (entry.event, entry.from_state, entry.reason) == (
        "settle",
        "normal",
        "贷款已结清 (nothing outstanding)",
    )
    assert sweep.chunk_bounds(session) == []  # a settled loan is no longer swept
    _journal_ok(engine)


def test_sweep_overdue_loan_fully_paid_settles_not_cures(engine, session, org, clock):
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    _pay_due(session, clock, "L1", date(2026, 12, 31), date(2025, 2, 24))
    result = _sweep(engine, clock, date(2025, 2, 24))
    assert result.moves == {"settle": 1}
    assert _sweep_entries(session)[-1].from_state == "overdue"


def test_sweep_after_extension_days_past_due_not_reset(engine, session, org, clock):
    """The installment missed before the extension keeps aging after it (分类办法)."""
    make_loan(session, org, clock)
    on = date(2025, 2, 16)  # the 2025-02-15 installment is unpaid; no sweep has run yet
    request = request_extension(
        session, "L1", new_maturity_date=date(2026, 7, 15), requested_by="am_bj1",
        reason="资金周转", financial_difficulty=False, on=on,
    )  # fmt: skip
    grant_extension(
        session, request.id, approved_by="head_bj", approver_roles=[Role.branch_head],
        actor="u:head_bj", now=clock.now(), business_date=on,
    )  # fmt: skip
    session.commit()
    assert _loan(session).state == LoanState.extended
    result = _sweep(engine, clock, date(2025, 2, 20))
    loan = _loan(session)
    assert (loan.state, loan.days_past_due) == (LoanState.overdue, 5)
    assert result.moves == {"mark_overdue": 1}
    entry = _sweep_entries(session)[-1]
    assert (entry.from_state, entry.reason) == (
        "extended",
        "2025-02-15 应还款未还 (installment due 2025-02-15 unpaid)",
    )
    _sweep(engine, clock, date(2025, 6, 1))
    assert _loan(session).days_past_due == 106


def test_sweep_three_dates_bucket_history_enters_moves_and_closes(engine, session, org, clock):
    loan = make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    assert _history(session, loan.id) == [("M1", date(2025, 2, 20), None)]
    result = _sweep(engine, clock, date(2025, 3, 20))  # 33 days past due
    assert (_loan(session).bucket, result.bucket_changes) == ("M2", 1)
    assert (result.bucket_rows_closed, result.bucket_rows_opened) == (1, 1)
    assert _history(session, loan.id) == [
        ("M1", date(2025, 2, 20), date(2025, 3, 20)),
        ("M2", date(2025, 3, 20), None),
    ]
    _pay_due(session, clock, "L1", date(2025, 3, 15), date(2025, 3, 25))
    result = _sweep(engine, clock, date(2025, 3, 25))
    assert (_loan(session).bucket, _loan(session).state) == (None, LoanState.normal)
    assert (result.bucket_rows_closed, result.bucket_rows_opened) == (1, 0)
    assert _history(session, loan.id) == [
        ("M1", date(2025, 2, 20), date(2025, 3, 20)),
        ("M2", date(2025, 3, 20), date(2025, 3, 25)),
    ]


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(-3, None), (0, None), (1, "M1"), (30, "M1"), (31, "M2"), (90, "M3"), (91, "M4"),
     (150, "M5"), (180, "M6"), (181, "M6+"), (999, "M6+")],
)  # fmt: skip
def test_bucket_case_any_dpd_matches_bucket_for(session, dpd, bucket):
    sql = session.exec(
        select(sweep.bucket_case(literal(dpd), get_settings().overdue_bucket_bounds))
    ).one()
    assert sql == aging.bucket_for(dpd) == bucket


def test_sweep_past_grace_and_past_90_days_proposes_floors_with_rules(engine, session, org, clock):
    make_loan(session, org, clock)
    assert _sweep(engine, clock, date(2025, 2, 22)).proposals == []  # 7 days: within the grace
    [proposal] = _sweep(engine, clock, date(2025, 2, 23)).proposals  # 8 days past due
    assert (proposal.loan_no, proposal.current_class, proposal.floor_class) == (
        "L1", RiskClass.pass_, RiskClass.special_mention,
    )  # fmt: skip
    assert (proposal.reasons, proposal.days_past_due) == (("dpd_grace_special_mention",), 8)
    assert "第九条" in proposal.rule_refs[0]
    [proposal] = _sweep(engine, clock, date(2025, 5, 17)).proposals  # 91 days past due
    assert (proposal.floor_class, proposal.reasons) == (
        RiskClass.substandard,
        ("dpd_90_substandard",),
    )
    assert "商业银行金融资产风险分类办法 第十条" in proposal.rule_refs[0]
    _same_as_floor_for(session, _sweep(engine, clock, date(2025, 12, 1)))  # 289 days: 可疑
    assert _loan(session).risk_class == RiskClass.pass_  # a proposal, never a silent change


def test_sweep_restructured_loan_proposes_floor_through_floor_for(engine, session, org, clock):
    make_loan(session, org, clock)
    on = date(2025, 2, 10)
    request = request_extension(
        session, "L1", new_maturity_date=date(2026, 7, 15), requested_by="am_bj1",
        reason="经营困难", financial_difficulty=True, on=on,
    )  # fmt: skip
    grant_extension(
        session, request.id, approved_by="head_bj", approver_roles=[Role.branch_head],
        actor="u:head_bj", now=clock.now(), business_date=on,
    )  # fmt: skip
    session.commit()
    result = _sweep(engine, clock, date(2025, 2, 12))
    [proposal] = result.proposals
    assert (proposal.floor_class, proposal.reasons) == (
        RiskClass.special_mention, ("restructured_observation",),
    )  # fmt: skip
    _same_as_floor_for(session, result)
    _same_as_floor_for(session, _sweep(engine, clock, date(2025, 6, 1)))  # missed: 106 days


def test_sweep_other_npl_loan_of_corporate_borrower_proposes_contagion(engine, session, org, clock):
    borrower = make_borrower(session, org, "CORP")
    make_loan(session, org, clock, "L1", borrower=borrower)
    make_loan(session, org, clock, "L2", borrower=borrower)
    session.execute(text("UPDATE loans SET risk_class = 'substandard' WHERE loan_no = 'L2'"))
    session.commit()
    result = _sweep(engine, clock, date(2025, 2, 10))  # nothing due yet: no days past due
    assert [(p.loan_no, p.floor_class, p.reasons) for p in result.proposals] == [
        ("L1", RiskClass.substandard, ("contagion_npl_share",)),
    ]
    _same_as_floor_for(session, result)
    _same_as_floor_for(session, _sweep(engine, clock, date(2025, 5, 20)))  # and 94 days past due


def test_sweep_npl_class_overdue_loan_paid_not_cured_reported(engine, session, org, clock):
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    session.execute(text("UPDATE loans SET risk_class = 'substandard' WHERE loan_no = 'L1'"))
    session.commit()
    _pay_due(session, clock, "L1", FIRST_DUE, date(2025, 2, 25))
    result = _sweep(engine, clock, date(2025, 2, 25))
    loan = _loan(session)
    assert (loan.state, loan.days_past_due, loan.version) == (LoanState.overdue, 0, 2)
    [refused] = result.refused
    assert (refused.loan_no, refused.event, refused.state) == ("L1", "cure", "overdue")
    assert "不良" in refused.reason
    assert result.moves == {}
    assert [e.event for e in _sweep_entries(session)] == ["mark_overdue"]


def test_sweep_unallocated_payment_applied_journaled_and_cured(engine, session, org, clock):
    loan = make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    amount = installments_of(session, loan.id)[0].outstanding_cents
    session.add(Payment(payment_ref="FEED-1", loan_id=loan.id, value_date=date(2025, 2, 24),
                        amount_cents=amount))  # fmt: skip
    session.add(Payment(payment_ref="FEED-2", loan_id=loan.id, value_date=date(2025, 3, 1),
                        amount_cents=100))  # fmt: skip
    session.commit()
    result = _sweep(engine, clock, date(2025, 2, 25))
    assert (result.payments_applied, result.moves) == (1, {"cure": 1})
    _fresh(session)
    allocated = dict(session.exec(select(Payment.payment_ref, Payment.allocated)).all())
    assert allocated == {"FEED-1": True, "FEED-2": False}  # valued after the business date
    assert [(e.machine, e.event) for e in _sweep_entries(session)[-2:]] == [
        ("loan_book", "allocate_payment"), ("loan_lifecycle", "cure"),
    ]  # fmt: skip
    _journal_ok(engine)


def _book(session: Session, org, clock: FixedClock, prefix: str) -> None:
    """Five loans that each do something different on 2025-03-20."""
    for k in range(1, 5):
        make_loan(session, org, clock, f"{prefix}{k}")
    make_loan(session, org, clock, f"{prefix}5", disbursed=date(2025, 3, 1))  # nothing due yet
    _pay_due(session, clock, f"{prefix}2", date(2025, 3, 15), date(2025, 2, 15))  # stays normal
    _pay_due(session, clock, f"{prefix}3", date(2026, 12, 31), date(2025, 3, 1))  # settles
    clock.set_date(date(2025, 2, 20))
    transition_loan(session, f"{prefix}4", "mark_overdue", actor="u:am_bj1", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    session.commit()
    _pay_due(session, clock, f"{prefix}4", date(2025, 3, 15), date(2025, 3, 18))  # cures


def _snapshot(session: Session, prefix: str) -> dict[str, object]:
    _fresh(session)
    out: dict[str, object] = {}
    for k in range(1, 6):
        loan = get_loan(session, f"{prefix}{k}")
        out[f"{k}"] = (
            loan.state, loan.version, loan.days_past_due, loan.bucket, loan.risk_class,
            _history(session, loan.id),
            [(e.chain_seq, e.event, e.from_state, e.to_state, e.reason, e.payload, e.wall_time)
             for e in _sweep_entries(session, loan.loan_no)],
            session.exec(select(func.count()).where(JournalEntry.aggregate_id == loan.loan_no)).one(),
        )  # fmt: skip
    return out


def test_sweep_same_date_twice_creates_nothing_new(engine, session, org, clock):
    _book(session, org, clock, "A")
    day = date(2025, 3, 20)
    first = _sweep(engine, clock, day, chunk_size=2)
    assert first.moves == {"mark_overdue": 1, "settle": 1, "cure": 1}
    before = _snapshot(session, "A")
    entries = session.exec(select(func.count()).select_from(JournalEntry)).one()
    rows = session.exec(select(func.count()).select_from(LoanBucketHistory)).one()
    again = _sweep(engine, clock, day, chunk_size=2)
    assert (again.moves, again.dpd_updated, again.bucket_changes, again.journal_entries) == (
        {}, 0, 0, 0,
    )  # fmt: skip
    assert (again.bucket_rows_opened, again.bucket_rows_closed, again.anchored) == (0, 0, False)
    assert _snapshot(session, "A") == before
    assert session.exec(select(func.count()).select_from(JournalEntry)).one() == entries
    assert session.exec(select(func.count()).select_from(LoanBucketHistory)).one() == rows


def test_sweep_crash_after_first_chunk_then_full_run_same_as_clean_run(
    engine, session, org, clock, monkeypatch
):
    day = date(2025, 3, 20)
    _book(session, org, clock, "A")
    clock.set_date(day, hour=20)
    bounds = sweep.chunk_bounds(session, size=2)
    assert len(bounds) == 3
    with Session(engine) as s:  # chunk 1 commits, then the process dies in chunk 2
        sweep.sweep_chunk(s, business_date=day, loan_id_from=bounds[0][0],
                          loan_id_to=bounds[0][1], now=clock.now())  # fmt: skip
        s.commit()

    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    with monkeypatch.context() as patch, Session(engine) as s:
        patch.setattr(sweep, "floor_proposals", crash)  # after the moves were written
        with pytest.raises(RuntimeError):
            sweep.sweep_chunk(s, business_date=day, loan_id_from=bounds[1][0],
                              loan_id_to=bounds[1][1], now=clock.now())  # fmt: skip
        s.rollback()
    resumed = _sweep(engine, clock, day, chunk_size=2)
    assert resumed.moves == {"settle": 1, "cure": 1}  # chunk 1's mark_overdue is not redone
    crashed = _snapshot(session, "A")
    _book(session, org, clock, "B")  # the same book again, swept in one clean run
    _sweep(engine, clock, day)
    assert _snapshot(session, "B") == crashed
    assert _snapshot(session, "A") == crashed  # swept a third time: still nothing new
    _journal_ok(engine)


def test_sweep_version_bumped_between_select_and_update_skips_and_reports(
    engine, session, org, clock, monkeypatch
):
    make_loan(session, org, clock, "L1")
    make_loan(session, org, clock, "L2")
    real = sweep.select_movers

    def select_then_bump(s, *args):
        movers = real(s, *args)  # a user's transition on L2 commits right after the select
        s.connection().execute(text("UPDATE loans SET version = version + 1 WHERE loan_no = 'L2'"))
        return movers

    monkeypatch.setattr(sweep, "select_movers", select_then_bump)
    result = _sweep(engine, clock, date(2025, 2, 20))
    assert result.moves == {"mark_overdue": 1}
    [conflict] = result.conflicts
    assert (conflict.loan_no, conflict.event) == ("L2", "mark_overdue")
    assert (_loan(session, "L1").state, _loan(session, "L2").state) == (
        LoanState.overdue, LoanState.normal,
    )  # fmt: skip
    assert [e.event for e in _sweep_entries(session, "L2")] == []
    monkeypatch.setattr(sweep, "select_movers", real)
    assert _sweep(engine, clock, date(2025, 2, 20)).moves == {"mark_overdue": 1}  # picked up
    assert _loan(session, "L2").state == LoanState.overdue
    _journal_ok(engine)


def test_chunk_bounds_size_two_five_loans_covers_all(session, org, clock):
    loans = [make_loan(session, org, clock, f"L{k}") for k in range(1, 6)]
    ids = [loan.id for loan in loans]
    assert sweep.chunk_bounds(session, size=2) == [
        (ids[0], ids[1]), (ids[2], ids[3]), (ids[4], ids[4]),
    ]  # fmt: skip
    session.execute(text(f"UPDATE loans SET state = 'settled' WHERE id IN ({ids[0]}, {ids[2]})"))
    bounds = sweep.chunk_bounds(session, size=2)
    assert bounds == [(ids[1], ids[3]), (ids[4], ids[4])]
    open_ids = session.exec(select(Loan.id).where(col(Loan.state).in_(sweep.OPEN))).all()
    assert all(any(lo <= i <= hi for lo, hi in bounds) for i in open_ids)


def test_sweep_two_workers_same_end_state_as_one(engine, session, org, clock):
    day = date(2025, 3, 20)
    _book(session, org, clock, "A")
    parallel = _sweep(engine, clock, day, chunk_size=2, workers=2)  # one by one on SQLite
    assert parallel.chunks == 3
    assert [p.loan_id for p in parallel.proposals] == sorted(p.loan_id for p in parallel.proposals)
    _book(session, org, clock, "B")
    _sweep(engine, clock, day)
    assert _snapshot(session, "A") == _snapshot(session, "B")
    _journal_ok(engine)


def test_sweep_payment_valued_after_date_counts_from_its_value_date(engine, session, org, clock):
    """Re-running an earlier date (a late re-run after a crash) sees arrears as of that date."""
    make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    _pay_due(session, clock, "L1", FIRST_DUE, date(2025, 2, 25))  # recorded and allocated
    result = _sweep(engine, clock, date(2025, 2, 22))
    loan = _loan(session)
    assert (result.moves, loan.state, loan.days_past_due) == ({}, LoanState.overdue, 7)
    assert _sweep(engine, clock, date(2025, 2, 25)).moves == {"cure": 1}


def test_sweep_loan_settled_by_user_closes_its_bucket_row(engine, session, org, clock):
    loan = make_loan(session, org, clock)
    _sweep(engine, clock, date(2025, 2, 20))
    _pay_due(session, clock, "L1", date(2026, 12, 31), date(2025, 2, 21))
    _fresh(session)  # the sweep bumped the version this session loaded
    transition_loan(session, "L1", "settle", actor="u:am_bj1", now=clock.now(),
                    business_date=date(2025, 2, 21))  # fmt: skip
    session.commit()
    result = _sweep(engine, clock, date(2025, 2, 21))
    assert (result.moves, result.bucket_rows_closed) == ({}, 1)
    assert (_loan(session).bucket, _loan(session).days_past_due) == (None, 0)
    assert _history(session, loan.id) == [("M1", date(2025, 2, 20), date(2025, 2, 21))]


def test_npl_borrowers_non_retail_with_npl_loan_only(session, org, clock):
    corporate = make_borrower(session, org, "CORP")
    person = make_borrower(session, org, "P1", kind=BorrowerKind.individual)
    healthy = make_borrower(session, org, "CORP2")
    for k, borrower in enumerate((corporate, corporate, person, healthy)):
        make_loan(session, org, clock, f"L{k}", borrower=borrower)
    session.execute(text("UPDATE loans SET risk_class = 'doubtful' WHERE loan_no IN ('L0', 'L2')"))
    assert sweep.npl_borrowers(session) == {corporate.id}


def test_sweep_chunk_without_contagion_set_proposes_the_same(engine, session, org, clock):
    borrower = make_borrower(session, org, "CORP")
    make_loan(session, org, clock, "L1", borrower=borrower)
    make_loan(session, org, clock, "L2", borrower=borrower)
    make_loan(session, org, clock, "L3")
    session.execute(text("UPDATE loans SET risk_class = 'substandard' WHERE loan_no = 'L2'"))
    session.commit()
    day = date(2025, 2, 25)
    [(lo, hi)] = sweep.chunk_bounds(session)
    with Session(engine) as s:
        alone = sweep.sweep_chunk(s, business_date=day, loan_id_from=lo, loan_id_to=hi,
                                  now=clock.now())  # fmt: skip
        s.rollback()
    assert [(p.loan_no, p.floor_class, p.reasons) for p in alone.proposals] == [
        ("L1", RiskClass.substandard, ("contagion_npl_share",)),
        ("L3", RiskClass.special_mention, ("dpd_grace_special_mention",)),
    ]
    result = _sweep(engine, clock, day)
    assert result.proposals == alone.proposals
    _same_as_floor_for(session, result)


def test_sweep_payment_on_written_off_loan_is_a_recorded_recovery(engine, session, org, clock):
    loan = make_loan(session, org, clock)
    session.execute(
        text("UPDATE loans SET state = 'written_off', risk_class = 'loss' WHERE loan_no = 'L1'")
    )
    session.add(
        Payment(payment_ref="FEED-1", loan_id=loan.id, value_date=date(2025, 6, 1),
                amount_cents=5_000_00, allocated=False)
    )  # fmt: skip
    session.commit()
    _sweep(engine, clock, date(2025, 6, 2))
    _fresh(session)
    events = [e.event for e in _sweep_entries(session)]
    assert events[-2:] == ["allocate_payment", "record_recovery"]
