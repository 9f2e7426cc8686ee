"""CSV import: the sample files end to end, every rejection reason (line, column, nothing written),
idempotent payment re-import, and the imported-schedule path."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

import loans.payments as payments_module
from audit.journal import JournalEntry
from core.clock import FixedClock
from core.identity import OrgUnit, OrgUnitKind, Role, User, add_org_unit, add_user
from loans.importer import (
    ImportKind,
    ImportRejectedError,
    ImportReport,
    LineError,
    import_csv,
    import_rows,
)
from loans.models import Borrower, Installment, Loan, Payment

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ACTOR = "u:importer"
_NO_LOGIN = "!"  # these users never log in: a dummy hash spares argon2's cost per test

LOAN_ROW = {
    "loan_no": "L1",
    "customer_no": "C1",
    "borrower_name": "燕山纺织有限公司",
    "borrower_kind": "corporate",
    "key_client": "no",
    "branch": "BJ01",
    "account_manager": "am_bj1",
    "assistant_manager": "",
    "risk_manager": "rm_bj",
    "product": "working_capital",
    "principal": "120000.00",
    "annual_rate_pct": "4.35",
    "currency": "CNY",
    "disbursement_date": "2025-01-15",
    "maturity_date": "2026-01-15",
    "repayment_method": "equal_installment",
    "schedule": "",
}
PAYMENT_ROW = {
    "payment_ref": "TXN-T1",
    "loan_no": "L2025BJ0003",
    "value_date": "2025-06-08",
    "amount": "10237.19",
}
INSTALLMENT_ROW = {
    "loan_no": "L2025SH0003",
    "seq_no": "1",
    "due_date": "2025-09-18",
    "principal": "200000.00",
    "interest": "8000.00",
}


def _create_org(session: Session) -> dict[str, OrgUnit]:
    """Head office HO; branches BJ01 (with sub-branch BJ0101) and SH01; the sample's users."""
    ho = add_org_unit(session, code="HO", name="总行", kind=OrgUnitKind.head_office)
    units = {"HO": ho}
    for code, name, parent in (
        ("BJ01", "北京分行", "HO"),
        ("SH01", "上海分行", "HO"),
        ("BJ0101", "北京海淀支行", "BJ01"),
    ):
        kind = OrgUnitKind.sub_branch if parent != "HO" else OrgUnitKind.branch
        units[code] = add_org_unit(session, code=code, name=name, kind=kind, parent=units[parent])
    for username, unit, role in (
        ("am_bj1", "BJ01", Role.account_manager),
        ("am_bj2", "BJ01", Role.account_manager),
        ("am_bj3", "BJ0101", Role.account_manager),
        ("am_sh1", "SH01", Role.account_manager),
        ("rm_bj", "BJ01", Role.risk_manager),
        ("rm_sh", "SH01", Role.risk_manager),
    ):
        add_user(
            session,
            username=username,
            full_name=username,
            org_unit=units[unit],
            roles=[role],
            password_hash=_NO_LOGIN,
        )
    return units


@pytest.fixture
def org(session: Session) -> dict[str, OrgUnit]:
    return _create_org(session)


@pytest.fixture
def book(session: Session, clock: FixedClock, org: dict[str, OrgUnit]) -> None:
    """The sample loans, and the imported schedule of L2025SH0003."""
    _import_file(session, clock, ImportKind.loans, "loans.csv")
    _import_file(session, clock, ImportKind.installments, "installments.csv")


def _import_file(
    session: Session, clock: FixedClock, kind: ImportKind, name: str, folder: Path = SAMPLES
) -> ImportReport:
    return import_csv(
        session, kind, folder / name, actor=ACTOR, now=clock.now(), business_date=clock.today()
    )


