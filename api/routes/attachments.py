"""/api/v1/attachments: upload a file (stored by content hash) and read it back — only what the
reader may read (cases.attachment_access), images inline and everything else as a download, never
in the uploader's own type, under a policy that runs nothing."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, UploadFile
from fastapi.responses import Response
from sqlmodel import Session
from starlette.datastructures import UploadFile as StarletteUpload

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep, commit
from api.error_schema import error_responses
from api.params import Key
from cases.attachment_access import may_read
from core.clock import Clock
from core.errors import NotFoundError, PermissionDeniedError
from core.settings import get_settings
from forms import AttachmentRef
from tasks import attachments
from tasks.access import Actor
from tasks.models import Attachment

router = APIRouter(prefix="/attachments", tags=["attachments"], route_class=OneHopRoute)
# A file shown in a tab runs nothing and loads nothing, even if a browser mistook its type.
ATTACHMENT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def store_upload(
    session: Session, file: StarletteUpload, actor: Actor, clock: Clock, *, field: str = "file"
) -> AttachmentRef:
    """Store one uploaded file; read at most one byte past the cap, so an oversized file is
    refused without being held in memory. Sync: the upload is already spooled (memory or a
    temporary file), and this runs in the endpoint's thread beside its DB work."""
    limit = get_settings().attachment_max_bytes
    file.file.seek(0)
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise attachments.too_large(field, limit)
    return attachments.store(
        session,
        data=data,
        filename=file.filename or "file",
        content_type=file.content_type or "application/octet-stream",
        uploaded_by=actor.me.user.id or 0,
        now=clock.now(),
        field=field,
    )


@router.post(
    "", response_model=AttachmentRef, status_code=201, responses=error_responses(401, 403, 422)
)
def upload(
    file: UploadFile, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> AttachmentRef:
    if actor.read_only:
        raise PermissionDeniedError("审计人员不能上传文件 (auditors cannot upload files)")
    ref = store_upload(session, file, actor, clock)
    commit(session)
    return ref


def content_disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback name and the real one (Chinese names included) encoded."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "file"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/{sha256}", responses=error_responses(401, 404, 422))
def download(sha256: Key, session: SessionDep, actor: ActorDep) -> Response:
    """404 alike for a file that does not exist and one the reader may not read (as for tasks:
    a refusal would say the file exists)."""
    row = session.get(Attachment, sha256) if attachments.SHA256.fullmatch(sha256) else None
    if row is None or not may_read(session, actor, sha256):
        raise NotFoundError(f"no attachment {sha256}", sha256=sha256)
    data = attachments.read(sha256)
    media_type, inline = attachments.served_type(row, data)
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(
                "inline" if inline else "attachment", row.filename
            ),
            "Content-Security-Policy": ATTACHMENT_CSP,
            "Cache-Control": "private, no-cache",
        },
    )
