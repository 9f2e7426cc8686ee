"""A loan's whole history for auditors (回放): the journal of the loan and of everything that
belongs to it — its human tasks, approval requests, warning cases and collection cases — in one
order, with the attachments each entry's form references and the people it names. Read-only.
Lives here, the top domain layer, because it reads all of them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, and_, cast, false, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from approvals.records import APPROVAL
from audit.journal import JournalEntry
from cases.contacts import COLLECTION
from cases.models import CollectionCase, WarningCase
from cases.warnings import WARNING
from core.identity import User
from loans.book import LOAN
from tasks.attachments import hashes_in
from tasks.journaling import TASK
from tasks.models import Attachment, HumanTask

# every aggregate a loan's history gathers, and the table whose rows carry the loan's id
OWNED: dict[str, Any] = {
    TASK: HumanTask,
    APPROVAL: ApprovalRequest,
    WARNING: WarningCase,
    COLLECTION: CollectionCase,
}
AGGREGATES = (LOAN, *OWNED)


@dataclass(frozen=True)
class HistoryRow:
    entry: JournalEntry
    task: HumanTask | None = None
    request: ApprovalRequest | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def sort_key(self) -> tuple[date, int]:
        # business date, then the journal's append order (its id): wall times agree with ids in
        # a running bank, ids stay right when a test (or a clock fault) moves time backwards
        return (self.entry.business_date, self.entry.id or 0)

    @property
    def has_form(self) -> bool:
        return self.entry.form_kind is not None


@dataclass(frozen=True)
class LoanHistory:
    rows: list[HistoryRow]
    names: dict[str, str]  # "u:username" → full name, for every person an entry names

    def who(self, actor: str | None) -> str:
        if not actor:
            return ""
        return self.names.get(actor, actor)


def owned_ids(session: Session, loan_id: int) -> dict[str, list[str]]:
    """The journal aggregate ids of everything that belongs to the loan, by aggregate type."""
    found: dict[str, list[str]] = {}
    for aggregate, model in OWNED.items():
        ids = session.exec(select(model.id).where(model.loan_id == loan_id)).all()
        found[aggregate] = [str(i) for i in ids]
    return found


def _of_loan(loan_no: str, owned: dict[str, list[str]]) -> ColumnElement[bool]:
    clauses = [
        and_(col(JournalEntry.aggregate_type) == LOAN, col(JournalEntry.aggregate_id) == loan_no)
    ]
    for aggregate, ids in owned.items():
        if ids:
            clauses.append(
                and_(
                    col(JournalEntry.aggregate_type) == aggregate,
                    col(JournalEntry.aggregate_id).in_(ids),
                )
            )
    return or_(false(), *clauses)


def loan_history(
    session: Session, loan_id: int, loan_no: str, as_of: date | None = None
) -> LoanHistory:
    """Every entry of the loan and of what it owns, oldest first, up to `as_of` (inclusive)."""
    owned = owned_ids(session, loan_id)
    query = select(JournalEntry).where(_of_loan(loan_no, owned))
    if as_of is not None:
        query = query.where(col(JournalEntry.business_date) <= as_of)
    entries = list(session.exec(query).all())
    tasks = _by_id(session, HumanTask, owned[TASK])
    requests = _by_id(session, ApprovalRequest, owned[APPROVAL])
    files = attachments_of(session, entries)
    rows = [
        HistoryRow(
            entry,
            tasks.get(entry.aggregate_id) if entry.aggregate_type == TASK else None,
            requests.get(entry.aggregate_id) if entry.aggregate_type == APPROVAL else None,
            tuple(files[h] for h in sorted(hashes_in(entry.payload)) if h in files),
        )
        for entry in entries
    ]
    rows.sort(key=lambda r: r.sort_key)
    return LoanHistory(rows, names_in(session, entries))


def _by_id(session: Session, model: Any, ids: Sequence[str]) -> dict[str, Any]:
    if not ids:
        return {}
    rows = session.exec(select(model).where(col(model.id).in_([int(i) for i in ids]))).all()
    return {str(r.id): r for r in rows}


def attachments_of(session: Session, entries: Iterable[JournalEntry]) -> dict[str, Attachment]:
    """The stored files the entries' payloads reference by SHA-256 (one query)."""
    wanted = set().union(*(hashes_in(e.payload) for e in entries))
    if not wanted:
        return {}
    rows = session.exec(select(Attachment).where(col(Attachment.sha256).in_(sorted(wanted)))).all()
    return {r.sha256: r for r in rows}


def names_in(session: Session, entries: Iterable[JournalEntry]) -> dict[str, str]:
    """Full names of the people the entries name (actor, on behalf of, a task handed `to`)."""
    mentioned: set[str] = set()
    for e in entries:
        mentioned |= {a for a in (e.actor, e.on_behalf_of) if a and a.startswith("u:")}
        target = (e.payload or {}).get("to")
        if isinstance(target, str):
            mentioned.add(f"u:{target}")
    usernames = sorted(m.removeprefix("u:") for m in mentioned)
    if not usernames:
        return {}
    users = session.exec(select(User).where(col(User.username).in_(usernames))).all()
    return {f"u:{u.username}": u.full_name for u in users}


def loan_no_of(session: Session, entry: JournalEntry) -> str | None:
    """The loan an entry belongs to (None: an entry of nothing a loan owns, e.g. a sign-in)."""
    if entry.aggregate_type == LOAN:
        return entry.aggregate_id
    model = OWNED.get(entry.aggregate_type)
    if model is None or not entry.aggregate_id.isdigit():
        return None
    row = session.get(model, int(entry.aggregate_id))
    return getattr(row, "loan_no", None) if row is not None else None


def id_column(model: Any) -> ColumnElement[str]:
    """A table's integer id as the journal's text aggregate id."""
    return cast(col(model.id), String)
