"""HTML pages of human tasks: /inbox (queue / inbox / archive tabs, filters, counts, overdue
highlighted) and /tasks/{id} (the form: errors beside fields, the user's input kept)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep, commit
from api.errors import status_for
from api.i18n import language, state_label
from api.pages import render
from approvals.queries import request_view
from cases.completion import EFFECTS, complete_recording_refusals
from core.errors import PostloanError, ValidationError
from forms import FORMS, error_messages, form_for, parse_form_fields, render_form
from statemachines.enums import RequestKind, TaskState
from tasks import attachments, service
from tasks.access import facts_for
from tasks.escalation import notifications_for
from tasks.worklist import TaskFilter, View, counts, is_overdue, worklist

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
PAGE = 30


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    view: View = View.queue,
    kind: str = "",
    loan_no: str = "",
    overdue: str = "",
    page: int = 1,
) -> Response:
    today, page = clock.today(), max(page, 1)
    filters = TaskFilter(
        kind=kind or None,
        loan_no=loan_no.strip() or None,
        overdue={"yes": True, "no": False}.get(overdue),
    )
    rows, total = worklist(
        session, actor, view, today=today, filters=filters, limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "inbox.html.j2",
        {
            "actor": actor,
            "view": view.value,
            "rows": rows,
            "total": total or 0,
            "page": page,
            "pages": max(1, -(-(total or 0) // PAGE)),
            "counts": counts(session, actor, today=today),
            "filters": {"kind": kind, "loan_no": loan_no, "overdue": overdue},
            "kinds": FORMS,
            "is_overdue": lambda t: is_overdue(t, today),
            "today": today,
            "summary": lambda t: summary(t, language(request)),
            "notifications": notifications_for(session, actor),
        },
    )


def summary(task: Any, lang: str) -> str:
    """One line of what an approval or collection task is about, for the inbox row."""
    ctx, facts = task.context or {}, (task.context or {}).get("facts") or {}
    en = lang == "en"
    parts: list[str] = []
    if "approval_request_id" in ctx:
        if facts.get("new_maturity_date"):
            months = facts.get("extension_months")
            parts.append(
                f"extend to {facts['new_maturity_date']} ({months} months)"
                if en
                else f"展期至 {facts['new_maturity_date']}（{months}个月）"
            )
            if facts.get("restructuring"):
                parts.append("restructuring" if en else "重组")
        if facts.get("proposed_class"):
            parts.append(
                ("proposed " if en else "建议") + state_label(facts["proposed_class"], lang)
            )
        if facts.get("risk_class"):
            floor = state_label(facts.get("floor"), lang)
            parts.append(
                f"{state_label(facts['risk_class'], lang)} ({'floor' if en else '底线'} {floor})"
            )
        if facts.get("days_past_due") is not None:
            parts.append(
                f"{facts['days_past_due']} days past due"
                if en
                else f"逾期 {facts['days_past_due']} 天"
            )
        name = ctx.get("level_name_en" if en else "level_name_zh")
        parts.append(
            f"{'level' if en else '第'} {ctx.get('level')}/{ctx.get('levels')} {name or ''}"
        )
    elif ctx.get("step_name_zh"):
        parts.append(str(ctx.get("step_name_en" if en else "step_name_zh")))
        if ctx.get("strategy_zh"):
            parts.append(str(ctx.get("strategy_en" if en else "strategy_zh")))
    return " · ".join(p for p in parts if p)


def _task_page(
    request: Request,
    session: Any,
    actor: Any,
    task: Any,
    today: date,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    lang = language(request)
    facts, _ = facts_for(actor, task, "complete")
    editable = TaskState(task.state) == TaskState.claimed and facts.is_assignee
    claim_facts, _ = facts_for(actor, task, "claim")
    can_claim = (
        TaskState(task.state) in (TaskState.open, TaskState.escalated)
        and claim_facts.is_candidate
        and not actor.read_only
    )
    form_class = form_for(task.kind)
    shown = values if values is not None else (task.result or task.draft or {})
    view, facts = None, task.context.get("facts")
    if "approval_request_id" in task.context:
        view = request_view(session, int(task.context["approval_request_id"]), actor)
        if TaskState(task.state).is_active:  # the decider sees the book as it is today
            facts = EFFECTS[RequestKind(view.request.kind)].describe(session, view.request, today)
    return render(
        request,
        "task.html.j2",
        {
            "actor": actor,
            "task": task,
            "v": view,
            "r": view.request if view else None,
            "facts": facts,
            "editable": editable,
            "can_claim": can_claim,
            "form_title": form_class.title_en if lang == "en" else form_class.title_zh,
            "form_html": render_form(
                task.kind, lang=lang, values=shown, errors=errors or {}, readonly=not editable
            ),
            "errors": errors or {},
            "message": message,
            "overdue": is_overdue(task, today),
            "today": today,
        },
        status_code=status_code,
    )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    task_id: int,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    saved: str | None = None,
) -> Response:
    task = service.get_task(session, task_id, actor)
    message = {"draft": "draft_saved", "claimed": "claimed"}.get(saved or "")
    return _task_page(request, session, actor, task, clock.today(), message=message)


@router.post("/tasks/{task_id}/claim")
def claim_from_page(
    task_id: int, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> Response:
    service.claim(session, task_id, actor, now=clock.now(), business_date=clock.today())
    commit(session)
    return RedirectResponse(f"/tasks/{task_id}?saved=claimed", status_code=303)


@router.post("/tasks/{task_id}/release")
def release_from_page(
    task_id: int, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> Response:
    service.release(session, task_id, actor, now=clock.now(), business_date=clock.today())
    commit(session)
    return RedirectResponse("/inbox?view=queue", status_code=303)


@router.post("/tasks/{task_id}", response_class=HTMLResponse)
async def submit_task_form(
    task_id: int, request: Request, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> Response:
    """Save a draft or complete. Uploaded files are stored first (by content hash) so that a
    form sent back with errors keeps them; nothing else is saved unless the form is valid."""
    task = service.get_task(session, task_id, actor)
    posted = await request.form()
    action = str(posted.get("_action") or "complete")
    flat: dict[str, str | list[str]] = {}
    for name in posted:
        values = [v for v in posted.getlist(name) if isinstance(v, str)]
        if values:
            flat[name] = values if len(values) > 1 else values[0]
    data = parse_form_fields(task.kind, flat)
    for field, many in form_for(task.kind).attachment_fields().items():
        files = [f for f in posted.getlist(field) if isinstance(f, UploadFile) and f.filename]
        refs = [
            attachments.store(
                session,
                data=await f.read(),
                filename=f.filename or "file",
                content_type=f.content_type or "application/octet-stream",
                uploaded_by=actor.me.user.id or 0,
                now=clock.now(),
            ).model_dump(mode="json")
            for f in files
        ]
        if refs:
            kept = data.get(field) or []
            data[field] = [*kept, *refs] if many else refs[-1]
    commit(session)  # the uploaded files, whatever happens to the form
    try:
        if action == "draft":
            service.save_draft(session, task_id, actor, data, now=clock.now())
            commit(session)
            return RedirectResponse(f"/tasks/{task_id}?saved=draft", status_code=303)
        complete_recording_refusals(session, task_id, actor, data, clock)
    except PostloanError as exc:  # shown on the form, with everything the user typed kept
        session.rollback()
        errors = error_messages(exc, language(request)) if isinstance(exc, ValidationError) else {}
        task = service.get_task(session, task_id, actor)
        return _task_page(
            request,
            session,
            actor,
            task,
            clock.today(),
            values=data,
            status_code=status_for(exc),
            errors=errors or {"_": exc.message},
        )
    return RedirectResponse("/inbox?view=archive", status_code=303)
