"""Replay pages for auditors (回放), read-only: a loan's timeline as of any date with its
lifecycle diagram, one journal entry with the form exactly as it was submitted, and the journal
across loans. Anyone who may see the loan may read its timeline and entries; the cross-loan
journal is for auditors and administrators."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from api import lifecycle_diagram
from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.i18n import EVENTS, REQUEST_STATES, WARNING_STATES, language, lookup, state_label
from api.i18n_messages import TASK_EVENTS, TASK_STATES
from api.i18n_replay import REPLAY_EVENTS
from api.pages import render
from api.params import CodeOrNone, Id, LoanNo, PageNo
from api.routes.audit import require_auditor_or_admin
from api.routes.loans import org_paths
from approvals.models import ApprovalRequest
from approvals.records import APPROVAL
from audit.journal import JournalEntry
from cases.journal_search import checked_filters, people, search_journal
from cases.loan_history import AGGREGATES, HistoryRow, loan_history, loan_no_of, names_in
from cases.warnings import WARNING
from core.errors import NotFoundError
from core.settings import get_settings
from forms import FORMS, render_form
from forms.released import reopen
from loans.book import LOAN
from loans.queries import replay_loan, visible_loan
from tasks.journaling import TASK
from tasks.models import HumanTask

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
PAGE = 50
# The diagram is our own SVG shown through <img>: it may style itself, it runs and loads nothing.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"


def zoned(moment: datetime) -> str:
    """A stored (UTC) time in the bank's zone, to the second, with its offset."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    local = aware.astimezone(get_settings().tz)
    return local.strftime("%Y-%m-%d %H:%M:%S UTC%z")


def _labels(lang: str) -> dict[str, Any]:
    """How an entry reads on a page: its event and its from → to in the page language."""

    def event(entry: JournalEntry) -> str:
        if entry.aggregate_type == TASK:
            return lookup(TASK_EVENTS, entry.event, lang)
        table = REPLAY_EVENTS if entry.event in REPLAY_EVENTS else EVENTS
        return lookup(table, entry.event, lang)

    def state(entry: JournalEntry, value: str | None) -> str:
        if value is None:
            return "∅"
        if entry.aggregate_type == TASK:
            return lookup(TASK_STATES, value, lang)
        if entry.aggregate_type == APPROVAL:
            return lookup(REQUEST_STATES, value, lang)
        if entry.aggregate_type == WARNING:
            return lookup(WARNING_STATES, value, lang)
        return state_label(value, lang)

    return {"entry_event": event, "entry_state": state, "zoned": zoned}


@router.get("/loans/{loan_no}/timeline", response_class=HTMLResponse)
def timeline_page(
    request: Request,
    loan_no: LoanNo,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    as_of: date | None = None,
    aggregate: CodeOrNone = None,
    order: CodeOrNone = None,
) -> Response:
    """The loan's replay: state and class on `as_of`, every entry up to it, the diagram."""
    today = clock.today()
    replayed = replay_loan(session, loan_no, as_of, org_paths(actor), today=today)
    loan = visible_loan(session, loan_no, org_paths(actor))
    history = loan_history(session, loan.id or 0, loan_no, as_of)
    rows: list[HistoryRow] = history.rows
    if aggregate in AGGREGATES:
        rows = [r for r in rows if r.entry.aggregate_type == aggregate]
    if order == "newest":
        rows = list(reversed(rows))
    path = lifecycle_diagram.lifecycle_path(replayed.result.applied)
    lang = language(request)
    return render(
        request,
        "timeline.html.j2",
        {
            "actor": actor,
            "loan": loan,
            "h": replayed,
            "rows": rows,
            "total": len(history.rows),
            "who": history.who,
            "as_of": as_of,
            "today": today,
            "aggregates": AGGREGATES,
            "filters": {"aggregate": aggregate or "", "order": order or "oldest"},
            "path": path,
            "diagram": lifecycle_diagram.available(),
            "diagram_query": f"?as_of={as_of.isoformat()}" if as_of else "",
            **_labels(lang),
        },
    )


@router.get("/loans/{loan_no}/timeline/lifecycle.svg")
def lifecycle_svg(
    loan_no: LoanNo,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    as_of: date | None = None,
) -> Response:
    """The lifecycle diagram with this loan's path (as of a date) highlighted, as SVG."""
    replayed = replay_loan(session, loan_no, as_of, org_paths(actor), today=clock.today())
    path = lifecycle_diagram.lifecycle_path(replayed.result.applied)
    try:
        svg = lifecycle_diagram.lifecycle_svg(path)
    except lifecycle_diagram.DiagramUnavailableError:
        raise NotFoundError(
            "未安装 Graphviz，无法绘制生命周期图 (graphviz is not installed: no diagram)"
        ) from None
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": SVG_CSP, "Cache-Control": "private, max-age=300"},
    )


def _entry_of_visible_loan(
    session: SessionDep, entry_id: int, actor: ActorDep
) -> tuple[JournalEntry, str]:
    """The entry and its loan, if the reader may see that loan; "not found" alike otherwise."""
    entry = session.get(JournalEntry, entry_id)
    loan_no = loan_no_of(session, entry) if entry is not None else None
    if entry is None or loan_no is None:
        raise NotFoundError(
            f"未找到日志 {entry_id} (no journal entry {entry_id})", entry_id=entry_id
        )
    try:
        visible_loan(session, loan_no, org_paths(actor))
    except NotFoundError:
        raise NotFoundError(
            f"未找到日志 {entry_id} (no journal entry {entry_id})", entry_id=entry_id
        ) from None
    return entry, loan_no


