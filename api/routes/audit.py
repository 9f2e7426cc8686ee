"""/api/v1/audit: journal verification."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import ActorDep
from api.deps import OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.schemas import VerifyFindingPublic, VerifyPublic
from audit.verify import verify_journal
from core.errors import PermissionDeniedError
from core.identity import Role

router = APIRouter(prefix="/audit", tags=["audit"], route_class=OneHopRoute)


@router.get("/verify", response_model=VerifyPublic, responses=error_responses(401, 403))
def verify(session: SessionDep, actor: ActorDep) -> VerifyPublic:
    if not (actor.read_only or Role.admin in actor.me.roles):
        raise PermissionDeniedError("journal verification is for auditors and administrators")
    report = verify_journal(session.get_bind())  # a snapshot of its own, as the CLI's
    return VerifyPublic(
        ok=report.ok,
        chains=report.chains,
        entries=report.entries,
        anchors=report.anchors,
        breaks=[b.describe() for b in report.breaks],
        signed_anchors=report.signed_anchors,
        legacy_anchors=report.legacy_anchors,
        pending_anchors=report.pending_anchors,
        anchored_through=report.anchored_through,
        unanchored=report.unanchored,
        unanchored_first=report.unanchored_first,
        unanchored_last=report.unanchored_last,
        key_ids=report.key_ids,
        findings=[VerifyFindingPublic(**vars(b)) for b in report.breaks],
        summary=report.summary(),
    )
