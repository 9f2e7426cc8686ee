"""The journal as an event log of loan cases (事件日志): every entry of a loan and of the tasks,
approval requests and cases about it, grouped per loan, for the exports (CSV, XES, OCEL 2.0).

audit/ knows the journal, not the tables of tasks, requests or cases (a higher layer): which
objects belong to which loan comes from a `CaseSource` the caller passes in (reports/journal_cases.py
reads it from the book). Entries of no loan — sign-ins, a task opened without a loan — are not part
of the log. Loans are read in keyset pages and each page's entries fetched by chain, so memory
stays flat however long the journal is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlmodel import Session

from audit.journal import JOURNAL
from core.errors import ValidationError

LOAN = "loan"  # the aggregate type of the case object itself (aggregate_id = loan_no)

# The columns the exports show (the payload, the form data itself, is left to the replay page).
COLUMNS = ("id", "aggregate_type", "aggregate_id", "chain_seq", "machine", "event", "from_state",
           "to_state", "business_date", "wall_time", "actor", "on_behalf_of", "reason",
           "form_kind", "hash")  # fmt: skip
_IN_CHUNK = 900  # ids per IN list: under every driver's bound-parameter limit


@dataclass(frozen=True)
class ExportFilter:
    """Which part of the log: entries by business date (inclusive), loans by branch subtree."""

    date_from: date | None = None
    date_to: date | None = None
    branch: str | None = None  # an org unit code: its loans and those of the units below it

    def check(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationError(
                f"起始日期 {self.date_from} 晚于截止日期 {self.date_to} "
                f"(date_from {self.date_from} is after date_to {self.date_to})",
                errors=[{"field": "date_to", "message": "截止日期早于起始日期",
                         "message_en": "date_to is before date_from"}],
            )  # fmt: skip


@dataclass(frozen=True)
class CaseObject:
    """A thing a loan case is made of: the loan itself, a task, an approval request, a case."""

    aggregate_type: str  # its journal aggregate type: loan, task, approval, warning, collection
    aggregate_id: str
    attributes: dict[str, Any] = field(default_factory=dict)  # static, shown with the object
    related: tuple[tuple[str, str], ...] = ()  # other objects it belongs to: (type, id)

    @property
    def key(self) -> tuple[str, str]:
        return (self.aggregate_type, self.aggregate_id)


@dataclass(frozen=True)
class Event:
    """One journal entry (the `COLUMNS` of it)."""

    id: int
    aggregate_type: str
    aggregate_id: str
    chain_seq: int
    machine: str
    event: str
    from_state: str | None
    to_state: str | None
    business_date: date
    wall_time: datetime  # always aware, in UTC
    actor: str
    on_behalf_of: str | None
    reason: str | None
    form_kind: str | None
    hash: str


@dataclass
class LoanCase:
    loan: CaseObject  # aggregate_type "loan", aggregate_id the loan number
    objects: list[CaseObject]  # the loan first, then what belongs to it
    events: list[Event]  # in the order they happened: wall time, then journal id

    @property
    def loan_no(self) -> str:
        return self.loan.aggregate_id


class CaseSource(Protocol):
    """What a higher layer knows about the book: the loans (of the filter's branch), and what
    belongs to each."""

    def loans(self, session: Session, *, after: int, limit: int) -> list[tuple[int, CaseObject]]:
        """The next `limit` loans by id after `after` (keyset), as (loan id, loan object)."""
        ...

    def members(self, session: Session, loan_ids: Sequence[int]) -> dict[int, list[CaseObject]]:
        """The tasks, requests and cases of those loans (not the loans themselves)."""
        ...


@dataclass
class ExportStats:
    cases: int = 0
    objects: int = 0
    events: int = 0


def _utc(moment: datetime) -> datetime:
    # SQLite gives naive datetimes back; the journal writes UTC only, so naive means UTC
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _entries(session: Session, keys: Sequence[tuple[str, str]], filt: ExportFilter) -> list[Event]:
    """The entries of these chains (in the date range): one indexed IN query per aggregate
    type and chunk, on the journal's (aggregate_type, aggregate_id, chain_seq) key."""
    by_type: dict[str, list[str]] = {}
    for aggregate_type, aggregate_id in keys:
        by_type.setdefault(aggregate_type, []).append(aggregate_id)
    cols = [JOURNAL.c[name] for name in COLUMNS]
    found: list[Event] = []
    for aggregate_type, ids in by_type.items():
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(*cols).where(
                JOURNAL.c.aggregate_type == aggregate_type,
                JOURNAL.c.aggregate_id.in_(ids[start : start + _IN_CHUNK]),
            )
            if filt.date_from is not None:
                query = query.where(JOURNAL.c.business_date >= filt.date_from)
            if filt.date_to is not None:
                query = query.where(JOURNAL.c.business_date <= filt.date_to)
            for row in session.execute(query):
                values = dict(zip(COLUMNS, row, strict=True))
                values["wall_time"] = _utc(values["wall_time"])
                found.append(Event(**values))
    return found


def loan_cases(
    session: Session, source: CaseSource, filt: ExportFilter = ExportFilter(), page: int = 500
) -> Iterator[LoanCase]:
    """Every loan case in loan-id order; a loan with no entry in the date range is left out."""
    after = 0
    while True:
        loans = source.loans(session, after=after, limit=page)
        if not loans:
            return
        members = source.members(session, [loan_id for loan_id, _ in loans])
        objects = {
            loan_id: [loan, *members.get(loan_id, [])] for loan_id, loan in loans
        }  # fmt: skip
        owner = {obj.key: loan_id for loan_id, objs in objects.items() for obj in objs}
        events: dict[int, list[Event]] = {}
        for event in _entries(session, list(owner), filt):
            events.setdefault(owner[(event.aggregate_type, event.aggregate_id)], []).append(event)
        for loan_id, loan in loans:
            mine = events.get(loan_id)
            if mine:
                mine.sort(key=lambda e: (e.wall_time, e.id))
                yield LoanCase(loan, objects[loan_id], mine)
        after = loans[-1][0]
        session.expunge_all()
