"""CSV import of loans, schedules and payments (贷款、还款计划、还款流水导入), all-or-nothing: every
row is checked before anything is written (format: README, “Importing CSV”). No web or Prefect imports."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from sqlmodel import Session, col, select

from audit import journal
from core.errors import ValidationError
from core.identity import OrgUnit, User
from loans.book import LOAN, LoanTerms, open_loan
from loans.csv_rows import (
    Cells,
    LineError,
    Rows,
    distinct,
    fetch_in,
    one_of,
    parse_cents,
    parse_cents_or_zero,
    parse_date,
    parse_flag,
    parse_rate,
    parse_seq,
    read_records,
)
from loans.models import Borrower, BorrowerKind, Installment, Loan, Payment
from loans.payments import BOOK_MACHINE, lock_loans, record_payment
from loans.schedule import (
    RepaymentMethod,
    ScheduledInstallment,
    ScheduleError,
    generate_schedule,
)


class ImportKind(StrEnum):
    loans = "loans"  # 贷款台账
    installments = "installments"  # 还款计划
    payments = "payments"  # 还款流水


class ScheduleSource(StrEnum):
    generate = "generate"  # built from the loan terms by loans.schedule
    imported = "imported"  # loaded afterwards from installments.csv


COLUMNS: dict[ImportKind, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (required, optional)
    ImportKind.loans: (
        (
            "loan_no",
            "customer_no",
            "borrower_name",
            "borrower_kind",
            "branch",
            "account_manager",
            "product",
            "principal",
            "annual_rate_pct",
            "disbursement_date",
            "maturity_date",
            "repayment_method",
        ),
        ("key_client", "assistant_manager", "risk_manager", "currency", "schedule"),
    ),
    ImportKind.installments: (("loan_no", "seq_no", "due_date", "principal", "interest"), ()),
    ImportKind.payments: (("payment_ref", "loan_no", "value_date", "amount"), ()),
}


class ImportRejectedError(ValidationError):
    """The file was refused as a whole, nothing imported; `line_errors` lists every problem."""

    code = "import_rejected"

    def __init__(self, source: str, line_errors: list[LineError]) -> None:
        self.line_errors = sorted(line_errors, key=lambda e: e.line)
        bad = len({e.line for e in line_errors})
        super().__init__(
            f"{source}: {bad} bad line{'' if bad == 1 else 's'}, nothing imported",
            errors=[
                {"line": e.line, "field": e.column, "message": e.message} for e in self.line_errors
            ],
            source=source,
        )


@dataclass
class ImportReport:
    kind: ImportKind
    rows: int
    created: int = 0
    skipped: int = 0  # already present and identical (a re-imported payment)
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    source: str
    actor: str
    now: datetime
    business_date: date


_Writer = Callable[[ImportReport], None]


def import_csv(
    session: Session,
    kind: ImportKind,
    path: Path | str,
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> ImportReport:
    """Import one CSV file: UTF-8, with or without the BOM Excel writes."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejectedError(
            path.name,
            [LineError(1, None, (f"not UTF-8 text (byte {exc.start}); save it as 'CSV UTF-8'"))],
        ) from exc
    return import_rows(
        session,
        kind,
        io.StringIO(text, newline=""),
        source=path.name,
        actor=actor,
        now=now,
        business_date=business_date,
    )


def import_rows(
    session: Session,
    kind: ImportKind,
    rows: Rows,
    *,
    source: str,
    actor: str,
    now: datetime,
    business_date: date,
) -> ImportReport:
    """Import CSV text or header-keyed dicts: check every row, then write them all, or raise
    ImportRejectedError having written nothing. Only flushes: the caller's transaction commits."""
    kind = ImportKind(kind)
    errors: list[LineError] = []
    header, records = read_records(rows, errors)
    required, optional = COLUMNS[kind]
    if header:
        errors += [LineError(1, c, "missing required column") for c in required if c not in header]
    if errors:  # a broken header would fail every row the same way: report it alone
        raise ImportRejectedError(source, errors)
    cells = [Cells(line, values, errors) for line, values in records]
    job = _Job(source, actor, now, business_date)
    write = _PLANNERS[kind](session, cells, job)
    if errors:
        position = {c: i for i, c in enumerate(header or ())}  # within a line, as in the file
        errors.sort(key=lambda e: (e.line, position.get(e.column or "", -1)))
        raise ImportRejectedError(source, errors)
    report = ImportReport(kind, rows=len(cells))
    report.details += [
        f"ignored unknown column {c!r}" for c in header or () if c not in required + optional
    ]
    try:
        write(report)
        session.flush()
    except Exception:
        # Rows may be flushed already: roll back so nothing is half-imported. Not a SAVEPOINT:
        # on pysqlite, releasing one opened outside a transaction commits it.
        session.rollback()
        raise
    return report


