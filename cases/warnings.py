"""Early-warning cases (预警, DOMAIN §5): a signal about a loan — reported by a person or raised by
a flow (two broken promises, an inspection that found risk, arrears past a month) — opens a case
and its warning-disposition chain (account manager → head → committee). The chain's approval
grades it, names an owner, a plan and a deadline; a confirmed serious signal moves the loan to
*watched* and opens a classification proposal; the owner tracks the case to closure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from approvals import requests as approval_requests
from approvals.effects import field_error
from approvals.levels import Effects
from approvals.models import ApprovalRequest
from approvals.records import live_requests, tasks_of
from audit import journal
from audit.replay import OPEN_EVENT
from cases.models import WarningCase
from core.calendar import get_calendar
from core.errors import NotFoundError, ValidationError
from core.identity import OrgUnit, User
from forms import AttachmentRef, TaskForm
from forms.reviews import WarningTrackingForm
from loans.book import get_loan
from statemachines.enums import LoanState, RequestKind, WarningState
from statemachines.warning_case import WarningCaseLifecycle, WarningFacts
from tasks.access import Actor
from tasks.attachments import link, require_stored
from tasks.models import HumanTask
from tasks.opening import TaskSpec, open_task

WARNING = "warning"  # journal aggregate type
MACHINE = "warning_case"
TRACKING_BUSINESS_DAYS = 10  # the owner reports on the plan every ten business days

# 预警信号 (003 §21, 004, 001 §4–5): code → (中文, English)
SIGNALS: dict[str, tuple[str, str]] = {
    "guarantor_release": ("保证人要求解除担保", "Guarantor asks to be released"),
    "more_credit_or_new_plan": (
        "借款人要求增加借款或重新安排还款",
        "Asks for more money or a new plan",
    ),
    "business_changed": ("经营场所或主营业务变更", "Premises or business line changed"),
    "unreachable": ("借款人联系不上、经营场所经常关闭", "Unreachable, premises often closed"),
    "inventory_drop": ("存货大幅减少", "Inventory falls sharply"),
    "family_crisis": ("家庭危机", "Family crisis"),
    "payments_slower": ("还款比三个月前明显迟缓", "Payments slower than three months ago"),
    "broken_promises": ("两次违背还款承诺", "Two broken promises to pay"),
    "letters_unanswered": ("催收函未获回应", "Collection letters unanswered"),
    "management_change": ("股东或主要管理人员突然变更", "Shareholders or key managers change"),
    "partner_dispute": ("合伙人纠纷", "Partner disputes"),
    "price_drop": ("产品售价大幅下降", "Own selling prices fall sharply"),
    "account_changes": ("频繁更换结算账户", "Frequent change of bank accounts"),
    "sued_by_suppliers": ("被供应商起诉", "Sued by suppliers"),
    "customer_bankrupt": ("主要客户破产", "Main customer bankrupt"),
    "natural_disaster": ("所在地区发生自然灾害", "Natural disaster in the area"),
    "enforcement_or_licence": ("发现被执行或证照问题", "Court enforcement or licence problems"),
    "funds_diverted": ("贷款资金被挪用或回流", "Funds diverted or flowing back"),
    "borrowing_elsewhere": ("他行融资明显增加", "Rising borrowing at other banks"),
    "inspection_finding": ("贷后检查发现风险", "An inspection found risk"),
    "dpd_rise": ("逾期天数大幅上升", "A sharp rise in days past due"),
}


def _journal(
    session: Session,
    case: WarningCase,
    event: str,
    before: str | None,
    after: str,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    session.flush()
    journal.append(
        session,
        aggregate_type=WARNING,
        aggregate_id=str(case.id),
        machine=MACHINE,
        event=event,
        from_state=before,
        to_state=after,
        actor=actor,
        now=now,
        business_date=business_date,
        reason=reason,
        payload=payload,
    )


def raise_warning(
    session: Session,
    loan_no: str,
    actor: Actor | str,
    effects: Effects,
    *,
    signals: Sequence[str],
    description: str,
    evidence: Sequence[AttachmentRef] = (),
    key: str | None = None,
    now: datetime,
    business_date: date,
) -> WarningCase:
    """Open a warning case and its disposition chain. A flow passes a `key` (e.g. per loan and
    collection case): raised twice, it is one case."""
    errors = [
        {"field": "signals", "message": f"未知的预警信号：{s}", "message_en": f"unknown signal {s}"}
        for s in signals
        if s not in SIGNALS
    ]
    if not signals:
        errors.append(
            {
                "field": "signals",
                "message": "请至少选择一个预警信号",
                "message_en": "choose a signal",
            }
        )
    if not description.strip():
        errors.append(
            {"field": "description", "message": "请描述预警情况", "message_en": "describe it"}
        )
    if errors:
        raise ValidationError("预警不符合要求 (the warning is not acceptable)", errors=errors)
    if key is not None:
        existing = session.exec(select(WarningCase).where(WarningCase.key == key)).first()
        if existing is not None:
            return existing
    loan = get_loan(session, loan_no)
    if not LoanState(loan.state).is_open:
        raise field_error(
            "loan_no", "贷款已结清或核销", "the loan is closed", state=str(loan.state)
        )
    require_stored(session, evidence)
    branch = session.get(OrgUnit, loan.branch_id)
    assert branch is not None and loan.id is not None
    name = actor if isinstance(actor, str) else actor.name
    live = live_requests(session, [loan.id], RequestKind.warning.value).get(loan.id)
    if live is not None:  # a disposition is under way for this loan: the signals join its case
        return _join(session, case_of(session, live), signals, description, evidence,
                     actor=name, now=now, business_date=business_date)  # fmt: skip
    case = WarningCase(
        key=key or f"{name}:{loan_no}:{now.isoformat()}",
        loan_id=loan.id,
        loan_no=loan.loan_no,
        branch_path=branch.path,
        signals=list(dict.fromkeys(signals)),
        description=description.strip(),
        evidence=[e.model_dump(mode="json") for e in evidence],
        raised_by=name,
        raised_on=business_date,
    )
    try:
        with session.begin_nested():  # two flows raising the same keyed signal: one case
            session.add(case)
    except IntegrityError:
        return session.exec(select(WarningCase).where(WarningCase.key == case.key)).one()
    link(session, "case", case.id or 0, case.evidence)
    _journal(
        session,
        case,
        OPEN_EVENT,
        None,
        WarningState.raised,
        actor=name,
        now=now,
        business_date=business_date,
        reason=case.description,
        payload={"signals": case.signals, "loan_no": loan_no},
    )
    request = approval_requests.submit(
        session,
        RequestKind.warning,
        loan,
        actor,
        effects,
        reason=case.description,
        subject={"warning_case_id": case.id, "signals": case.signals},
        now=now,
        business_date=business_date,
    )
    case.request_id = request.id
    session.add(case)
    session.flush()
    return case


def _join(
    session: Session,
    case: WarningCase,
    signals: Sequence[str],
    description: str,
    evidence: Sequence[AttachmentRef],
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> WarningCase:
    """New signals on a loan whose warning is being disposed of join that case (once each), and
    the deciding level's task shows them."""
    new = [s for s in dict.fromkeys(signals) if s not in case.signals]
    if not new:
        return case
    case.signals = [*case.signals, *new]
    case.description = f"{case.description}\n{business_date}：{description.strip()}"
    case.evidence = [*case.evidence, *(e.model_dump(mode="json") for e in evidence)]
    session.add(case)
    session.flush()
    link(session, "case", case.id or 0, list(evidence))
    journal.append(
        session,
        aggregate_type=WARNING,
        aggregate_id=str(case.id),
        machine="warning_signals",  # not a state change of the case
        event="add_signals",
        from_state=None,
        to_state=None,
        actor=actor,
        now=now,
        business_date=business_date,
        reason=description.strip(),
        payload={"signals": new},
    )
    request = session.get(ApprovalRequest, case.request_id)
    assert request is not None  # a case joins only a live disposition's case
    for task in tasks_of(session, request, active_only=True):
        facts = {**task.context.get("facts", {}), "signals": case.signals}
        task.context = {**task.context, "facts": facts}
        session.add(task)
    return case


