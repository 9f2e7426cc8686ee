"""HTML pages (Jinja2, server-side): the loan list and a loan with its timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import COOKIE, ActorDep, authenticate, issue_token
from api.deps import ClockDep, OneHopRoute, SessionDep, templates
from api.i18n import (
    DECISIONS,
    EVENTS,
    OUTCOME_LABELS,
    PRODUCTS,
    REQUEST_KINDS,
    REQUEST_STATES,
    WARNING_STATES,
    language,
    lookup,
    restructuring_reason,
    state_label,
    translator,
)
from api.routes.loans import org_paths
from approvals.queries import list_requests, names_of, person
from approvals.requests import filing_options
from cases.warnings import SIGNALS, warnings_of_loan
from core.errors import AuthenticationError
from core.settings import get_settings
from forms import FORMS
from loans.queries import list_loans, loan_detail, replay_loan
from statemachines.enums import LoanState, RiskClass
from tasks.worklist import ACTIVE, TaskFilter, View, is_overdue, worklist

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
PAGE = 50


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    lang = language(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "current_user": context["actor"].me.user if context.get("actor") else None,
            "lang": lang,
            "t": translator(lang),
            "LoanState": LoanState,
            "RiskClass": RiskClass,
            "yuan": lambda cents: f"{cents / 100:,.2f}",
            "state_label": lambda value: state_label(value, lang),
            "event_label": lambda value: lookup(EVENTS, value, lang),
            "product_label": lambda value: lookup(PRODUCTS, value, lang),
            "kind_name": lambda kind: lookup(REQUEST_KINDS, kind, lang),
            "request_state": lambda value: lookup(REQUEST_STATES, str(value), lang),
            "warning_state": lambda value: lookup(WARNING_STATES, str(value), lang),
            "decision_label": lambda value: lookup(DECISIONS, str(value), lang),
            "restructuring_reason": lambda code: restructuring_reason(code, lang),
            "outcome_label": lambda key: lookup(OUTCOME_LABELS, key, lang),
            "signal_label": lambda code: lookup(SIGNALS, code, lang),
            "local_time": lambda moment: _local(moment),
            "kind_label": lambda kind: (
                (FORMS[kind].title_en if lang == "en" else FORMS[kind].title_zh)
                if kind in FORMS
                else kind
            ),
        },
        status_code=status_code,
    )
    if request.query_params.get("lang"):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


def _local(moment: datetime | None) -> str:
    """A stored (UTC) time in the bank's time zone, to the minute."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


def _safe_next(target: str | None) -> str:
    # only local paths: never redirect a signed-in user to another site
    return target if target and target.startswith("/") and not target.startswith("//") else "/inbox"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(
        request, "login.html.j2", {"next": _safe_next(next), "error": None, "username": ""}
    )


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    try:
        user = authenticate(session, username.strip(), password)
    except AuthenticationError as exc:
        return render(
            request,
            "login.html.j2",
            {"next": _safe_next(next), "error": exc.message, "username": username},
            status_code=401,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        issue_token(user, clock),
        httponly=True,
        samesite="lax",
        max_age=get_settings().token_minutes * 60,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/loans", response_class=HTMLResponse)
def loans_page(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    state: str | None = None,
    risk_class: str | None = None,
    q: str | None = None,
    page: int = 1,
) -> Response:
    page = max(page, 1)
    rows, count = list_loans(
        session,
        state=state or None,
        risk_class=risk_class or None,
        q=q or None,
        limit=PAGE,
        offset=(page - 1) * PAGE,
        org_paths=org_paths(actor),
    )
    return render(
        request,
        "loans.html.j2",
        {
            "rows": rows,
            "count": count,
            "page": page,
            "pages": max(1, -(-count // PAGE)),
            "filters": {"state": state or "", "risk_class": risk_class or "", "q": q or ""},
            "actor": actor,
        },
    )


@router.get("/loans/{loan_no}", response_class=HTMLResponse)
def loan_page(
    request: Request,
    loan_no: str,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    as_of: date | None = None,
    filed: str | None = None,
) -> Response:
    today = clock.today()
    detail = loan_detail(session, loan_no, today, org_paths(actor))
    history = replay_loan(session, loan_no, as_of, org_paths(actor))
    open_tasks, _ = worklist(
        session,
        actor,
        View.all,
        today=today,
        with_total=False,
        filters=TaskFilter(loan_no=loan_no),
        limit=50,
    )
    open_tasks = [t for t in open_tasks if is_overdue(t, today) or t.state in ACTIVE]
    requests, _ = list_requests(session, actor, loan_id=detail.loan.id, limit=50)
    names = names_of(session, {r.requested_by.removeprefix("u:") for r in requests})
    return render(
        request,
        "loan.html.j2",
        {
            "d": detail,
            "h": history,
            "as_of": as_of,
            "today": today,
            "tasks": open_tasks,
            "is_overdue": lambda t: is_overdue(t, today),
            "actor": actor,
            "requests": requests,
            "person": lambda who: person(names, who),
            "warnings": warnings_of_loan(session, detail.loan.id or 0),
            "options": filing_options(session, detail.loan, actor),
            "filed": filed,
        },
    )


@router.get("/loans/{loan_no}/timeline")
def timeline_page(loan_no: str, as_of: date | None = None) -> RedirectResponse:
    suffix = f"?as_of={as_of.isoformat()}" if as_of else ""
    return RedirectResponse(f"/loans/{loan_no}{suffix}#timeline", status_code=303)
