"""API schemas of replay (回放): a loan's full history and the journal across loans."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from api.schemas import JournalEntryPublic, LoanHistoryPublic, UtcDatetime
from cases.loan_history import HistoryRow
from forms.released import version_of
from tasks.models import Attachment


class AttachmentPublic(BaseModel):
    sha256: str
    filename: str
    content_type: str
    size: int
    uploaded_at: UtcDatetime
    url: str  # the download route (who may read the entry may read the file)


class HistoryEntryPublic(JournalEntryPublic):
    """One journal entry of the loan or of something it owns (task, request, case)."""

    id: int  # the journal's global id: /journal/{id} re-opens its form
    aggregate_type: str  # loan / task / approval / warning / collection
    aggregate_id: str
    actor_name: str | None  # the person's full name (None: a system actor)
    on_behalf_of_name: str | None
    form_kind: str | None
    schema_hash: str | None
    schema_version: int | None  # the version that hash was released as (forms/released.py)
    prev_hash: str
    attachments: list[AttachmentPublic]
    form_url: str | None  # the page that re-opens the submitted form read-only


class JournalSearchEntryPublic(HistoryEntryPublic):
    loan_no: str | None


class JournalSearchPublic(BaseModel):
    data: list[JournalSearchEntryPublic]
    count: int


class LoanReplayPublic(LoanHistoryPublic):
    """The loan's history as of a date: `state` and `risk_class` are the loan's on that date,
    folded from its journal through the machines (never read from today's columns); `entries`
    are every entry of the loan and of its tasks, approval requests and cases, oldest first."""

    state: str | None
    risk_class: str | None
    entries: list[HistoryEntryPublic]  # type: ignore[assignment]


def attachment_public(a: Attachment) -> AttachmentPublic:
    return AttachmentPublic(
        sha256=a.sha256,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        uploaded_at=a.uploaded_at,
        url=f"/api/v1/attachments/{a.sha256}",
    )


def entry_public(row: HistoryRow, names: Mapping[str, str]) -> HistoryEntryPublic:
    e = row.entry
    return HistoryEntryPublic(
        id=e.id or 0,
        seq=e.chain_seq,
        **e.model_dump(
            include={
                "aggregate_type",
                "aggregate_id",
                "business_date",
                "wall_time",
                "machine",
                "event",
                "from_state",
                "to_state",
                "actor",
                "on_behalf_of",
                "reason",
                "payload",
                "form_kind",
                "schema_hash",
                "hash",
                "prev_hash",
            }
        ),  # fmt: skip
        actor_name=names.get(e.actor),
        on_behalf_of_name=names.get(e.on_behalf_of) if e.on_behalf_of else None,
        schema_version=version_of(e.form_kind, e.schema_hash) if e.form_kind else None,
        attachments=[attachment_public(a) for a in row.attachments],
        form_url=f"/journal/{e.id}" if e.form_kind else None,
    )
