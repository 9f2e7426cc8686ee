"""The journal across loans for auditors (稽核查询): by actor, event, business-date range, branch
(the org subtree of the loan an entry belongs to) and aggregate — "everything head_bj approved
in March". Read-only; served by ix_journal_actor_date / ix_journal_event_date (migration 0011)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, false, func, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from audit import journal_indexes  # noqa: F401  (the indexes these queries use)
from audit.journal import JournalEntry
from cases.loan_history import AGGREGATES, OWNED, HistoryRow, attachments_of, id_column, names_in
from core.db import subtree
from core.errors import ValidationError
from core.identity import OrgUnit
from loans.book import LOAN
from loans.models import Loan
from tasks.attachments import hashes_in


@dataclass(frozen=True)
class JournalFilters:
    actor: str | None = None  # a username ("head_bj" = "u:head_bj") or a system actor
    event: str | None = None
    start: date | None = None  # business date, inclusive
    end: date | None = None  # inclusive
    branch_path: str | None = None  # the org subtree of the entry's loan
    aggregate: str | None = None  # loan / task / approval / warning / collection


@dataclass(frozen=True)
class FoundEntry:
    row: HistoryRow
    loan_no: str | None


def actor_names(actor: str) -> list[str]:
    """How the journal spells an actor: people as `u:<username>`, flows as `system:<flow>`."""
    return [actor] if ":" in actor else [f"u:{actor}", actor]


def _in_branch(path: str) -> ColumnElement[bool]:
    loans = select(Loan.id).join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
    loans = loans.where(subtree(OrgUnit.path, path))
    clauses = [
        and_(
            col(JournalEntry.aggregate_type) == LOAN,
            col(JournalEntry.aggregate_id).in_(select(Loan.loan_no).where(col(Loan.id).in_(loans))),
        )
    ]
    for aggregate, model in OWNED.items():
        ids = select(id_column(model)).where(col(model.loan_id).in_(loans))
        clauses.append(
            and_(
                col(JournalEntry.aggregate_type) == aggregate,
                col(JournalEntry.aggregate_id).in_(ids),
            )
        )
    return or_(false(), *clauses)


def search_journal(
    session: Session, filters: JournalFilters, *, limit: int = 50, offset: int = 0
) -> tuple[list[FoundEntry], int]:
    """The entries that match every filter given, oldest first, one page; and how many match."""
    query = select(JournalEntry)
    f = filters
    if f.actor:
        query = query.where(col(JournalEntry.actor).in_(actor_names(f.actor)))
    if f.event:
        query = query.where(col(JournalEntry.event) == f.event)
    if f.start:
        query = query.where(col(JournalEntry.business_date) >= f.start)
    if f.end:
        query = query.where(col(JournalEntry.business_date) <= f.end)
    if f.aggregate:
        query = query.where(col(JournalEntry.aggregate_type) == f.aggregate)
    if f.branch_path is not None:
        query = query.where(_in_branch(f.branch_path))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = query.order_by(col(JournalEntry.business_date), col(JournalEntry.id))
    entries = list(session.exec(page.limit(limit).offset(offset)).all())
    files = attachments_of(session, entries)
    loans = _loan_nos(session, entries)
    found = [
        FoundEntry(
            HistoryRow(
                e,
                attachments=tuple(files[h] for h in sorted(hashes_in(e.payload)) if h in files),
            ),
            loans.get((e.aggregate_type, e.aggregate_id)),
        )
        for e in entries
    ]
    return found, int(total)


def _loan_nos(session: Session, entries: list[JournalEntry]) -> dict[tuple[str, str], str]:
    """The loan of each entry on the page, one query per aggregate type."""
    found = {(LOAN, e.aggregate_id): e.aggregate_id for e in entries if e.aggregate_type == LOAN}
    for aggregate, model in OWNED.items():
        ids = {int(e.aggregate_id) for e in entries
               if e.aggregate_type == aggregate and e.aggregate_id.isdigit()}  # fmt: skip
        if ids:
            rows = session.exec(select(model.id, model.loan_no).where(col(model.id).in_(ids)))
            found |= {(aggregate, str(i)): str(no) for i, no in rows}
    return found


def people(session: Session, found: list[FoundEntry]) -> dict[str, str]:
    return names_in(session, [f.row.entry for f in found])


def checked_filters(
    session: Session,
    *,
    actor: str | None,
    event: str | None,
    start: date | None,
    end: date | None,
    branch: str | None,
    aggregate: str | None,
) -> JournalFilters:
    """The filters, or a 422 naming the field: an unknown branch code or aggregate, a range
    that ends before it starts."""
    errors = []
    path = None
    if branch:
        unit = session.exec(select(OrgUnit).where(OrgUnit.code == branch)).first()
        if unit is None:
            errors.append({"field": "branch", "message": f"未知机构 {branch} (unknown branch)"})
        else:
            path = unit.path
    if aggregate and aggregate not in AGGREGATES:
        errors.append({
            "field": "aggregate",
            "message": f"须为 {'、'.join(AGGREGATES)} 之一 (one of {', '.join(AGGREGATES)})",
        })  # fmt: skip
    if start and end and end < start:
        errors.append({"field": "to", "message": "结束日期早于开始日期 (ends before it starts)"})
    if errors:
        raise ValidationError("查询条件有误 (invalid journal filters)", errors=errors)
    return JournalFilters(actor or None, event or None, start, end, path, aggregate or None)