def _loans_by_no(session: Session, rows: list[Cells]) -> dict[str, Loan]:
    found = fetch_in(session, select(Loan), Loan.loan_no, distinct(rows, "loan_no"))
    return {loan.loan_no: loan for loan in found}


def _yuan(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def _plan_loans(session: Session, rows: list[Cells], job: _Job) -> _Writer:
    units = {
        u.code: u
        for u in fetch_in(session, select(OrgUnit), OrgUnit.code, distinct(rows, "branch"))
    }
    names = (
        distinct(rows, "account_manager")
        | distinct(rows, "assistant_manager")
        | distinct(rows, "risk_manager")
    )
    with_unit = select(User, OrgUnit.path).join(OrgUnit, col(User.org_unit_id) == col(OrgUnit.id))
    users = {
        u.username: (u, path) for u, path in fetch_in(session, with_unit, User.username, names)
    }
    taken = set(fetch_in(session, select(Loan.loan_no), Loan.loan_no, distinct(rows, "loan_no")))
    borrowers = {
        b.customer_no: b
        for b in fetch_in(
            session, select(Borrower), Borrower.customer_no, distinct(rows, "customer_no")
        )
    }
    first_line: dict[str, int] = {}
    plans: list[tuple[LoanTerms, Borrower, list[ScheduledInstallment]]] = []

    def user(c: Cells, column: str, required: bool = False) -> tuple[User, str] | None:
        name = c.text(column, required=required)
        found = users.get(name or "")
        if name and found is None:
            c.fail(column, f"unknown user {name!r}")
        elif found and not found[0].active:
            c.fail(column, f"user {name!r} is inactive")
        return found

    for c in rows:
        loan_no = c.text("loan_no", max_len=40)
        if loan_no in taken:
            c.fail("loan_no", f"loan {loan_no} already exists")
        elif loan_no in first_line:
            c.fail("loan_no", f"duplicate loan_no (first on line {first_line[loan_no or '']})")
        elif loan_no:
            first_line[loan_no] = c.line
        code = c.text("branch", max_len=32)
        unit = units.get(code or "")
        if code and unit is None:
            c.fail("branch", f"unknown branch {code!r}")
        manager = user(c, "account_manager", required=True)
        if unit and manager and not manager[1].startswith(unit.path):
            c.fail(
                "account_manager",
                f"user {manager[0].username!r} is not in branch {code} or one of its sub-branches",
            )
        assistant, risk = user(c, "assistant_manager"), user(c, "risk_manager")
        borrower = _borrower(c, borrowers, unit)
        product = c.text("product", max_len=40)
        principal, rate = c.get("principal", parse_cents), c.get("annual_rate_pct", parse_rate)
        currency = (c.text("currency", required=False) or "CNY").upper()
        if not re.fullmatch("[A-Z]{3}", currency):
            c.fail("currency", f"not a 3-letter currency code: {currency!r}")
        start, end = c.get("disbursement_date", parse_date), c.get("maturity_date", parse_date)
        if start and end and end <= start:
            c.fail("maturity_date", f"must be after disbursement_date {start}")
        method = c.get("repayment_method", one_of(RepaymentMethod))
        source = c.get("schedule", one_of(ScheduleSource), required=False)
        if c.bad:
            continue
        assert loan_no and unit and unit.id and manager and manager[0].id and borrower and product
        assert principal and rate is not None and start and end and method
        terms = LoanTerms(
            loan_no=loan_no,
            borrower_id=0,
            product=product,
            branch_id=unit.id,
            account_manager_id=manager[0].id,
            principal_cents=principal,
            annual_rate=rate,
            disbursement_date=start,
            maturity_date=end,
            repayment_method=method,
            currency=currency,
            assistant_manager_id=assistant[0].id if assistant else None,
            risk_manager_id=risk[0].id if risk else None,
        )
        try:  # built now, so that terms the schedule maths refuses reject the file up front
            schedule = (
                []
                if source is ScheduleSource.imported
                else generate_schedule(
                    principal_cents=principal,
                    annual_rate=rate,
                    disbursement_date=start,
                    maturity_date=end,
                    method=method,
                )
            )
        except ScheduleError as exc:
            for e in exc.errors:
                c.fail(_SCHEDULE_COLUMNS.get(e["field"], e["field"]), e["message"])
            continue
        plans.append((terms, borrower, schedule))

    def write(report: ImportReport) -> None:
        new = [b for b in borrowers.values() if b.id is None]
        session.add_all(new)
        session.flush()
        for terms, borrower, schedule in plans:
            assert borrower.id is not None
            open_loan(
                session,
                replace(terms, borrower_id=borrower.id),
                actor=job.actor,
                now=job.now,
                business_date=job.business_date,
                schedule=schedule,
                reason=f"imported from {job.source}",
            )
        report.created = len(plans)
        report.details.append(f"{len(plans)} loans, {len(new)} new borrowers")

    return write


_SCHEDULE_COLUMNS = {
    "principal_cents": "principal",
    "annual_rate": "annual_rate_pct",
    "method": "repayment_method",
}


def _borrower(c: Cells, known: dict[str, Borrower], unit: OrgUnit | None) -> Borrower | None:
    """The borrower by customer number (客户号); a new one is created in the row's branch."""
    customer_no = c.text("customer_no", max_len=32)
    name = c.text("borrower_name", max_len=200)
    kind = c.get("borrower_kind", one_of(BorrowerKind))
    key_client = c.get("key_client", parse_flag, required=False) or False
    if not (customer_no and name and kind and unit and unit.id):
        return None
    borrower = known.get(customer_no)
    if borrower is None:
        borrower = known[customer_no] = Borrower(
            customer_no=customer_no,
            name=name,
            kind=kind,
            is_key_client=key_client,
            org_unit_id=unit.id,
        )
    elif (borrower.name, borrower.kind) != (name, kind):
        c.fail(
            "borrower_name" if borrower.name != name else "borrower_kind",
            f"customer {customer_no} is already {borrower.name!r} ({borrower.kind})",
        )
    return borrower


class _Due(NamedTuple):
    cells: Cells
    seq_no: int | None
    due_date: date | None
    principal: int | None
    interest: int | None


def _plan_installments(session: Session, rows: list[Cells], job: _Job) -> _Writer:
    loans = _loans_by_no(session, rows)
    scheduled = set(
        fetch_in(
            session,
            select(Installment.loan_id).distinct(),
            Installment.loan_id,
            [loan.id for loan in loans.values()],
        )
    )
    plans: dict[str, list[_Due]] = {}
    for c in rows:
        loan_no = c.text("loan_no", max_len=40)
        due = _Due(
            c,
            c.get("seq_no", parse_seq),
            c.get("due_date", parse_date),
            c.get("principal", parse_cents_or_zero),
            c.get("interest", parse_cents_or_zero),
        )
        loan = loans.get(loan_no or "")
        if loan_no and loan is None:
            c.fail("loan_no", f"unknown loan {loan_no!r}")
        elif loan and loan.id in scheduled:
            c.fail("loan_no", f"loan {loan_no} already has a repayment schedule")
        if loan is None or loan.id in scheduled:
            continue
        group = plans.setdefault(loan.loan_no, [])
        prev = group[-1] if group else None
        if due.seq_no and any(d.seq_no == due.seq_no for d in group):
            c.fail("seq_no", f"duplicate seq_no {due.seq_no} for loan {loan_no}")
        elif due.seq_no and prev and prev.seq_no and due.seq_no < prev.seq_no:
            c.fail("seq_no", f"must increase: line {prev.cells.line} has {prev.seq_no}")
        if due.due_date and not loan.disbursement_date < due.due_date <= loan.maturity_date:
            c.fail(
                "due_date",
                f"outside the loan's term: after {loan.disbursement_date} "
                f"up to maturity {loan.maturity_date}",
            )
        elif due.due_date and prev and prev.due_date and due.due_date <= prev.due_date:
            c.fail("due_date", f"must be after {prev.due_date} (line {prev.cells.line})")
        group.append(due)
    for loan_no, group in plans.items():
        total = sum(d.principal or 0 for d in group)
        if all(d.principal is not None for d in group) and total != loans[loan_no].principal_cents:
            lines = ", ".join(str(d.cells.line) for d in group)
            group[0].cells.fail(
                "principal",
                (
                    f"principal of loan {loan_no} on lines {lines} sums to {_yuan(total)}, "
                    f"not the loan's {_yuan(loans[loan_no].principal_cents)}"
                ),
            )

    def write(report: ImportReport) -> None:
        for loan_no, group in plans.items():
            loan_id = loans[loan_no].id
            for d in group:
                assert loan_id and d.seq_no and d.due_date and d.principal is not None
                session.add(
                    Installment(
                        loan_id=loan_id,
                        seq_no=d.seq_no,
                        due_date=d.due_date,
                        principal_due_cents=d.principal,
                        interest_due_cents=d.interest or 0,
                    )
                )
            journal.append(
                session,
                aggregate_type=LOAN,
                aggregate_id=loan_no,
                machine=BOOK_MACHINE,
                event="import_schedule",
                from_state=None,
                to_state=None,
                actor=job.actor,
                now=job.now,
                business_date=job.business_date,
                reason=f"imported from {job.source}",
                payload={
                    "installments": len(group),
                    "source": job.source,
                    "principal_cents": sum(d.principal or 0 for d in group),
                    "interest_cents": sum(d.interest or 0 for d in group),
                },
            )
            report.created += len(group)
            report.details.append(f"{loan_no}: {len(group)} installments")

    return write


def _plan_payments(session: Session, rows: list[Cells], job: _Job) -> _Writer:
    loans = _loans_by_no(session, rows)
    with_loan = select(Payment, Loan.loan_no).join(Loan, col(Payment.loan_id) == col(Loan.id))
    recorded = {
        p.payment_ref: (loan_no, p.value_date, p.amount_cents)
        for p, loan_no in fetch_in(
            session, with_loan, Payment.payment_ref, distinct(rows, "payment_ref")
        )
    }
    first_line: dict[str, int] = {}
    new: list[tuple[date, int, str, Loan, int]] = []
    skipped: list[str] = []
    for c in rows:
        ref, loan_no = c.text("payment_ref"), c.text("loan_no", max_len=40)
        value_date, amount = c.get("value_date", parse_date), c.get("amount", parse_cents)
        if ref in first_line:
            c.fail("payment_ref", f"duplicate payment_ref (first on line {first_line[ref or '']})")
        elif ref:
            first_line[ref] = c.line
        loan = loans.get(loan_no or "")
        if loan_no and loan is None:
            c.fail("loan_no", f"unknown loan {loan_no!r}")
        if loan and value_date and value_date < loan.disbursement_date:
            c.fail("value_date", f"before the loan's disbursement date {loan.disbursement_date}")
        elif value_date and value_date > job.business_date:
            c.fail("value_date", f"after the business date {job.business_date}")
        if c.bad or not (ref and loan and value_date and amount):
            continue
        if ref in recorded and recorded[ref] != (loan.loan_no, value_date, amount):
            was_loan, was_date, was_amount = recorded[ref]
            c.fail(
                "payment_ref",
                f"already recorded with different content: loan {was_loan}, "
                f"value_date {was_date}, amount {_yuan(was_amount)}",
            )
        elif ref in recorded:
            skipped.append(f"line {c.line}: payment {ref} already recorded, skipped")
        else:
            new.append((value_date, c.line, ref, loan, amount))

    def write(report: ImportReport) -> None:
        # Every loan of the file locked first, in id order (two importers never deadlock); then by
        # value date, then file order: allocation fills the oldest unpaid installments first.
        lock_loans(session, (loan.id for _, _, _, loan, _ in new if loan.id is not None))
        for value_date, _, ref, loan, amount in sorted(new, key=lambda n: n[:2]):
            record_payment(
                session,
                loan,
                payment_ref=ref,
                value_date=value_date,
                amount_cents=amount,
                actor=job.actor,
                now=job.now,
                business_date=job.business_date,
                source=job.source,
            )
        report.created, report.skipped = len(new), len(skipped)
        report.details += skipped

    return write


_PLANNERS: dict[ImportKind, Callable[[Session, list[Cells], _Job], _Writer]] = {
    ImportKind.loans: _plan_loans,
    ImportKind.installments: _plan_installments,
    ImportKind.payments: _plan_payments,
}
