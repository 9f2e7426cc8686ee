"""Borrowers repaying by their profile (sim.params.Profile). Each installment's payment day is a
pure draw from (seed, loan, installment): the history before the start and every simulated day
come from the same rule, and a collection bot can ask when a borrower will in fact pay (so a
promise it records is kept or broken as the borrower will behave). Payments enter the book as
the day's payments file does (loans.importer, payments CSV)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select
from sqlmodel import Session, col

from loans.aging import pay_by
from loans.importer import ImportKind, import_rows
from loans.models import Installment, Loan
from sim.params import Profile, SimParams, draw
from statemachines.enums import LoanState

ACTOR = "system:core-banking"  # the bank's core system sends the day's payments
LOOK_BACK = 90  # the latest a profile pays an installment, in days after its pay-by date
OPEN = tuple(s.value for s in LoanState if s.is_open)


def payment_day(params: SimParams, profile: str, loan_no: str, seq: int, due: date) -> date | None:
    """The day the borrower pays installment `seq` due on `due` (None: never)."""
    seed, when = params.seed, pay_by(due)
    if profile == Profile.default:
        stop = 2 + int(draw(seed, "stops", loan_no) * 14)
        if seq >= stop:
            return None
    if profile == Profile.late_cured and draw(seed, "late", loan_no, seq) < 0.25:
        return when + timedelta(days=3 + int(draw(seed, "lag", loan_no, seq) * 42))
    if profile == Profile.chronic and draw(seed, "late", loan_no, seq) < 0.55:
        return when + timedelta(days=20 + int(draw(seed, "lag", loan_no, seq) * 60))
    return when - timedelta(days=int(draw(seed, "early", loan_no, seq) * 3))


def prepay_day(params: SimParams, loan_no: str, disbursed: date, maturity: date) -> date:
    """A prepaying borrower settles everything once, between six months in and three before
    maturity (or half-way, for a short loan)."""
    lo, hi = disbursed + timedelta(days=180), maturity - timedelta(days=90)
    if hi <= lo:
        lo = hi = disbursed + (maturity - disbursed) / 2
    return lo + timedelta(days=int(draw(params.seed, "prepay", loan_no) * (hi - lo).days))


def payments_on(
    session: Session, params: SimParams, profiles: dict[str, str], day: date, *, since: date | None
) -> list[dict[str, str]]:
    """The payments file of `day` (or, with `since`, of every day from `since` to `day`: the
    history a bank migrates with its book): rows of the payments CSV."""
    first = since or day
    rows: list[dict[str, str]] = []
    due_window = and_(
        col(Installment.due_date) >= first - timedelta(days=LOOK_BACK),
        col(Installment.due_date) <= day + timedelta(days=5),
    )
    query = (
        select(
            Loan.loan_no,
            Installment.seq_no,
            Installment.due_date,
            Installment.principal_due_cents + Installment.interest_due_cents,
        )
        .join(Loan, col(Loan.id) == col(Installment.loan_id))
        .where(due_window, col(Loan.state).in_(OPEN))
    )
    for loan_no, seq, due, amount in session.execute(query):
        profile = profiles[loan_no]
        paid = payment_day(params, profile, loan_no, seq, due)
        if paid is not None and first <= paid <= day:
            rows.append(_row(loan_no, seq, paid, amount))
    rows.extend(_prepayments(session, params, profiles, first, day))
    return rows


def _prepayments(
    session: Session, params: SimParams, profiles: dict[str, str], first: date, day: date
) -> Iterable[dict[str, str]]:
    prepayers = [no for no, p in profiles.items() if p == Profile.prepay]
    if not prepayers:
        return []
    query = select(Loan.loan_no, Loan.disbursement_date, Loan.maturity_date).where(
        col(Loan.loan_no).in_(prepayers), col(Loan.state).in_(OPEN)
    )
    rows = []
    for loan_no, disbursed, maturity in session.execute(query):
        paid = prepay_day(params, loan_no, disbursed, maturity)
        if not first <= paid <= day:
            continue
        rest = session.execute(
            select(
                func.sum(
                    Installment.principal_due_cents
                    - Installment.principal_paid_cents
                    + Installment.interest_due_cents
                    - Installment.interest_paid_cents
                )
            )
            .join(Loan, col(Loan.id) == col(Installment.loan_id))
            .where(Loan.loan_no == loan_no, col(Installment.paid_off_on).is_(None))
        ).scalar_one()
        if rest:
            rows.append(_row(loan_no, 0, paid, int(rest)))
    return rows


def _row(loan_no: str, seq: int, paid: date, cents: int) -> dict[str, str]:
    kind = "P" if seq else "PREPAY"
    return {
        "payment_ref": f"{kind}-{loan_no}-{seq:03d}-{paid:%Y%m%d}",
        "loan_no": loan_no,
        "value_date": paid.isoformat(),
        "amount": yuan_text(cents),
    }


def yuan_text(cents: int) -> str:
    """Cents as a CSV amount in yuan (README "amount": two decimals, no separators)."""
    return f"{cents // 100}.{cents % 100:02d}"


def import_payments(
    session: Session, rows: list[dict[str, str]], *, source: str, now: datetime, day: date
) -> int:
    if not rows:
        return 0
    rows.sort(key=lambda r: (r["value_date"], r["payment_ref"]))
    report = import_rows(
        session, ImportKind.payments, rows, source=source, actor=ACTOR, now=now, business_date=day
    )
    return report.created


def next_payment(
    session: Session, params: SimParams, profile: str, loan_id: int, after: date
) -> date | None:
    """When this borrower will next pay something after `after` (what a collector's promise
    will turn out to be worth)."""
    loan = session.get(Loan, loan_id)
    if loan is None:
        return None
    days = [
        d
        for seq, due in session.execute(
            select(Installment.seq_no, Installment.due_date).where(
                Installment.loan_id == loan_id, col(Installment.paid_off_on).is_(None)
            )
        )
        if (d := payment_day(params, profile, loan.loan_no, seq, due)) is not None and d > after
    ]
    if profile == Profile.prepay:
        days.append(prepay_day(params, loan.loan_no, loan.disbursement_date, loan.maturity_date))
    return min((d for d in days if d > after), default=None)
