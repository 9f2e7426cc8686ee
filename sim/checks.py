"""What must hold on every simulated day, checked against the system's own rules (never a copy of
them): no loan better than its regulatory floor at a month end (loans.floors), every inspection
the scheduler's plan calls for opened (tasks.inspections.plan_inspections), every inspection
registered late counted late by the report the bank is assessed on (reports.inspections), the
journal verifying against its signed anchors, and the replay of every loan's journal equal to its
stored state. Each check returns its failures (empty: it held)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from audit.journal import JournalEntry
from audit.replay import fold
from audit.verify import verify_journal
from core.calendar import get_calendar
from core.settings import get_settings
from loans.floors import floors_for
from loans.models import Loan
from loans.regulation import RuleBook
from loans.status_history import CLASSIFICATION, LIFECYCLE
from reports.inspections import INSPECTION_KINDS, late_inspections, registration_date
from statemachines.enums import LoanState, RiskClass, TaskState
from tasks.inspections import plan_inspections
from tasks.models import HumanTask

OPEN = tuple(s.value for s in LoanState if s.is_open)
SAMPLE = 5  # failures named per check


def better_than_floor(session: Session, on: date) -> list[str]:
    loans = session.exec(select(Loan).where(col(Loan.state).in_(OPEN))).all()
    floors = floors_for(session, loans, on, RuleBook.from_settings(get_settings()))
    bad = [
        f"{loan.loan_no}: {loan.risk_class} better than floor {floors[loan.id].risk_class}"
        for loan in loans
        if loan.id in floors
        and RiskClass(loan.risk_class).is_better_than(floors[loan.id or 0].risk_class)
    ]
    return _named(bad, f"{on}: loans better than their floor")


def inspections_opened(session: Session, on: date) -> list[str]:
    planned = {row.key for row in plan_inspections(session, on=on, calendar=get_calendar())}
    found: set[str] = set()
    keys = sorted(planned)
    for start in range(0, len(keys), 1000):
        found |= set(
            session.exec(
                select(HumanTask.key).where(col(HumanTask.key).in_(keys[start : start + 1000]))
            ).all()
        )
    return _named(sorted(planned - found), f"{on}: inspections due but never opened")


def late_ones_flagged(session: Session, on: date) -> list[str]:
    """The month's inspections registered after their due date, counted directly, against the
    late-inspection report's `late` for the same month."""
    start, settings = on.replace(day=1), get_settings()
    registered = registration_date(session, col(HumanTask.completed_at), settings)
    late = session.execute(
        select(func.count()).where(
            col(HumanTask.kind).in_(INSPECTION_KINDS),
            HumanTask.state == TaskState.completed.value,
            col(HumanTask.due_date).between(start, on),
            and_(registered > HumanTask.due_date, registered <= on),
        )
    ).scalar_one()
    rows = late_inspections(session, on=on, start=start)
    reported = sum(r.late for r in rows if r.manager is None)
    if late != reported:
        return [f"{on}: {late} inspections registered late, the report counts {reported}"]
    return []


def journal_verifies(session: Session) -> list[str]:
    report = verify_journal(session)
    return _named([f"{b.kind}: {b.detail}" for b in report.breaks], "journal breaks")


def replay_equals_state(session: Session) -> list[str]:
    """Fold every loan's chain through the machines; compare with the stored columns."""
    stored = {
        loan_no: (state, risk)
        for loan_no, state, risk in session.execute(
            select(Loan.loan_no, Loan.state, Loan.risk_class)
        )
    }
    bad: list[str] = []
    entries = session.exec(
        select(JournalEntry)
        .where(JournalEntry.aggregate_type == "loan")
        .order_by(col(JournalEntry.aggregate_id), col(JournalEntry.chain_seq))
    )
    chain: list[JournalEntry] = []
    current: str | None = None

    def close() -> None:
        if current is None:
            return
        states, problems = fold(chain)
        want = stored.pop(current, None)
        got = (states.get(LIFECYCLE), states.get(CLASSIFICATION))
        if problems or want is None or tuple(map(str, want)) != got:
            bad.append(f"loan {current}: replayed {got}, stored {want} {problems[:1]}")

    for entry in entries:
        if entry.aggregate_id != current:
            close()
            current, chain = entry.aggregate_id, []
        chain.append(entry)
    close()
    bad += [f"loan {loan_no}: no journal" for loan_no in stored]
    return _named(bad, "replay differs from the stored state")


def month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _named(failures: list[str], what: str) -> list[str]:
    if not failures:
        return []
    more = f" (+{len(failures) - SAMPLE} more)" if len(failures) > SAMPLE else ""
    return [f"{what}: {len(failures)}{more}: " + "; ".join(failures[:SAMPLE])]