@router.get("/journal/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: Id, session: SessionDep, actor: ActorDep) -> Response:
    """One entry: who, when, on whose behalf, for which task or request, and the form exactly as
    it was submitted (rendered read-only through its template from the stored payload, upgraded
    from the version its schema hash says), with its attachments."""
    entry, loan_no = _entry_of_visible_loan(session, entry_id, actor)
    lang = language(request)
    task = _owner(session, HumanTask, entry, TASK)
    approval = _owner(session, ApprovalRequest, entry, APPROVAL)
    if task is None and approval is not None:  # a decision: the task it was made in
        task_id = (entry.payload or {}).get("task_id")
        task = session.get(HumanTask, int(task_id)) if isinstance(task_id, int) else None
    source = _form_entry(session, entry)
    stored, form_html = None, None
    if source.form_kind in FORMS and source.aggregate_type == TASK:  # the form as submitted
        fallback = task.form_schema_version if task is not None else None
        stored = reopen(source.form_kind, dict(source.payload or {}), source.schema_hash, fallback)
        form_html = render_form(
            source.form_kind,
            lang=lang,
            values=stored.values,
            readonly=True,
            attachment_url="/api/v1/attachments/{sha256}",
        )
    row = HistoryRow(entry, task, approval, _files(session, source))
    names = names_in(session, [entry, source])
    return render(
        request,
        "journal_entry.html.j2",
        {
            "actor": actor,
            "row": row,
            "e": entry,
            "source": source,
            "loan_no": loan_no,
            "task": task,
            "approval": approval,
            "stored": stored,
            "form_html": form_html,
            "who": lambda name: names.get(name, name) if name else "",
            "payload_json": json.dumps(entry.payload, ensure_ascii=False, indent=2, sort_keys=True),
            **_labels(lang),
        },
    )


def _form_entry(session: SessionDep, entry: JournalEntry) -> JournalEntry:
    """Where the form's data is: an approval decision records only the decision and its task;
    the form itself is in that task's completion (same transaction, same person)."""
    payload = entry.payload or {}
    request_id = payload.get("approval_request_id")
    if entry.aggregate_type == LOAN and isinstance(request_id, int):  # the effect of a decision
        decision = session.exec(
            select(JournalEntry)
            .where(
                JournalEntry.aggregate_type == APPROVAL,
                JournalEntry.aggregate_id == str(request_id),
                col(JournalEntry.form_kind).is_not(None),
                col(JournalEntry.id) < (entry.id or 0),
            )
            .order_by(col(JournalEntry.id).desc())
        ).first()
        return _form_entry(session, decision) if decision is not None else entry
    task_id = payload.get("task_id")
    if entry.aggregate_type != APPROVAL or not isinstance(task_id, int):
        return entry
    completion = session.exec(
        select(JournalEntry)
        .where(
            JournalEntry.aggregate_type == TASK,
            JournalEntry.aggregate_id == str(task_id),
            JournalEntry.event == "complete",
        )
        .order_by(col(JournalEntry.chain_seq).desc())
    ).first()
    return completion or entry


def _owner(session: SessionDep, model: Any, entry: JournalEntry, aggregate: str) -> Any:
    if entry.aggregate_type != aggregate or not entry.aggregate_id.isdigit():
        return None
    return session.get(model, int(entry.aggregate_id))


def _files(session: SessionDep, entry: JournalEntry) -> tuple[Any, ...]:
    from cases.loan_history import attachments_of
    from tasks.attachments import hashes_in

    files = attachments_of(session, [entry])
    return tuple(files[h] for h in sorted(hashes_in(entry.payload)) if h in files)


@router.get("/audit/journal", response_class=HTMLResponse)
def audit_journal_page(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    who: CodeOrNone = None,
    event: CodeOrNone = None,
    start: date | None = None,
    end: date | None = None,
    branch: CodeOrNone = None,
    aggregate: CodeOrNone = None,
    page: PageNo = 1,
) -> Response:
    """The journal across loans, filtered as /api/v1/audit/journal is."""
    require_auditor_or_admin(actor)
    filters = checked_filters(session, actor=who, event=event, start=start, end=end,
                              branch=branch, aggregate=aggregate)  # fmt: skip
    found, count = search_journal(session, filters, limit=PAGE, offset=(page - 1) * PAGE)
    names = people(session, found)
    lang = language(request)
    query = {"who": who, "event": event, "start": start, "end": end, "branch": branch,
             "aggregate": aggregate}  # fmt: skip
    return render(
        request,
        "audit_journal.html.j2",
        {
            "actor": actor,
            "found": found,
            "count": count,
            "page": page,
            "pages": max(1, -(-count // PAGE)),
            "filters": {k: ("" if v is None else str(v)) for k, v in query.items()},
            "aggregates": AGGREGATES,
            "who": lambda name: names.get(name, name) if name else "",
            **_labels(lang),
        },
    )