def _csv(*rows: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _import(session: Session, clock: FixedClock, kind: ImportKind, text: str) -> ImportReport:
    return import_rows(
        session,
        kind,
        io.StringIO(text),
        source=f"{kind}.csv",
        actor=ACTOR,
        now=clock.now(),
        business_date=clock.today(),
    )


def _counts(session: Session) -> dict[str, int]:
    models: list[Any] = [Borrower, Loan, Installment, Payment, JournalEntry]
    return {
        m.__tablename__: session.exec(select(func.count()).select_from(m)).one() for m in models
    }


def _paid_cents(session: Session) -> int:
    paid = session.exec(
        select(func.sum(Installment.principal_paid_cents + Installment.interest_paid_cents))
    ).one()
    return int(paid or 0)


def _rejected(
    session: Session,
    clock: FixedClock,
    kind: ImportKind,
    text: str,
) -> ImportRejectedError:
    """Import `text`, expect a rejection, and check that nothing at all was written."""
    before = _counts(session)
    with pytest.raises(ImportRejectedError) as caught:
        _import(session, clock, kind, text)
    assert _counts(session) == before
    assert caught.value.code == "import_rejected"
    return caught.value


def _single_error(
    error: ImportRejectedError,
    line: int,
    column: str | None,
    fragment: str,
) -> None:
    assert len(error.line_errors) == 1, error.line_errors
    found = error.line_errors[0]
    assert (found.line, found.column) == (line, column)
    assert fragment in found.message
    assert error.errors == [{"line": line, "field": column, "message": found.message}]
    assert error.message.endswith(
        "：1 行有误，未导入任何数据 (" + error.context["source"] + ": 1 bad line, nothing imported)"
    )


# --- loans.csv ---------------------------------------------------------------------------------


def test_import_loans_sample_file_books_every_loan(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    report = _import_file(session, clock, ImportKind.loans, "loans.csv")

    assert (report.kind, report.rows, report.created, report.skipped) == ("loans", 6, 6, 0)
    counts = _counts(session)
    assert counts["loans"] == 6 and counts["borrowers"] == 5  # C10003 borrows twice
    assert counts["installments"] == 12 + 36 + 12 + 1 + 240  # the imported loan has none yet
    loan = session.exec(select(Loan).where(Loan.loan_no == "L2025BJ0001")).one()
    users = {u.id: u.username for u in session.exec(select(User)).all()}
    assert loan.principal_cents == 500_000_000 and loan.annual_rate == Decimal("0.0385")
    assert loan.branch_id == org["BJ01"].id and loan.currency == "CNY"
    assert [
        users[i]
        for i in (loan.account_manager_id, loan.assistant_manager_id, loan.risk_manager_id)
        if i
    ] == ["am_bj1", "am_bj2", "rm_bj"]
    assert loan.repayment_method == "monthly_interest_bullet"
    borrowers = {b.customer_no: b for b in session.exec(select(Borrower)).all()}
    assert borrowers["C10001"].is_key_client and borrowers["C10003"].is_key_client
    assert not borrowers["P20001"].is_key_client
    assert borrowers["C10003"].org_unit_id == org["SH01"].id
    actors = set(session.exec(select(JournalEntry.actor)).all())
    assert actors == {ACTOR} and counts["journal"] == 12  # two machines opened per loan


def test_import_loans_with_excel_bom_reads_header(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit], tmp_path: Path
) -> None:
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + _csv(LOAN_ROW).encode())

    report = _import_file(session, clock, ImportKind.loans, "bom.csv", tmp_path)

    assert report.created == 1


def test_import_loans_not_utf8_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit], tmp_path: Path
) -> None:
    (tmp_path / "gbk.csv").write_bytes(_csv(LOAN_ROW).encode("gbk"))

    with pytest.raises(ImportRejectedError) as caught:
        _import_file(session, clock, ImportKind.loans, "gbk.csv", tmp_path)

    assert "not UTF-8" in caught.value.line_errors[0].message
    assert _counts(session)["loans"] == 0


