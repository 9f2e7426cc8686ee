"""Who may read an attachment (object-level authorization of downloads): whoever may read a
task, an approval request or a warning case that references it, or its uploader while nothing
references it yet. Lives here, the top domain layer, because it asks all three."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from approvals.records import visible
from cases.models import WarningCase
from tasks.access import Actor, can_see
from tasks.models import AttachmentLink, HumanTask

T = TypeVar("T")
BATCH = 200  # referencing rows are read in batches: a much-used file never loads them all


def _owners(session: Session, model: type[T], sha256: str, owner_type: str) -> Iterable[T]:
    owner_ids = select(AttachmentLink.owner_id).where(
        AttachmentLink.sha256 == sha256, AttachmentLink.owner_type == owner_type
    )
    query = select(model).where(col(model.id).in_(owner_ids))  # type: ignore[attr-defined]
    return session.exec(query.execution_options(yield_per=BATCH))


def may_read(session: Session, actor: Actor, sha256: str) -> bool:
    """True when the actor may read the file. The caller answers "not found" otherwise, as for
    a task of another branch: a refusal would tell that the file exists."""
    kinds = set(
        session.exec(
            select(AttachmentLink.owner_type).where(AttachmentLink.sha256 == sha256).distinct()
        ).all()
    )
    if "task" in kinds and any(
        can_see(actor, t) for t in _owners(session, HumanTask, sha256, "task")
    ):
        return True
    if "request" in kinds and any(
        visible(session, actor, r) for r in _owners(session, ApprovalRequest, sha256, "request")
    ):
        return True
    if "case" in kinds:
        for case in _owners(session, WarningCase, sha256, "case"):
            if any(p.sees(case.branch_path) for p in actor.principals):
                return True
            request = session.get(ApprovalRequest, case.request_id) if case.request_id else None
            if request is not None and visible(session, actor, request):
                return True
    if kinds - {"upload"}:
        return False  # referenced: read through what references it
    uploaded = session.exec(
        select(AttachmentLink.owner_id).where(
            AttachmentLink.sha256 == sha256,
            AttachmentLink.owner_type == "upload",
            AttachmentLink.owner_id == actor.me.user.id,
        )
    ).first()
    return uploaded is not None
