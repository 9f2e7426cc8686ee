"""HTML pages (Jinja2, server-side): the loan list and a loan with its timeline."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClockDep, SessionDep, templates
from api.i18n import EVENTS, PRODUCTS, language, lookup, state_label, translator
from loans.queries import list_loans, loan_detail, replay_loan
from statemachines.enums import LoanState, RiskClass

router = APIRouter(include_in_schema=False)
PAGE = 50


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    lang = language(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "lang": lang,
            "t": translator(lang),
            "LoanState": LoanState,
            "RiskClass": RiskClass,
            "yuan": lambda cents: f"{cents / 100:,.2f}",
            "state_label": lambda value: state_label(value, lang),
            "event_label": lambda value: lookup(EVENTS, value, lang),
            "product_label": lambda value: lookup(PRODUCTS, value, lang),
        },
    )
    if request.query_params.get("lang"):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/loans", status_code=303)


@router.get("/loans", response_class=HTMLResponse)
def loans_page(
    request: Request,
    session: SessionDep,
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
    )
    return _render(
        request,
        "loans.html.j2",
        {
            "rows": rows,
            "count": count,
            "page": page,
            "pages": max(1, -(-count // PAGE)),
            "filters": {"state": state or "", "risk_class": risk_class or "", "q": q or ""},
        },
    )


@router.get("/loans/{loan_no}", response_class=HTMLResponse)
def loan_page(
    request: Request, loan_no: str, session: SessionDep, clock: ClockDep, as_of: date | None = None
) -> Response:
    detail = loan_detail(session, loan_no, clock.today())
    history = replay_loan(session, loan_no, as_of)
    return _render(
        request, "loan.html.j2", {"d": detail, "h": history, "as_of": as_of, "today": clock.today()}
    )


@router.get("/loans/{loan_no}/timeline")
def timeline_page(loan_no: str, as_of: date | None = None) -> RedirectResponse:
    suffix = f"?as_of={as_of.isoformat()}" if as_of else ""
    return RedirectResponse(f"/loans/{loan_no}{suffix}#timeline", status_code=303)
