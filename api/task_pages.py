"""HTML pages of human tasks: /inbox (queue / inbox / archive tabs, filters, counts, overdue
highlighted) and /tasks/{id} (the form: errors beside fields, the user's input kept)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, PostedForm, SessionDep, commit
from api.errors import status_for
from api.i18n import language, state_label
from api.i18n_messages import error_message
from api.pages import render
from api.params import Code, CodeOrNone, Id, PageNo
from api.routes.attachments import store_upload
from approvals.queries import request_view
from cases.completion import EFFECTS, complete_recording_refusals
from core.errors import PostloanError, ValidationError
from core.identity import User, user_by_username
from forms import FORMS, error_messages, form_for, parse_form_fields, render_form
from statemachines.enums import RequestKind, TaskState
from tasks import service
from tasks.access import facts_for
from tasks.escalation import notifications_for
from tasks.people import eligible_assignees, eligible_inspectors
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
    kind: Code = "",
    loan_no: Code = "",
    overdue: Code = "",
    page: PageNo = 1,
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
    elif ctx.get("expected_graduation_date"):  # 毕业确认
        expected = ctx["expected_graduation_date"]
        parts.append(f"expected to graduate {expected}" if en else f"预计毕业 {expected}")
    elif task.kind == "student_contact" and ctx.get("period"):
        after = ctx["period"] == "after_graduation"
        if en:
            parts.append("after graduation" if after else f"yearly contact {ctx['period']}")
        else:
            parts.append("毕业后信息确认" if after else f"{ctx['period']} 年度联系")
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
    known = {p.user.id: p.user for p in actor.principals}
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
    choices = {}
    if "inspectors" in form_class.model_fields and task.loan_id is not None:
        choices["inspectors"] = [
            (u.username, u.full_name) for u in eligible_inspectors(session, task)
        ]
    unclaimed = TaskState(task.state) in (TaskState.open, TaskState.escalated)
    hand_facts, _ = facts_for(actor, task, "assign" if unclaimed else "delegate")
    may_hand = (
        TaskState(task.state).is_active
        and not actor.read_only
        and (hand_facts.is_supervisor or (not unclaimed and hand_facts.is_assignee))
    )
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
                task.kind,
                lang=lang,
                values=shown,
                errors=errors or {},
                readonly=not editable,
                choices=choices,
                attachment_url="/api/v1/attachments/{sha256}",
            ),
            "assignees": eligible_assignees(session, task) if may_hand else [],
            "hand_event": "assign" if unclaimed else "delegate",
            "people": {  # the signed-in user and whom they stand in for are known already
                user_id: known.get(user_id) or session.get(User, user_id)
                for user_id in (task.assignee_id, task.completed_by_id, task.on_behalf_of_id)
                if user_id is not None
            },
            "errors": errors or {},
            "message": message,
            "overdue": is_overdue(task, today),
            "today": today,
        },
        status_code=status_code,
    )


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(
    task_id: Id,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    saved: CodeOrNone = None,
) -> Response:
    task = service.get_task(session, task_id, actor)
    message = {"draft": "draft_saved", "claimed": "claimed", "assigned": "assigned"}.get(
        saved or ""
    )
    return _task_page(request, session, actor, task, clock.today(), message=message)


@router.post("/tasks/{task_id}/claim")
def claim_from_page(task_id: Id, session: SessionDep, actor: ActorDep, clock: ClockDep) -> Response:
    service.claim(session, task_id, actor, now=clock.now(), business_date=clock.today())
    commit(session)
    return RedirectResponse(f"/tasks/{task_id}?saved=claimed", status_code=303)


@router.post("/tasks/{task_id}/release")
def release_from_page(
    task_id: Id, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> Response:
    service.release(session, task_id, actor, now=clock.now(), business_date=clock.today())
    commit(session)
    return RedirectResponse("/inbox?view=queue", status_code=303)


@router.post("/tasks/{task_id}", response_class=HTMLResponse)
def submit_task_form(
    task_id: Id,
    request: Request,
    posted: PostedForm,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> Response:
    """Save a draft or complete. Who may is decided first: a stranger or an auditor stores
    nothing, files included. Then uploaded files are stored (by content hash) so that a form
    sent back with errors keeps them; nothing else is saved unless the form is valid."""
    task = service.get_task(session, task_id, actor)
    service.require_assignee(session, task, actor, "complete")  # before a file is stored
    action = str(posted.get("_action") or "complete")
    flat: dict[str, str | list[str]] = {}
    for name in posted:
        values = [v for v in posted.getlist(name) if isinstance(v, str)]
        if values:
            flat[name] = values if len(values) > 1 else values[0]
    data = parse_form_fields(task.kind, flat)
    for field, many in form_for(task.kind).attachment_fields().items():
        files = [f for f in posted.getlist(field) if isinstance(f, UploadFile) and f.filename]
        try:
            refs = [
                store_upload(session, f, actor, clock, field=field).model_dump(mode="json")
                for f in files
            ]
        except ValidationError as exc:  # a refused file: shown beside its field, nothing kept
            session.rollback()
            return _task_page(
                request, session, actor, task, clock.today(), values=data, status_code=422,
                errors=error_messages(exc, language(request)),
            )  # fmt: skip
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
        lang = language(request)
        errors = error_messages(exc, lang) if isinstance(exc, ValidationError) else {}
        field = exc.context.get("field")  # a refusal about one field is shown beside it
        if not errors and isinstance(field, str) and field in form_for(task.kind).model_fields:
            errors = {field: error_message(exc, lang)}
        task = service.get_task(session, task_id, actor)
        return _task_page(
            request,
            session,
            actor,
            task,
            clock.today(),
            values=data,
            status_code=status_for(exc),
            errors=errors or {"_": error_message(exc, lang)},
        )
    return RedirectResponse("/inbox?view=archive", status_code=303)


@router.post("/tasks/{task_id}/assign")
def assign_from_page(
    task_id: Id, posted: PostedForm, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> Response:
    """A supervisor hands the task to someone (分派 an unclaimed one, 转派 a claimed one)."""
    username, reason = str(posted.get("to") or ""), str(posted.get("reason") or "").strip()
    to = user_by_username(session, username)
    service.delegate(
        session, task_id, actor, to, now=clock.now(), business_date=clock.today(),
        reason=reason or None,
    )  # fmt: skip
    commit(session)
    return RedirectResponse(f"/tasks/{task_id}?saved=assigned", status_code=303)
