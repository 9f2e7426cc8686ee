"""Attachments (photos, signed notices): stored once by content hash (sha256); forms refer to
them by hash, so the journal that records the form records the evidence. Only images and PDF
are accepted, and only when the bytes are what the uploader says; who may read a file is kept
in `attachment_links` (its uploader, then what references it)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from core.errors import NotFoundError, ValidationError
from core.settings import get_settings
from forms import AttachmentRef
from tasks.models import Attachment, AttachmentLink

ATTACHMENTS: Table = Attachment.__table__  # type: ignore[attr-defined]
LINKS: Table = AttachmentLink.__table__  # type: ignore[attr-defined]
OWNER_TYPES = ("upload", "task", "request", "case")
SHA256 = re.compile("[0-9a-f]{64}")

# What a person may upload, by the file's signature (its first bytes): a browser shown one of
# these under `nosniff` renders it as that type and never as a page.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8, checked below
    "application/pdf": (b"%PDF-",),
}
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
ALLOWED_LABEL = "JPEG、PNG、GIF、WebP 图片或 PDF"
ALLOWED_LABEL_EN = "JPEG, PNG, GIF or WebP images, or PDF"


def storage_dir() -> Path:
    return Path(get_settings().attachments_dir)


def sniff(data: bytes) -> str | None:
    """The allowed type these bytes are, by signature; None when they are none of them."""
    for media_type, heads in SIGNATURES.items():
        if any(data.startswith(h) for h in heads):
            if media_type == "image/webp" and data[8:12] != b"WEBP":
                continue
            return media_type
    return None


def base_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _checked_type(data: bytes, content_type: str, field: str) -> str:
    declared, found = base_type(content_type), sniff(data)
    if declared in ("", "application/octet-stream") and found is not None:
        return found  # a client that does not say: the bytes do
    if declared not in SIGNATURES:
        raise ValidationError(
            f"不接受此文件类型：{declared or '未知'} (file type {declared or 'unknown'} is not accepted)",
            errors=[{
                "field": field,
                "message": f"不接受此类文件（{declared or '未知类型'}），请上传{ALLOWED_LABEL}",
                "message_en": f"{declared or 'unknown type'} is not accepted: upload {ALLOWED_LABEL_EN}",
            }],
            content_type=declared,
        )  # fmt: skip
    if found != declared:
        raise ValidationError(
            f"文件内容与所称类型 {declared} 不符 (the file's content is not {declared})",
            errors=[{
                "field": field,
                "message": f"文件内容与所称类型（{declared}）不符",
                "message_en": f"the file's content is not {declared}",
            }],
            content_type=declared,
        )  # fmt: skip
    return declared


def too_large(field: str, limit: int) -> ValidationError:
    mb = limit / 1024 / 1024
    return ValidationError(
        f"文件超过 {mb:g} MB 上限 (the file is too large)",
        errors=[{
            "field": field,
            "message": f"文件超过 {mb:g} MB 上限",
            "message_en": f"larger than {mb:g} MB",
        }],
        max_bytes=limit,
    )  # fmt: skip


def store(
    session: Session,
    *,
    data: bytes,
    filename: str,
    content_type: str,
    uploaded_by: int,
    now: datetime,
    field: str = "file",
    generated: bool = False,
) -> AttachmentRef:
    """Keep a file and make it its uploader's. A person's upload must be an allowed type whose
    bytes match (422 naming `field` otherwise); `generated` is a document the system rendered
    itself (a notice), stored as it says it is and only ever served for download."""
    limit = get_settings().attachment_max_bytes
    if not data:
        raise ValidationError(
            "文件为空 (the file is empty)",
            errors=[{"field": field, "message": "文件为空", "message_en": "empty"}],
        )
    if len(data) > limit:
        raise too_large(field, limit)
    if not generated:
        content_type = _checked_type(data, content_type, field)
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
    connection = session.connection()
    connection.execute(insert(ATTACHMENTS).on_conflict_do_nothing(), [row])
    link = {"sha256": digest, "owner_type": "upload", "owner_id": uploaded_by}
    connection.execute(insert(LINKS).on_conflict_do_nothing(), [link])
    return AttachmentRef(
        sha256=digest,
        filename=filename[:200],
        size=len(data),
        content_type=content_type or "application/octet-stream",
    )


def hashes_in(value: Any) -> set[str]:
    """The attachment hashes a form, a draft, a request's subject or a case's evidence holds."""
    found: set[str] = set()
    if isinstance(value, AttachmentRef):
        found.add(value.sha256)
    elif isinstance(value, dict):
        digest = value.get("sha256")
        if isinstance(digest, str) and SHA256.fullmatch(digest):
            found.add(digest)
        for item in value.values():
            found |= hashes_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= hashes_in(item)
    return found


def link(session: Session, owner_type: str, owner_id: int, value: Any) -> None:
    """Record that a task / request / case references the attachments in `value`: whoever may
    read it may read them. Unknown hashes are skipped (they are refused where forms are checked)."""
    assert owner_type in OWNER_TYPES
    wanted = sorted(hashes_in(value))
    if not wanted:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    known = select(col(Attachment.sha256), literal(owner_type), literal(owner_id)).where(
        col(Attachment.sha256).in_(wanted)
    )
    statement = insert(LINKS).from_select(["sha256", "owner_type", "owner_id"], known)
    session.connection().execute(statement.on_conflict_do_nothing())


def read(sha256: str) -> bytes:
    try:
        data = (storage_dir() / sha256[:2] / sha256).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"附件 {sha256} 在存储中缺失 (attachment {sha256} is missing from storage)",
            sha256=sha256,
        ) from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValidationError(f"附件 {sha256} 已损坏 (attachment {sha256} is corrupted on disk)")
    return data


def served_type(row: Attachment, data: bytes) -> tuple[str, bool]:
    """The type a download is sent as, and whether it may show inline: the stored type only when
    the bytes prove it (a file stored before types were checked, or a generated notice, goes out
    as a download of unknown type), inline only for images."""
    declared = base_type(row.content_type)
    if declared in SIGNATURES and sniff(data) == declared:
        return declared, declared in INLINE_TYPES
    return "application/octet-stream", False


def require_stored(session: Session, refs: Iterable[AttachmentRef]) -> None:
    wanted = {r.sha256 for r in refs}
    if not wanted:
        return
    found = set(
        session.exec(select(Attachment.sha256).where(col(Attachment.sha256).in_(wanted))).all()
    )
    missing = sorted(wanted - found)
    if missing:
        raise ValidationError(
            "附件须在提交表单前上传 (attachments must be uploaded before the form is submitted)",
            errors=[
                {
                    "field": "attachments",
                    "message": f"未知文件 {h}",
                    "message_en": f"unknown file {h}",
                }
                for h in missing
            ],
        )