def test_import_loans_manager_in_sub_branch_is_accepted(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    report = _import(
        session, clock, ImportKind.loans, _csv({**LOAN_ROW, "account_manager": "am_bj3"})
    )

    assert report.created == 1


LOAN_CASES = [  # (cells changed on the second data row, column, message fragment)
    ("unknown-branch", {"branch": "XX99"}, "branch", "unknown branch 'XX99'"),
    ("unknown-manager", {"account_manager": "nobody"}, "account_manager", "unknown user"),
    (
        "manager-other-branch",
        {"account_manager": "am_sh1"},
        "account_manager",
        "not in branch BJ01",
    ),
    ("unknown-risk-manager", {"risk_manager": "ghost"}, "risk_manager", "unknown user 'ghost'"),
    ("zero-principal", {"principal": "0.00"}, "principal", "must be greater than zero"),
    ("negative-principal", {"principal": "-100.00"}, "principal", "must be greater than zero"),
    ("three-decimals", {"principal": "100.005"}, "principal", "more than 2 decimals"),
    ("unparseable-principal", {"principal": "12万"}, "principal", "not a number"),
    ("thousands-separator", {"principal": "120,000.00"}, "principal", "not a number"),
    ("unparseable-rate", {"annual_rate_pct": "4.35%"}, "annual_rate_pct", "not a number"),
    (
        "rate-as-fraction-too-high",
        {"annual_rate_pct": "435"},
        "annual_rate_pct",
        "between 0 and 100",
    ),
    (
        "maturity-before-disbursement",
        {"maturity_date": "2024-12-31"},
        "maturity_date",
        "must be after disbursement_date",
    ),
    (
        "maturity-equals-disbursement",
        {"maturity_date": "2025-01-15"},
        "maturity_date",
        "must be after disbursement_date",
    ),
    ("unparseable-date", {"disbursement_date": "2025/01/15"}, "disbursement_date", "not a date"),
    ("impossible-date", {"maturity_date": "2026-02-30"}, "maturity_date", "not a date"),
    ("empty-required-cell", {"product": ""}, "product", "required value is empty"),
    (
        "unknown-borrower-kind",
        {"borrower_kind": "company"},
        "borrower_kind",
        "unknown value 'company'",
    ),
    (
        "unknown-repayment-method",
        {"repayment_method": "balloon"},
        "repayment_method",
        "unknown value 'balloon'",
    ),
    ("bad-key-client-flag", {"key_client": "maybe"}, "key_client", "not yes/no"),
    ("unknown-schedule-source", {"schedule": "manual"}, "schedule", "unknown value 'manual'"),
    ("bad-currency", {"currency": "RMB1"}, "currency", "not a 3-letter currency code"),
]


@pytest.mark.parametrize(
    ("change", "column", "fragment"), [c[1:] for c in LOAN_CASES], ids=[c[0] for c in LOAN_CASES]
)
def test_import_loans_bad_cell_rejects_file(
    session: Session,
    clock: FixedClock,
    org: dict[str, OrgUnit],
    change: dict[str, str],
    column: str,
    fragment: str,
) -> None:
    bad = {**LOAN_ROW, "loan_no": "L2", "customer_no": "C2", **change}

    error = _rejected(session, clock, ImportKind.loans, _csv(LOAN_ROW, bad))

    _single_error(error, 3, column, fragment)
    assert (
        error.message
        == "loans.csv：1 行有误，未导入任何数据 (loans.csv: 1 bad line, nothing imported)"
    )


def test_import_loans_duplicate_loan_no_in_file_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    error = _rejected(session, clock, ImportKind.loans, _csv(LOAN_ROW, LOAN_ROW))

    _single_error(
        error, 3, "loan_no", "贷款编号重复，首见于第 2 行 (duplicate loan_no, first on line 2)"
    )


def test_import_loans_loan_no_already_booked_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    _import(session, clock, ImportKind.loans, _csv(LOAN_ROW))
    second = {**LOAN_ROW, "loan_no": "L2"}

    error = _rejected(session, clock, ImportKind.loans, _csv(second, LOAN_ROW))

    _single_error(error, 3, "loan_no", "loan L1 already exists")


def test_import_loans_existing_customer_other_name_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    _import(session, clock, ImportKind.loans, _csv(LOAN_ROW))
    renamed = {**LOAN_ROW, "loan_no": "L2", "borrower_name": "另一家公司"}

    error = _rejected(session, clock, ImportKind.loans, _csv(renamed))

    _single_error(error, 2, "borrower_name", "customer C1 is already '燕山纺织有限公司'")


def test_import_loans_existing_customer_same_name_reuses_borrower(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    _import(session, clock, ImportKind.loans, _csv(LOAN_ROW))

    report = _import(session, clock, ImportKind.loans, _csv({**LOAN_ROW, "loan_no": "L2"}))

    assert report.details == ["1 loans, 0 new borrowers"]
    assert _counts(session)["borrowers"] == 1


def test_import_loans_customer_with_two_kinds_in_file_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    other = {**LOAN_ROW, "loan_no": "L2", "borrower_kind": "individual"}

    error = _rejected(session, clock, ImportKind.loans, _csv(LOAN_ROW, other))

    _single_error(error, 3, "borrower_kind", "customer C1 is already")


def test_import_loans_missing_column_names_it_once(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    without = {k: v for k, v in LOAN_ROW.items() if k != "principal"}

    error = _rejected(session, clock, ImportKind.loans, _csv(without, without))

    _single_error(error, 1, "principal", "missing required column")


def test_import_loans_row_with_surplus_cells_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    text = _csv(LOAN_ROW).rstrip("\r\n") + ",extra\r\n"

    error = _rejected(session, clock, ImportKind.loans, text)

    _single_error(error, 2, None, "more cells than the header has")


def test_import_loans_empty_file_rejects_it(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    error = _rejected(session, clock, ImportKind.loans, "")

    _single_error(error, 1, None, "a header row is required")


def test_import_loans_several_bad_lines_reports_all(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    rows = [
        {**LOAN_ROW, "branch": "XX99", "principal": "1.234"},
        {**LOAN_ROW, "loan_no": "L2", "customer_no": "C2"},
        {**LOAN_ROW, "loan_no": "L3", "customer_no": "C3", "disbursement_date": "15/01/2025"},
        {**LOAN_ROW, "loan_no": "L4", "customer_no": "C4", "repayment_method": "balloon"},
        {**LOAN_ROW, "loan_no": "L2", "customer_no": "C5"},
    ]

    error = _rejected(session, clock, ImportKind.loans, _csv(*rows))

    assert (
        error.message
        == "loans.csv：4 行有误，未导入任何数据 (loans.csv: 4 bad lines, nothing imported)"
    )
    assert [(e.line, e.column) for e in error.line_errors] == [
        (2, "branch"),
        (2, "principal"),
        (4, "disbursement_date"),
        (5, "repayment_method"),
        (6, "loan_no"),
    ]


def test_import_rows_dicts_reuse_the_same_checks(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    rows = [LOAN_ROW, {**LOAN_ROW, "loan_no": "L2", "branch": "XX99"}]
    with pytest.raises(ImportRejectedError) as caught:
        import_rows(
            session,
            ImportKind.loans,
            rows,
            source="api",
            actor=ACTOR,
            now=clock.now(),
            business_date=clock.today(),
        )

    assert caught.value.line_errors == [
        LineError(3, "branch", "未知机构 'XX99' (unknown branch 'XX99')")
    ]
    assert _counts(session)["loans"] == 0


# --- installments.csv (an imported schedule) ---------------------------------------------------


def test_import_installments_sample_file_sets_the_schedule(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    _import_file(session, clock, ImportKind.loans, "loans.csv")

    report = _import_file(session, clock, ImportKind.installments, "installments.csv")

    assert (report.rows, report.created) == (4, 4)
    loan = session.exec(select(Loan).where(Loan.loan_no == "L2025SH0003")).one()
    rows = session.exec(
        select(Installment).where(Installment.loan_id == loan.id).order_by(col(Installment.seq_no))
    ).all()
    assert [r.due_date for r in rows][::3] == [date(2025, 9, 18), date(2026, 6, 18)]
    assert sum(r.principal_due_cents for r in rows) == loan.principal_cents
    assert [r.interest_due_cents for r in rows] == [800_000, 600_000, 400_000, 200_000]
    entry = session.exec(select(JournalEntry).where(JournalEntry.event == "import_schedule")).one()
    assert (entry.aggregate_id, entry.actor) == ("L2025SH0003", ACTOR)


INSTALLMENT_CASES = [
    ("unknown-loan", {"loan_no": "NOPE"}, 2, "loan_no", "unknown loan 'NOPE'"),
    (
        "generated-schedule",
        {"loan_no": "L2025BJ0001"},
        2,
        "loan_no",
        "already has a repayment schedule",
    ),
    ("due-before-disbursement", {"due_date": "2025-06-18"}, 2, "due_date", "outside the loan's"),
    ("due-after-maturity", {"due_date": "2026-06-19"}, 2, "due_date", "outside the loan's"),
    ("zero-seq", {"seq_no": "0"}, 2, "seq_no", "not a positive whole number"),
    ("negative-interest", {"interest": "-1.00"}, 2, "interest", "must not be negative"),
    (
        "principal-short",
        {"principal": "100000.00"},
        2,
        "principal",
        "sums to 100000.00, not the loan's 800000.00",
    ),
]


@pytest.mark.parametrize(
    ("change", "line", "column", "fragment"),
    [c[1:] for c in INSTALLMENT_CASES],
    ids=[c[0] for c in INSTALLMENT_CASES],
)
def test_import_installments_bad_cell_rejects_file(
    session: Session,
    clock: FixedClock,
    org: dict[str, OrgUnit],
    change: dict[str, str],
    line: int,
    column: str,
    fragment: str,
) -> None:
    _import_file(session, clock, ImportKind.loans, "loans.csv")
    whole = {**INSTALLMENT_ROW, "principal": "800000.00", "due_date": "2026-06-18"}

    error = _rejected(session, clock, ImportKind.installments, _csv({**whole, **change}))

    _single_error(error, line, column, fragment)


def test_import_installments_duplicate_seq_no_rejects_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    _import_file(session, clock, ImportKind.loans, "loans.csv")
    rows = [
        {**INSTALLMENT_ROW, "principal": "400000.00"},
        {**INSTALLMENT_ROW, "principal": "400000.00", "due_date": "2026-06-18"},
    ]

    error = _rejected(session, clock, ImportKind.installments, _csv(*rows))

    _single_error(error, 3, "seq_no", "duplicate seq_no 1")


def test_import_installments_due_dates_out_of_order_reject_file(
    session: Session, clock: FixedClock, org: dict[str, OrgUnit]
) -> None:
    _import_file(session, clock, ImportKind.loans, "loans.csv")
    rows = [
        {**INSTALLMENT_ROW, "principal": "400000.00", "due_date": "2026-06-18"},
        {**INSTALLMENT_ROW, "seq_no": "2", "principal": "400000.00"},
    ]

    error = _rejected(session, clock, ImportKind.installments, _csv(*rows))

    _single_error(
        error, 3, "due_date", "须晚于第 2 行的 2026-06-18 (must be after 2026-06-18, line 2)"
    )


def test_import_installments_twice_rejects_second_file(
    session: Session, clock: FixedClock, book: None
) -> None:
    error = _rejected(
        session,
        clock,
        ImportKind.installments,
        (SAMPLES / "installments.csv").read_text(encoding="utf-8"),
    )

    assert len(error.line_errors) == 4
    assert {e.message for e in error.line_errors} == {
        "贷款 L2025SH0003 已有还款计划 (loan L2025SH0003 already has a repayment schedule)"
    }


# --- payments.csv ------------------------------------------------------------------------------


def test_import_payments_sample_file_allocates_every_payment(
    session: Session, clock: FixedClock, book: None
) -> None:
    before = _counts(session)

    report = _import_file(session, clock, ImportKind.payments, "payments.csv")

    assert (report.rows, report.created, report.skipped) == (11, 11, 0)
    payments = session.exec(select(Payment).order_by(col(Payment.id))).all()
    assert [p.value_date for p in payments] == sorted(p.value_date for p in payments)
    assert {p.source for p in payments} == {"payments.csv"}
    total = sum(p.amount_cents for p in payments)
    assert _paid_cents(session) == total - sum(p.unapplied_cents for p in payments)
    assert sum(p.unapplied_cents for p in payments) == 0  # every sample pays what is due
    assert _counts(session)["journal"] == before["journal"] + 11
    entries = session.exec(select(JournalEntry).where(JournalEntry.event == "record_payment"))
    assert {e.actor for e in entries} == {ACTOR}


def test_import_payments_same_file_twice_skips_everything(
    session: Session, clock: FixedClock, book: None
) -> None:
    _import_file(session, clock, ImportKind.payments, "payments.csv")
    counts, paid = _counts(session), _paid_cents(session)

    report = _import_file(session, clock, ImportKind.payments, "payments.csv")

    assert (report.created, report.skipped) == (0, 11)
    assert report.details[0] == (
        "第 2 行：还款 TXN202502150001 已记录，跳过 "
        "(line 2: payment TXN202502150001 already recorded, skipped)"
    )
    assert _counts(session) == counts and _paid_cents(session) == paid


def test_import_payments_mixed_new_and_known_creates_only_new(
    session: Session, clock: FixedClock, book: None
) -> None:
    _import_file(session, clock, ImportKind.payments, "payments.csv")
    known = {
        "payment_ref": "TXN202506080006",
        "loan_no": "L2025BJ0003",
        "value_date": "2025-06-08",
        "amount": "10237.19",
    }

    report = _import(session, clock, ImportKind.payments, _csv(known, PAYMENT_ROW))

    assert (report.created, report.skipped) == (1, 1)


PAYMENT_CASES = [
    ("unknown-loan", {"loan_no": "NOPE"}, "loan_no", "unknown loan 'NOPE'"),
    ("zero-amount", {"amount": "0"}, "amount", "must be greater than zero"),
    ("negative-amount", {"amount": "-5.00"}, "amount", "must be greater than zero"),
    ("three-decimals", {"amount": "5.001"}, "amount", "more than 2 decimals"),
    ("unparseable-amount", {"amount": "five"}, "amount", "not a number"),
    ("unparseable-date", {"value_date": "2025-6-8"}, "value_date", "not a date"),
    (
        "before-disbursement",
        {"value_date": "2025-05-07"},
        "value_date",
        "before the loan's disbursement date 2025-05-08",
    ),
    (
        "after-business-date",
        {"value_date": "2026-03-03"},
        "value_date",
        "after the business date 2026-03-02",
    ),
    ("empty-ref", {"payment_ref": " "}, "payment_ref", "required value is empty"),
]


@pytest.mark.parametrize(
    ("change", "column", "fragment"),
    [c[1:] for c in PAYMENT_CASES],
    ids=[c[0] for c in PAYMENT_CASES],
)
def test_import_payments_bad_cell_rejects_file(
    session: Session,
    clock: FixedClock,
    book: None,
    change: dict[str, str],
    column: str,
    fragment: str,
) -> None:
    good = {**PAYMENT_ROW, "payment_ref": "TXN-T0"}

    error = _rejected(session, clock, ImportKind.payments, _csv(good, {**PAYMENT_ROW, **change}))

    _single_error(error, 3, column, fragment)
    assert (
        error.message
        == "payments.csv：1 行有误，未导入任何数据 (payments.csv: 1 bad line, nothing imported)"
    )


def test_import_payments_duplicate_ref_in_file_rejects_file(
    session: Session, clock: FixedClock, book: None
) -> None:
    error = _rejected(session, clock, ImportKind.payments, _csv(PAYMENT_ROW, PAYMENT_ROW))

    _single_error(
        error,
        3,
        "payment_ref",
        "还款编号重复，首见于第 2 行 (duplicate payment_ref, first on line 2)",
    )


def test_import_payments_known_ref_with_other_amount_rejects_file(
    session: Session, clock: FixedClock, book: None
) -> None:
    _import(session, clock, ImportKind.payments, _csv(PAYMENT_ROW))
    changed = {**PAYMENT_ROW, "amount": "10237.20"}

    error = _rejected(session, clock, ImportKind.payments, _csv(changed))

    _single_error(error, 2, "payment_ref", "already recorded with different content")
    assert "amount 10237.19" in error.line_errors[0].message


def test_import_payments_several_bad_lines_reports_all_in_column_order(
    session: Session, clock: FixedClock, book: None
) -> None:
    rows = [
        {"payment_ref": "X1", "loan_no": "NOPE", "value_date": "2025-13-01", "amount": "1.001"},
        PAYMENT_ROW,
        {**PAYMENT_ROW, "amount": "-1"},
    ]

    error = _rejected(session, clock, ImportKind.payments, _csv(*rows))

    assert (
        error.message
        == "payments.csv：2 行有误，未导入任何数据 (payments.csv: 2 bad lines, nothing imported)"
    )
    assert [(e.line, e.column) for e in error.line_errors] == [
        (2, "loan_no"),
        (2, "value_date"),
        (2, "amount"),
        (4, "payment_ref"),
        (4, "amount"),
    ]


def test_import_payments_missing_column_names_it_once(
    session: Session, clock: FixedClock, book: None
) -> None:
    error = _rejected(
        session,
        clock,
        ImportKind.payments,
        "payment_ref,loan_no,amount\r\nTXN-T1,L2025BJ0003,10.00\r\n",
    )

    _single_error(error, 1, "value_date", "missing required column")


def test_import_payments_failure_while_writing_rolls_everything_back(
    session: Session,
    clock: FixedClock,
    book: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session.commit()
    before, paid = _counts(session), _paid_cents(session)
    calls: list[int] = []
    real_allocate = payments_module.allocate

    def fail_second(session: Session, loan_id: int, payments: Any) -> Any:
        """The second loan's allocation fails: the first's payments are written by then."""
        calls.append(loan_id)
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return real_allocate(session, loan_id, payments)

    monkeypatch.setattr(payments_module, "allocate", fail_second)

    with pytest.raises(RuntimeError, match="connection lost"):
        _import_file(session, clock, ImportKind.payments, "payments.csv")

    assert len(calls) == 2
    assert _counts(session) == before and _paid_cents(session) == paid


def test_import_payments_many_rows_looks_up_in_chunks_not_per_row(
    session: Session, clock: FixedClock, book: None, engine: Engine
) -> None:
    rows = [{**PAYMENT_ROW, "payment_ref": f"TXN-{n}", "loan_no": f"L-{n}"} for n in range(2500)]
    before = _counts(session)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        with pytest.raises(ImportRejectedError) as caught:
            _import(session, clock, ImportKind.payments, _csv(*rows))
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert len(caught.value.line_errors) == 2500 and caught.value.line_errors[-1].line == 2501
    assert _counts(session) == before
    # loans and payments by key, each in 3 chunks of at most 1000 keys; nothing per row
    assert len(statements) == 2 * 3 and all(" IN (" in s for s in statements)
