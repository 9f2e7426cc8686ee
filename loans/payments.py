"""Payments: record once (by the bank's reference) and allocate to installments oldest first,
interest before principal, in value-date order, one allocator per loan at a time. Each recorded
payment is journaled on its loan, and so is any reallocation a backdated payment causes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from audit import journal
from core.db import is_postgres
from core.errors import RuleViolationError, ValidationError
from loans.book import LOAN
from loans.models import Installment, Loan, Payment
from loans.transitions import transition_loan
from statemachines.enums import LoanState

BOOK_MACHINE = "loan_book"  # journal entries about balances, not about a machine's state


@dataclass
class Allocation:
    """What allocating a loan's new payments did: the payments applied, and the earlier ones whose
    split or whose installments' paid-off dates a payment with an earlier value date changed."""

    applied: list[Payment] = field(default_factory=list)
    reallocated: list[dict[str, Any]] = field(default_factory=list)
    paid_off_moved: list[dict[str, Any]] = field(default_factory=list)

    def journal_payload(self) -> dict[str, Any]:
        return {"payments": self.reallocated, "installments": self.paid_off_moved}


def lock_loans(session: Session, loan_ids: Iterable[int]) -> None:
    """Hold the loans' rows until commit, so that allocations to one loan run one after another.

    Postgres: SELECT … FOR UPDATE in id order (two importers never deadlock on each other); a
    second allocator waits, then reads the installments the first one committed. SQLite has one
    writer and serializable transactions: a second writer fails cleanly (ConflictError).
    """
    ids = sorted(set(loan_ids))
    if not ids or not is_postgres(session):
        return
    for lo in range(0, len(ids), 10_000):
        part = ids[lo : lo + 10_000]
        session.exec(
            select(Loan.id)
            .where(col(Loan.id).in_(part))
            .order_by(col(Loan.id))
            .with_for_update(key_share=True)
        ).all()


def _key(payment: Payment) -> tuple[date, int]:
    assert payment.id is not None
    return payment.value_date, payment.id


def _split(payment: Payment) -> dict[str, int]:
    return {
        "interest_applied_cents": payment.interest_applied_cents,
        "principal_applied_cents": payment.principal_applied_cents,
        "unapplied_cents": payment.unapplied_cents,
    }


def _apply(payment: Payment, installments: Sequence[Installment]) -> None:
    """Fill the oldest unpaid installments, interest before principal; the rest is held."""
    left = payment.amount_cents
    payment.interest_applied_cents = payment.principal_applied_cents = 0
    for inst in installments:
        if left <= 0:
            break
        if inst.outstanding_cents == 0:
            continue
        interest = min(left, inst.interest_due_cents - inst.interest_paid_cents)
        inst.interest_paid_cents += interest
        left -= interest
        principal = min(left, inst.principal_due_cents - inst.principal_paid_cents)
        inst.principal_paid_cents += principal
        left -= principal
        payment.interest_applied_cents += interest
        payment.principal_applied_cents += principal
        if inst.outstanding_cents == 0:
            inst.paid_off_on = payment.value_date  # the value date that covered it in full
    payment.unapplied_cents = left  # overpayment held, never lost
    payment.allocated = True


_PAID = {"interest_paid_cents", "principal_paid_cents", "paid_off_on"}


def allocated_as_of(
    installments: Sequence[Installment], payments: Iterable[Payment], on: date
) -> tuple[list[Installment], list[Payment]]:
    """The schedule and the payments as they stood on `on`: unsaved copies, with the allocated
    payments valued on or before `on` applied again from nothing in value-date order — the rule
    allocate() follows, so on the newest date this is the stored allocation."""
    # new objects, never model_copy(): that shares the row's ORM state, so the session would
    # see the copies' paid amounts as changes to the stored rows
    copies = [
        Installment(**inst.model_dump(exclude=_PAID))
        for inst in sorted(installments, key=lambda i: (i.due_date, i.seq_no))
    ]
    applied = sorted(
        (Payment(**p.model_dump()) for p in payments if p.allocated and p.value_date <= on),
        key=_key,
    )
    for payment in applied:
        _apply(payment, copies)
    return sorted(copies, key=lambda i: i.seq_no), applied


