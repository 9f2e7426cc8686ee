"""HTML pages of approval requests: filing one from the loan page (展期, 分类调整, 核销, 移交, 预警)
with errors beside the fields and the input kept, and a request's page — what is asked, the
chain's levels, who decided what before, what it changed — with withdrawal for its applicant."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, PostedForm, SessionDep, commit
from api.errors import status_for
from api.i18n import language
from api.i18n_messages import error_message
from api.pages import render
from api.params import CodeOrNone, Id, Key, LoanNo
from api.routes.attachments import store_upload
from api.routes.loans import org_paths
from approvals import filing
from approvals import requests as approval_requests
from approvals.queries import request_view
from cases.completion import EFFECTS
from cases.warnings import SIGNALS, raise_warning
from core.errors import PermissionDeniedError, PostloanError, ValidationError
from forms import AttachmentRef, error_messages
from loans.extensions import active_guarantors
from loans.models import Loan
from loans.queries import visible_loan
from statemachines.enums import RiskClass
from tasks.access import SUPERVISOR_ROLES, Actor, can_see

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)
KINDS = ("extension", "classification", "write_off", "handover", "warning_report")


def _may_file(session: Any, actor: Actor, loan_no: str, kind: str) -> Loan:
    """The loan, if the actor sees it (else 404) and may file `kind` on it now (else 403)."""
    loan = visible_loan(session, loan_no, org_paths(actor))
    if kind not in KINDS or kind not in approval_requests.filing_options(session, loan, actor):
        raise PermissionDeniedError(f"{actor.me.username} may not file {kind} for {loan_no}")
    return loan


def _form_page(
    request: Request,
    session: Any,
    actor: Actor,
    loan_no: str,
    kind: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    loan = _may_file(session, actor, loan_no, kind)
    return render(
        request,
        "apply.html.j2",
        {
            "actor": actor,
            "loan": loan,
            "kind": kind,
            "values": values or {},
            "errors": errors or {},
            "guarantors": active_guarantors(session, loan.id or 0),
            "classes": list(RiskClass),
            "signals": SIGNALS,
        },
        status_code=status_code,
    )


@router.get("/loans/{loan_no}/apply/{kind}", response_class=HTMLResponse)
def apply_page(
    loan_no: LoanNo, kind: Key, request: Request, session: SessionDep, actor: ActorDep
) -> Response:
    return _form_page(request, session, actor, loan_no, kind)


def _files(
    posted: FormData, name: str, session: Any, actor: Actor, clock: Any
) -> list[AttachmentRef]:
    files = [f for f in posted.getlist(name) if isinstance(f, UploadFile) and f.filename]
    return [store_upload(session, f, actor, clock, field=name) for f in files]


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "the date is not valid",
            errors=[
                {"field": field, "message": "日期格式应为 YYYY-MM-DD", "message_en": "YYYY-MM-DD"}
            ],
        ) from None


@router.post("/loans/{loan_no}/apply/{kind}", response_class=HTMLResponse)
def apply_submit(
    loan_no: LoanNo,
    kind: Key,
    request: Request,
    posted: PostedForm,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> Response:
    """File the request. Who may file is checked before anything is stored, files included."""
    loan = _may_file(session, actor, loan_no, kind)
    values = {k: posted.get(k) for k in posted if isinstance(posted.get(k), str)}
    values["signals"] = [s for s in posted.getlist("signals") if isinstance(s, str)]
    now, today = clock.now(), clock.today()
    reason = str(posted.get("reason") or posted.get("description") or "")
    try:
        if kind == "extension":
            consents = []
            for i, guarantor in enumerate(active_guarantors(session, loan.id or 0)):
                for ref in _files(posted, f"consent_{i}", session, actor, clock):
                    consents.append({"guarantor": guarantor, "attachment": ref.model_dump()})
            filed = filing.file_extension(
                session, loan_no, actor, EFFECTS,
                new_maturity_date=_date(str(posted.get("new_maturity_date") or ""), "new_maturity_date"),
                reason=reason, financial_difficulty=posted.get("financial_difficulty") == "on",
                guarantor_consents=consents, now=now, business_date=today,
            )  # fmt: skip
        elif kind == "classification":
            proposed = str(posted.get("proposed_class") or "")
            if proposed not in {c.value for c in RiskClass}:
                raise ValidationError("choose a class", errors=[
                    {"field": "proposed_class", "message": "请选择建议分类", "message_en": "choose a class"}
                ])  # fmt: skip
            filed = filing.propose_classification(
                session, loan_no, actor, EFFECTS, proposed_class=RiskClass(proposed), reason=reason,
                evidence=_files(posted, "evidence", session, actor, clock),
                now=now, business_date=today,
            )  # fmt: skip
        elif kind == "write_off":
            filed = filing.file_write_off(
                session, loan_no, actor, EFFECTS, reason=reason,
                evidence=_files(posted, "evidence", session, actor, clock),
                now=now, business_date=today,
            )  # fmt: skip
        elif kind == "handover":
            filed = filing.file_handover(
                session, loan_no, actor, EFFECTS, reason=reason, now=now, business_date=today
            )
        else:
            raise_warning(
                session, loan_no, actor, EFFECTS, signals=values["signals"], description=reason,
                evidence=_files(posted, "evidence", session, actor, clock),
                now=now, business_date=today,
            )  # fmt: skip
            commit(session)
            return RedirectResponse(f"/loans/{loan_no}?filed=warning#warnings", status_code=303)
        commit(session)
        return RedirectResponse(f"/requests/{filed.id}?filed=1", status_code=303)
    except PostloanError as exc:
        session.rollback()
        lang = language(request)
        shown = error_messages(exc, lang) if isinstance(exc, ValidationError) else {}
        return _form_page(
            request, session, actor, loan_no, kind, values=values,
            errors=shown or {"_": error_message(exc, language(request))}, status_code=status_for(exc),
        )  # fmt: skip


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request_id: Id,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    filed: CodeOrNone = None,
    withdrawn: CodeOrNone = None,
) -> Response:
    view = request_view(session, request_id, actor)
    r = view.request
    mine = r.requested_by_id in actor.user_ids
    supervisor = any(
        p.sees(r.branch_path) and bool(p.roles & SUPERVISOR_ROLES) for p in actor.principals
    )
    return render(
        request,
        "request.html.j2",
        {
            "actor": actor,
            "v": view,
            "r": r,
            "facts": next((t.context.get("facts") for t in view.open_tasks), None)
            or r.subject,
            "tasks": [t for t in view.open_tasks if can_see(actor, t)],
            "can_withdraw": (mine or supervisor) and not actor.read_only and r.state in (
                "submitted", "pending", "returned"
            ),
            "message": "filed" if filed else ("withdrawn" if withdrawn else None),
        },
    )  # fmt: skip


@router.post("/requests/{request_id}/withdraw")
def withdraw_from_page(
    request_id: Id, posted: PostedForm, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> Response:
    approval_requests.withdraw(
        session, request_id, actor, EFFECTS, reason=str(posted.get("reason") or "").strip() or "撤回",
        now=clock.now(), business_date=clock.today(),
    )  # fmt: skip
    commit(session)
    return RedirectResponse(f"/requests/{request_id}?withdrawn=1", status_code=303)
