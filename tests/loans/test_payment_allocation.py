"""Allocation under concurrency and late data: N payments at once allocate exactly their sum (one
allocator per loan at a time), and allocation follows value dates, not arrival (a backdated
payment re-derives each installment's paid-off date, journaled)."""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, col, func, select

import loans.sweep as sweep
from audit.journal import chain
from core.db import session_scope
from core.errors import ConflictError
from loans import aging
from loans.book import get_loan, installments_of
from loans.importer import ImportKind, import_rows
from loans.models import Installment, Payment
from loans.payments import record_payment
from tests.factories import make_loan

DAY = date(2025, 3, 20)
NOW = datetime(2025, 3, 20, 9, tzinfo=UTC)


def _paid(session: Session) -> int:
    total = session.exec(
        select(func.sum(Installment.interest_paid_cents + Installment.principal_paid_cents))
    ).one()
    return int(total or 0)


def _applied(session: Session) -> tuple[int, int]:
    """(what payments say they applied, what they hold unapplied) over every payment."""
    rows = session.exec(select(Payment)).all()
    applied = sum(p.interest_applied_cents + p.principal_applied_cents for p in rows)
    return applied, sum(p.unapplied_cents for p in rows)


def _run_at_once(n: int, work) -> list[BaseException | None]:
    barrier = threading.Barrier(n)
    outcomes: list[BaseException | None] = [None] * n

    def worker(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # collected and asserted by the caller
            outcomes[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def _file(k: int, rows: int) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["payment_ref", "loan_no", "value_date", "amount"])
    for j in range(rows):
        writer.writerow([f"F{k}-{j:03}", "L1", DAY.isoformat(), "10.00"])
    return out.getvalue()


def _assert_sum_allocated(engine, outcomes, expected_each: int, backend: str) -> None:
    committed = sum(o is None for o in outcomes)
    if backend == "postgres":  # the second allocator waits for the first: nobody fails
        assert committed == len(outcomes), outcomes
    else:  # one writer at a time: a loser fails cleanly, nothing of it is kept
        assert committed >= 1 and all(isinstance(o, ConflictError) for o in outcomes if o), outcomes
    with session_scope(engine) as s:
        stored = s.exec(select(func.sum(Payment.amount_cents))).one()
        assert stored == committed * expected_each
        assert _paid(s) == committed * expected_each
        assert _applied(s) == (committed * expected_each, 0)


def test_concurrent_payment_imports_allocate_exactly_their_sum(engine, org, clock, backend):
    """Four files of 50 × ¥10 for one loan imported at once (the issue's reproduction)."""
    with session_scope(engine) as s:
        make_loan(s, org, clock, commit=False)

    def work(k: int) -> None:
        with session_scope(engine) as s:
            import_rows(
                s,
                ImportKind.payments,
                io.StringIO(_file(k, 50)),
                source=f"f{k}.csv",
                actor="u:importer",
                now=NOW,
                business_date=DAY,
            )

    outcomes = _run_at_once(4, work)
    _assert_sum_allocated(engine, outcomes, 50 * 10_00, backend)


def test_concurrent_single_payments_allocate_exactly_their_sum(engine, org, clock, backend):
    with session_scope(engine) as s:
        make_loan(s, org, clock, commit=False)

    def work(k: int) -> None:
        with session_scope(engine) as s:
            record_payment(
                s,
                get_loan(s, "L1"),
                payment_ref=f"P{k}",
                value_date=DAY,
                amount_cents=1_000_00,
                actor="u:teller",
                now=NOW,
                business_date=DAY,
            )

    outcomes = _run_at_once(2, work)
    _assert_sum_allocated(engine, outcomes, 1_000_00, backend)


@pytest.mark.postgres_only
def test_payment_while_the_sweep_allocates_that_loan_loses_nothing(engine, org, clock, monkeypatch):
    """The sweep allocates a feed payment of L1 and holds the chunk a while; a teller's payment of
    L1 at that moment waits for it, then allocates on top of it."""
    with session_scope(engine) as s:
        loan = make_loan(s, org, clock, commit=False)
        s.add(Payment(payment_ref="FEED-1", loan_id=loan.id, value_date=DAY, amount_cents=3_000_00))
    real = sweep.load_facts

    def slow_facts(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep, "load_facts", slow_facts)

    def work(k: int) -> None:
        with session_scope(engine) as s:
            if k == 0:
                sweep.sweep_chunk(s, business_date=DAY, loan_id_from=1, loan_id_to=10**9, now=NOW)
            else:
                time.sleep(0.2)  # once the sweep holds the loan
                record_payment(
                    s,
                    get_loan(s, "L1"),
                    payment_ref="TELLER-1",
                    value_date=DAY,
                    amount_cents=2_000_00,
                    actor="u:teller",
                    now=NOW,
                    business_date=DAY,
                )

    assert _run_at_once(2, work) == [None, None]
    with session_scope(engine) as s:
        assert _paid(s) == 5_000_00
        assert _applied(s) == (5_000_00, 0)


# --- value dates ---------------------------------------------------------------------------------


def _pay(session, loan, clock, ref, amount, value_date, business_date=date(2025, 3, 5)):
    return record_payment(
        session,
        loan,
        payment_ref=ref,
        value_date=value_date,
        amount_cents=amount,
        actor="u:teller",
        now=clock.now(),
        business_date=business_date,
    )


def test_backdated_payment_paid_off_on_is_when_the_installment_was_covered(session, org, clock):
    """Due 02-15; a payment valued 03-01 arrives first, then a smaller one valued 02-10 that
    completes the installment: it was covered in full only on 03-01, so on 02-20 it is 5 days past
    due, not 0 (the issue's reproduction)."""
    loan = make_loan(session, org, clock)
    first = installments_of(session, loan.id)[0]
    assert first.due_date == date(2025, 2, 15)
    due = first.outstanding_cents
    _pay(session, loan, clock, "LATE", due - 50_00, date(2025, 3, 1))
    _pay(session, loan, clock, "EARLY", 100_00, date(2025, 2, 10))
    session.commit()
    session.expire_all()
    first, second = installments_of(session, loan.id)[:2]
    assert first.paid_off_on == date(2025, 3, 1)
    assert aging.days_past_due(installments_of(session, loan.id), date(2025, 2, 20)) == 5
    assert second.interest_paid_cents + second.principal_paid_cents == 50_00
    assert _paid(session) == due + 50_00
    assert _applied(session) == (due + 50_00, 0)
    entries = chain(session, "loan", "L1")
    assert [e.event for e in entries[-3:]] == [
        "record_payment", "record_payment", "reallocate_payments"
    ]  # fmt: skip
    moved = entries[-1].payload
    assert moved["installments"] == [{"seq_no": 1, "before": None, "after": "2025-03-01"}]
    assert entries[-1].reason.startswith("按起息日重新分配")


def test_backdated_payment_covering_earlier_moves_paid_off_on_back(session, org, clock):
    """A small payment on 03-01 and then the full amount valued 02-14: the installment was paid on
    02-14, and the 03-01 payment goes to the next one."""
    loan = make_loan(session, org, clock)
    first = installments_of(session, loan.id)[0]
    due = first.outstanding_cents
    _pay(session, loan, clock, "SMALL", 200_00, date(2025, 3, 1))
    _pay(session, loan, clock, "FULL", due, date(2025, 2, 14))
    session.commit()
    session.expire_all()
    first = installments_of(session, loan.id)[0]
    assert first.paid_off_on == date(2025, 2, 14)
    assert aging.days_past_due(installments_of(session, loan.id), date(2025, 2, 20)) == 0
    entry = chain(session, "loan", "L1")[-1]
    assert entry.event == "reallocate_payments"
    assert entry.payload["installments"] == [{"seq_no": 1, "before": None, "after": "2025-02-14"}]


def test_payments_in_value_order_are_not_reallocated(session, org, clock):
    loan = make_loan(session, org, clock)
    _pay(session, loan, clock, "A", 100_00, date(2025, 2, 10))
    _pay(session, loan, clock, "B", 100_00, date(2025, 2, 10))
    _pay(session, loan, clock, "C", 100_00, date(2025, 3, 1))
    assert "reallocate_payments" not in [e.event for e in chain(session, "loan", "L1")]


def test_sweep_feed_payment_backdated_reallocates_and_journals(engine, session, org, clock):
    loan = make_loan(session, org, clock)
    due = installments_of(session, loan.id)[0].outstanding_cents
    _pay(
        session, loan, clock, "LATE", due - 50_00, date(2025, 3, 1), business_date=date(2025, 3, 1)
    )
    session.add(Payment(payment_ref="FEED-1", loan_id=loan.id, value_date=date(2025, 2, 10),
                        amount_cents=100_00))  # fmt: skip
    session.commit()
    with session_scope(engine) as s:
        result = sweep.sweep_chunk(s, business_date=date(2025, 3, 2), loan_id_from=1,
                                   loan_id_to=10**9, now=NOW)  # fmt: skip
    assert result.payments_applied == 1
    session.expire_all()
    events = [e.event for e in chain(session, "loan", "L1")]
    assert events[-2:] == ["allocate_payment", "reallocate_payments"]
    assert _paid(session) == due + 50_00
    assert installments_of(session, loan.id)[0].paid_off_on == date(2025, 3, 1)
    refs = session.exec(select(Payment.payment_ref).order_by(col(Payment.value_date))).all()
    assert refs == ["FEED-1", "LATE"]


@pytest.mark.postgres_only
def test_payment_committed_while_the_sweep_reads_the_chunk_is_counted(
    engine, org, clock, monkeypatch
):
    """L1 is 10 days past due on 02-25; a teller's payment clearing it commits just after the
    sweep read the chunk's installments: the sweep must not mark the loan overdue."""
    with session_scope(engine) as s:
        loan = make_loan(s, org, clock, commit=False)
        due = installments_of(s, loan.id)[0].outstanding_cents
    real = sweep.load_facts

    def facts_then_payment(*args, **kwargs):
        real(*args, **kwargs)
        payment = threading.Thread(target=_teller_pays, args=(engine, due))
        payment.start()
        payment.join(30)

    monkeypatch.setattr(sweep, "load_facts", facts_then_payment)
    with session_scope(engine) as s:
        result = sweep.sweep_chunk(s, business_date=date(2025, 2, 25), loan_id_from=1,
                                   loan_id_to=10**9, now=NOW)  # fmt: skip
    assert result.moves == {}
    with session_scope(engine) as s:
        loan = get_loan(s, "L1")
        assert (loan.state, loan.days_past_due) == ("normal", 0)


def _teller_pays(engine, amount: int) -> None:
    with session_scope(engine) as s:
        record_payment(
            s,
            get_loan(s, "L1"),
            payment_ref="TELLER-1",
            value_date=date(2025, 2, 24),
            amount_cents=amount,
            actor="u:teller",
            now=NOW,
            business_date=date(2025, 2, 25),
        )
