"""/api/v1/attachments: upload a file (stored by content hash) and read it back."""

from __future__ import annotations

import re

from fastapi import APIRouter, UploadFile
from fastapi.responses import Response

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep, commit
from core.errors import NotFoundError, PermissionDeniedError
from forms import AttachmentRef
from tasks import attachments
from tasks.models import Attachment

router = APIRouter(prefix="/attachments", tags=["attachments"], route_class=OneHopRoute)


@router.post("", response_model=AttachmentRef, status_code=201)
async def upload(
    file: UploadFile, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> AttachmentRef:
    if actor.read_only:
        raise PermissionDeniedError("auditors cannot upload files")
    ref = attachments.store(
        session,
        data=await file.read(),
        filename=file.filename or "file",
        content_type=file.content_type or "application/octet-stream",
        uploaded_by=actor.me.user.id or 0,
        now=clock.now(),
    )
    commit(session)
    return ref


@router.get("/{sha256}")
def download(sha256: str, session: SessionDep, actor: ActorDep) -> Response:
    row = session.get(Attachment, sha256) if re.fullmatch("[0-9a-f]{64}", sha256) else None
    if row is None:
        raise NotFoundError(f"no attachment {sha256}")
    return Response(
        attachments.read(sha256),
        media_type=row.content_type,
        headers={"Content-Disposition": f'inline; filename="{row.sha256[:12]}"'},
    )