def case_of(session: Session, request: ApprovalRequest) -> WarningCase:
    case = session.get(WarningCase, int(request.subject["warning_case_id"]))
    if case is None:
        raise NotFoundError(
            "此申请的预警已不存在 (the request's warning case is gone)", request_id=request.id
        )
    return case


def fire_case(
    session: Session, case: WarningCase, event: str, facts: WarningFacts, **journal_kw: Any
) -> None:
    before = str(case.state)
    WarningCaseLifecycle.fire_on(case, event, facts=facts)
    session.add(case)
    _journal(session, case, event, before, str(case.state), actor=facts.actor, **journal_kw)


def open_tracking_task(
    session: Session,
    case: WarningCase,
    owner: User,
    number: int,
    actor: str,
    now: datetime,
    business_date: date,
) -> HumanTask:
    loan = get_loan(session, case.loan_no)
    unit = session.get(OrgUnit, owner.org_unit_id)
    assert unit is not None
    due = get_calendar().add_business_days(business_date, TRACKING_BUSINESS_DAYS)
    if number == 1 and case.deadline is not None and case.deadline >= business_date:
        due = min(due, case.deadline)  # the first report comes by the plan's deadline at latest
    task, _ = open_task(
        session,
        TaskSpec(
            kind="warning_tracking",
            key=f"warning:{case.id}:tracking:{number}",
            title=f"预警跟踪处置（第{number}次）· {loan.loan_no}",
            due_date=due,
            org_unit=unit,
            candidate_user=owner,
            loan=loan,
            context={
                "warning_case_id": case.id,
                "number": number,
                "signals": case.signals,
                "grade": case.grade,
                "disposal_plan": case.disposal_plan,
                "deadline": case.deadline.isoformat() if case.deadline else None,
            },
        ),
        actor=actor,
        now=now,
        business_date=business_date,
    )
    return task


