"""HTML pages (Jinja2, server-side): the loan list and a loan with its timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import csrf
from api.auth import COOKIE, ActorDep, issue_token
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
from api.i18n_messages import TASK_EVENTS, reason_text
from api.loan_timeline import loan_tasks, people, timeline
from api.params import CodeOrNone, LoanNo, PageNo, SearchOrNone
from api.routes.loans import org_paths
from api.signin_throttle import SignInLockedError, address, sign_in
from approvals.queries import list_requests, names_of, person
from approvals.requests import filing_options
from cases.warnings import SIGNALS, warnings_of_loan
from core.errors import AuthenticationError
from core.settings import get_settings
from forms import FORMS
from loans.queries import list_loans, loan_detail, replay_loan
from loans.student.view import student_view
from statemachines.enums import LoanState, RiskClass
from tasks.worklist import is_overdue

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
            "csrf_token": csrf.token_for(request),
            **context,
            "current_user": context["actor"].me.user if context.get("actor") else None,
            "lang": lang,
            "t": translator(lang),
            "LoanState": LoanState,
            "RiskClass": RiskClass,
            "yuan": lambda cents: f"{cents / 100:,.2f}",
            "state_label": lambda value: state_label(value, lang),
            "event_label": lambda value: lookup(EVENTS, value, lang),
            "task_event": lambda value: lookup(TASK_EVENTS, value, lang),
            "reason_text": lambda reason: reason_text(reason, lang),
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


def _login_form(
    request: Request, context: dict[str, Any], status_code: int = 200, **headers: str
) -> Response:
    """The login page; its token is bound to a pre-session cookie (against login CSRF)."""
    new_cookies: dict[str, str] = {}
    token = csrf.login_token_for(request, new_cookies)
    response = render(
        request, "login.html.j2", {**context, "csrf_token": token}, status_code=status_code
    )
    for name, value in new_cookies.items():
        csrf.set_cookie(response, name, value)
    response.headers.update(headers)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: SearchOrNone = None) -> Response:
    return _login_form(request, {"next": _safe_next(next), "error": None, "username": ""})


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    context: dict[str, Any] = {"next": _safe_next(next), "username": username}
    try:
        user = sign_in(session, username.strip(), password, address(request), clock)
    except AuthenticationError as exc:
        return _login_form(request, {**context, "error": exc.message}, 401)
    except SignInLockedError as exc:  # a correct password too: the lockout holds
        context.update(error=exc.message, locked=True)
        return _login_form(request, context, 429, **{"Retry-After": str(exc.retry_after)})
    response = RedirectResponse(_safe_next(next), status_code=303)
    csrf.set_cookie(
        response, COOKIE, issue_token(user, clock), max_age=get_settings().token_minutes * 60
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        COOKIE, httponly=True, samesite="lax", secure=get_settings().cookie_secure
    )
    return response


@router.get("/loans", response_class=HTMLResponse)
def loans_page(
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    state: CodeOrNone = None,
    risk_class: CodeOrNone = None,
    q: SearchOrNone = None,
    page: PageNo = 1,
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
    loan_no: LoanNo,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    as_of: date | None = None,
    filed: CodeOrNone = None,
) -> Response:
    today = clock.today()
    # as of a date: the whole page's loan facts are of that date (state, class, schedule,
    # payments, DPD, floor); a date outside the loan's life is refused (error page, 422)
    detail = loan_detail(session, loan_no, today, org_paths(actor), as_of=as_of)
    history = replay_loan(session, loan_no, as_of, org_paths(actor), today=today)
    tasks = loan_tasks(session, detail.loan.id or 0, actor)
    rows = timeline(session, list(history.result.applied), tasks, as_of)
    known = people(session, tasks, rows)
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
            "tasks": tasks,
            "timeline": rows,
            "user_name": lambda user_id: getattr(known["by_id"].get(user_id), "full_name", ""),
            "who": lambda actor_name: person(known["by_name"], actor_name),
            "is_overdue": lambda t: is_overdue(t, today),
            "actor": actor,
            "requests": requests,
            "person": lambda who: person(names, who),
            "warnings": warnings_of_loan(session, detail.loan.id or 0),
            "options": filing_options(session, detail.loan, actor),
            "filed": filed,
            "student": student_view(session, detail.loan.id or 0, detail.loan.product, detail.on),
        },
    )