def allocate(session: Session, loan_id: int, payments: Sequence[Payment]) -> Allocation:
    """Allocate one loan's unallocated `payments` to its installments, in value-date order.

    Locks the loan first (lock_loans). Allocation follows value dates, not arrival: when a payment
    is valued before one already allocated, the loan's payments are applied again from the start
    in value-date order, so each installment's `paid_off_on` is the value date on which it became
    fully covered; the earlier payments whose split or whose installments' dates changed are
    returned for the caller to journal.
    """
    for payment in payments:
        if payment.allocated:
            raise RuleViolationError(
                f"还款 {payment.payment_ref} 已分配 (payment {payment.payment_ref} is already allocated)"
            )
        if payment.loan_id != loan_id:
            raise RuleViolationError(
                f"还款 {payment.payment_ref} 不属于此贷款 (payment {payment.payment_ref} is not on this loan)"
            )
    result = Allocation(applied=sorted(payments, key=_key))
    if not payments:
        return result
    lock_loans(session, [loan_id])
    # read under the lock, overwriting rows this session may have loaded before it
    installments = list(
        session.exec(
            select(Installment)
            .where(Installment.loan_id == loan_id)
            .order_by(col(Installment.due_date), col(Installment.seq_no))
            .execution_options(populate_existing=True)
        ).all()
    )
    earliest = result.applied[0].value_date
    later = session.exec(
        select(Payment.id)
        .where(
            Payment.loan_id == loan_id,
            col(Payment.allocated).is_(True),
            Payment.value_date > earliest,
        )
        .limit(1)
    ).first()
    if later is None:  # the usual case: nothing allocated is valued after these
        for payment in result.applied:
            _apply(payment, installments)
            session.add(payment)
        session.add_all(installments)
        return result
    earlier = session.exec(
        select(Payment)
        .where(Payment.loan_id == loan_id, col(Payment.allocated).is_(True))
        .execution_options(populate_existing=True)
    ).all()
    before = {p.payment_ref: _split(p) for p in earlier}
    paid_off = {i.seq_no: i.paid_off_on for i in installments}
    for inst in installments:
        inst.interest_paid_cents = inst.principal_paid_cents = 0
        inst.paid_off_on = None
    for payment in sorted([*earlier, *payments], key=_key):
        _apply(payment, installments)
        session.add(payment)
        if payment.payment_ref in before and before[payment.payment_ref] != _split(payment):
            result.reallocated.append(
                {
                    "payment_ref": payment.payment_ref,
                    "value_date": payment.value_date,
                    "before": before[payment.payment_ref],
                    "after": _split(payment),
                }
            )
    for inst in installments:
        if paid_off[inst.seq_no] != inst.paid_off_on:
            result.paid_off_moved.append(
                {"seq_no": inst.seq_no, "before": paid_off[inst.seq_no], "after": inst.paid_off_on}
            )
    session.add_all(installments)
    return result


@dataclass(frozen=True)
class NewPayment:
    """A payment to record: the bank's reference, its loan, value date and amount."""

    loan: Loan
    payment_ref: str
    value_date: date
    amount_cents: int


def record_payment(
    session: Session,
    loan: Loan,
    *,
    payment_ref: str,
    value_date: date,
    amount_cents: int,
    actor: str,
    now: datetime,
    business_date: date,
    source: str | None = None,
) -> Payment:
    [payment] = record_payments(
        session,
        [NewPayment(loan, payment_ref, value_date, amount_cents)],
        actor=actor,
        now=now,
        business_date=business_date,
        source=source,
    )
    return payment


