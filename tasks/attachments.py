"""Attachments (photos, signed notices): stored once by content hash (sha256); forms refer to
them by hash, so the journal that records the form records the evidence."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from core.errors import ValidationError
from core.settings import get_settings
from forms import AttachmentRef
from tasks.models import Attachment

ATTACHMENTS: Table = Attachment.__table__  # type: ignore[attr-defined]
MAX_BYTES = 20 * 1024 * 1024  # a phone photo or a scanned notice; larger files are refused


def storage_dir() -> Path:
    return Path(get_settings().attachments_dir)


def store(
    session: Session,
    *,
    data: bytes,
    filename: str,
    content_type: str,
    uploaded_by: int,
    now: datetime,
) -> AttachmentRef:
    if not data:
        raise ValidationError("the file is empty", errors=[{"field": "file", "message": "empty"}])
    if len(data) > MAX_BYTES:
        raise ValidationError(
            "the file is too large",
            errors=[{"field": "file", "message": f"larger than {MAX_BYTES // 1024 // 1024} MB"}],
        )
    digest = hashlib.sha256(data).hexdigest()
    path = storage_dir() / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{digest}.{uuid.uuid4().hex}.part")  # concurrent writers never clash
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    row = {
        "sha256": digest,
        "filename": filename[:200],
        "size": len(data),
        "content_type": content_type[:100] or "application/octet-stream",
        "uploaded_by_id": uploaded_by,
        "uploaded_at": now,
    }
    # the same file stored twice at once (two uploads, two flows) is one row, never an error
    session.connection().execute(insert(ATTACHMENTS).on_conflict_do_nothing(), [row])
    return AttachmentRef(
        sha256=digest,
        filename=filename[:200],
        size=len(data),
        content_type=content_type or "application/octet-stream",
    )


def read(sha256: str) -> bytes:
    data = (storage_dir() / sha256[:2] / sha256).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValidationError(f"attachment {sha256} is corrupted on disk")
    return data


def require_stored(session: Session, refs: Iterable[AttachmentRef]) -> None:
    wanted = {r.sha256 for r in refs}
    if not wanted:
        return
    found = set(session.exec(select(Attachment.sha256).where(Attachment.sha256.in_(wanted))).all())  # type: ignore[attr-defined]
    missing = sorted(wanted - found)
    if missing:
        raise ValidationError(
            "attachments must be uploaded before the form is submitted",
            errors=[{"field": "attachments", "message": f"unknown file {h}"} for h in missing],
        )