def record_tracking(
    session: Session,
    task: HumanTask,
    form: TaskForm,
    actor: Actor,
    *,
    now: datetime,
    business_date: date,
) -> WarningCase:
    """The owner's report: resolved closes the case; otherwise the next report is due. A report
    the SLA escalated is filed by the head it went to, who may close the case too (complete_task
    has checked that the actor holds the task)."""
    assert isinstance(form, WarningTrackingForm)
    case = session.get(WarningCase, int(task.context["warning_case_id"]), with_for_update=True)
    if case is None:
        raise NotFoundError("未找到预警 (no such warning case)", task_id=task.id)
    owners = {p.user.id for p in actor.principals}
    if form.outcome == "resolved":
        fire_case(
            session,
            case,
            "close",
            WarningFacts(
                actor=actor.name,
                is_owner=case.owner_id in owners,
                took_over="escalated_from" in task.context,  # the SLA gave the report to a head
            ),
            now=now,
            business_date=business_date,
            reason=form.progress,
            payload={"task_id": task.id},
        )
        case.closed_on, case.outcome = business_date, form.progress
        session.add(case)
        return case
    owner = session.get(User, case.owner_id) if case.owner_id else None
    if owner is not None:
        open_tracking_task(
            session,
            case,
            owner,
            int(task.context.get("number", 1)) + 1,
            actor.name,
            now,
            business_date,
        )
    return case


def warnings_of_loan(session: Session, loan_id: int) -> list[WarningCase]:
    return list(
        session.exec(
            select(WarningCase)
            .where(WarningCase.loan_id == loan_id)
            .order_by(col(WarningCase.id).desc())
        ).all()
    )