def record_payments(
    session: Session,
    new: Sequence[NewPayment],
    *,
    actor: str,
    now: datetime,
    business_date: date,
    source: str | None = None,
) -> list[Payment]:
    """Record payments and allocate them at once, journaled on their loans: each loan's together
    in value-date order (one read of its schedule), every payment a `record_payment` entry, then
    the loan's reallocation if one was backdated; the entries appended in a few statements (an
    import file of thousands of payments). A written-off loan's payment is also a recorded
    recovery, through the machine, one by one. Returns the payments in `new`'s order."""
    for item in new:
        if item.amount_cents <= 0:
            raise ValidationError(
                f"还款金额须大于零：{item.payment_ref} (a payment amount must be positive)",
                errors=[{"field": "amount", "message": "须大于 0", "message_en": "must be > 0"}],
                payment_ref=item.payment_ref,
            )
    payments = [
        Payment(
            payment_ref=item.payment_ref,
            loan_id=item.loan.id,
            value_date=item.value_date,
            amount_cents=item.amount_cents,
            source=source,
        )
        for item in new
    ]
    session.add_all(payments)
    session.flush()
    by_loan: dict[int, tuple[Loan, list[Payment]]] = {}
    for item, payment in zip(new, payments, strict=True):
        assert item.loan.id is not None
        by_loan.setdefault(item.loan.id, (item.loan, []))[1].append(payment)
    items: list[dict[str, Any]] = []
    for loan_id, (loan, of_loan) in by_loan.items():
        if LoanState(loan.state) == LoanState.written_off:
            journal.append_many(session, items, now=now, business_date=business_date)
            items = []
            for payment in of_loan:  # each a recovery through the machine, in arrival order
                _record_recovery(session, loan, payment, actor, source, now, business_date)
            continue
        allocation = allocate(session, loan_id, of_loan)
        items += [_recorded(loan.loan_no, p, actor, source) for p in allocation.applied]
        if (entry := reallocation_entry(loan.loan_no, allocation, actor)) is not None:
            items.append(entry)
    journal.append_many(session, items, now=now, business_date=business_date)
    return payments


def _recorded(loan_no: str, payment: Payment, actor: str, source: str | None) -> dict[str, Any]:
    """The journal entry of a recorded payment (as append_many takes it)."""
    return {
        "aggregate_type": LOAN,
        "aggregate_id": loan_no,
        "machine": BOOK_MACHINE,
        "event": "record_payment",
        "from_state": None,
        "to_state": None,
        "actor": actor,
        "reason": f"还款 {payment.payment_ref} (payment {payment.payment_ref})",
        "payload": {
            "payment_ref": payment.payment_ref,
            "value_date": payment.value_date,
            "amount_cents": payment.amount_cents,
            "interest_applied_cents": payment.interest_applied_cents,
            "principal_applied_cents": payment.principal_applied_cents,
            "unapplied_cents": payment.unapplied_cents,
            "source": source,
        },
    }


def _record_recovery(
    session: Session,
    loan: Loan,
    payment: Payment,
    actor: str,
    source: str | None,
    now: datetime,
    business_date: date,
) -> None:
    """A payment after write-off: allocated, journaled, and a recorded recovery (001: the debt
    is still pursued after write-off)."""
    allocation = allocate(session, loan.id or 0, [payment])
    entries = [_recorded(loan.loan_no, payment, actor, source)]
    if (entry := reallocation_entry(loan.loan_no, allocation, actor)) is not None:
        entries.append(entry)
    journal.append_many(session, entries, now=now, business_date=business_date)
    transition_loan(
        session,
        loan.loan_no,
        "record_recovery",
        actor=actor,
        now=now,
        business_date=business_date,
        reason=f"核销后收回 {payment.amount_cents / 100:,.2f} (payment {payment.payment_ref})",
        payload={"payment_ref": payment.payment_ref, "amount_cents": payment.amount_cents},
    )


REALLOCATE = "reallocate_payments"


def reallocation_entry(loan_no: str, allocation: Allocation, actor: str) -> dict[str, Any] | None:
    """The journal entry (as append_many takes it) of what a backdated payment re-derived."""
    if not (allocation.reallocated or allocation.paid_off_moved):
        return None
    refs = ", ".join(p.payment_ref for p in allocation.applied)
    return {
        "aggregate_type": LOAN,
        "aggregate_id": loan_no,
        "machine": BOOK_MACHINE,
        "event": REALLOCATE,
        "from_state": None,
        "to_state": None,
        "actor": actor,
        "reason": f"按起息日重新分配：{refs} 的起息日早于已分配的还款 "
        f"(reallocated by value date after {refs})",
        "payload": allocation.journal_payload(),
    }


def existing_payment(session: Session, payment_ref: str) -> Payment | None:
    return session.exec(select(Payment).where(Payment.payment_ref == payment_ref)).first()
