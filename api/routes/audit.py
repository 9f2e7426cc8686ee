"""/api/v1/audit: journal verification, the journal across loans (replay) and its exports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.params import CodeOrNone, Limit, Offset
from api.replay_schemas import JournalSearchEntryPublic, JournalSearchPublic, entry_public
from api.routes.attachments import content_disposition
from api.schemas import VerifyFindingPublic, VerifyPublic
from audit.event_log import ExportFilter, ExportStats
from audit.exports import FORMATS, ExportFormat, export_chunks, filename
from audit.verify import verify_journal
from cases.journal_search import checked_filters, people, search_journal
from core.errors import PermissionDeniedError
from core.identity import Role
from reports.journal_cases import BookCases
from tasks.access import Actor

router = APIRouter(prefix="/audit", tags=["audit"], route_class=OneHopRoute)


def require_auditor_or_admin(
    actor: Actor,
    refusal: str = "日志查询仅限审计人员与管理员 (the journal is for auditors and administrators)",
) -> None:
    """The journal's own routes (verify, search, export) are for auditors and administrators."""
    if not (actor.read_only or Role.admin in actor.me.roles):
        raise PermissionDeniedError(refusal)


@router.get("/verify", response_model=VerifyPublic, responses=error_responses(401, 403))
def verify(session: SessionDep, actor: ActorDep) -> VerifyPublic:
    require_auditor_or_admin(
        actor,
        "日志校验仅限审计人员与管理员 (journal verification is for auditors and administrators)",
    )
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


# --- replay: the journal across loans (稽核查询) ---------------------------------------------


@router.get(
    "/journal", response_model=JournalSearchPublic, responses=error_responses(401, 403, 422)
)
def read_journal(
    session: SessionDep,
    actor: ActorDep,
    actor_filter: Annotated[
        CodeOrNone,
        Query(alias="actor", description="操作人：用户名或系统名 (username or system:…)"),
    ] = None,
    event: CodeOrNone = None,
    start: Annotated[
        date | None, Query(alias="from", description="业务日期起 (from, inclusive)")
    ] = None,
    end: Annotated[date | None, Query(alias="to", description="业务日期止 (to, inclusive)")] = None,
    branch: Annotated[
        CodeOrNone, Query(description="机构代码，含下级 (org unit and below)")
    ] = None,
    aggregate: Annotated[
        CodeOrNone, Query(description="loan / task / approval / warning / collection")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JournalSearchPublic:
    """Journal entries across loans matching every filter, oldest first — e.g. everything
    head_bj approved in March: `?actor=head_bj&event=approve&from=2025-03-01&to=2025-03-31`."""
    require_auditor_or_admin(actor)
    filters = checked_filters(session, actor=actor_filter, event=event, start=start, end=end,
                              branch=branch, aggregate=aggregate)  # fmt: skip
    found, count = search_journal(session, filters, limit=limit, offset=offset)
    names = people(session, found)
    return JournalSearchPublic(
        data=[
            JournalSearchEntryPublic(**entry_public(f.row, names).model_dump(), loan_no=f.loan_no)
            for f in found
        ],
        count=count,
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The journal as an event log (a download): CSV, XES or OCEL 2.0 JSON.",
            "content": {"text/csv": {}, "application/xml": {}, "application/json": {}},
        },
        **error_responses(401, 403, 422),
    },
)
def export(
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    fmt: Annotated[
        ExportFormat,
        Query(alias="format", description="csv | xes (IEEE 1849) | ocel (OCEL 2.0 JSON)"),
    ] = ExportFormat.csv,
    date_from: Annotated[date | None, Query(description="自该业务日期 (entries from)")] = None,
    date_to: Annotated[date | None, Query(description="至该业务日期 (entries up to)")] = None,
    branch: CodeOrNone = None,
) -> StreamingResponse:
    """日志导出: every journal entry of each loan and of its tasks, requests and cases, one case
    per loan (sign-ins are not part of it). Streamed while it is read; the session is the
    request's, used again by the stream and closed at its end."""
    require_auditor_or_admin(
        actor, "日志导出仅限审计人员和管理员 (journal exports are for auditors and administrators)"
    )
    filt = ExportFilter(date_from, date_to, branch)
    filt.check()
    source = BookCases(session, filt)  # an unknown branch is a 422 here, before the stream

    def body() -> Iterator[str]:
        try:
            yield from export_chunks(session, source, fmt, filt, ExportStats())
        finally:
            session.close()

    name = filename(fmt, filt, clock.today().isoformat())
    return StreamingResponse(
        body(),
        media_type=FORMATS[fmt].media_type,
        headers={
            "Content-Disposition": content_disposition("attachment", name),
            "Cache-Control": "private, no-store",
        },
    )
