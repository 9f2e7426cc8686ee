"""The one entry point that completes a human task — over HTTP, from a page or by a bot — with
whatever follows from its kind, in the completing transaction: a level's decision moves its
approval request (and the chain advances); a collection contact records its quadrant and promise;
a warning report closes its case or schedules the next; an inspection that found risk raises a
warning signal; a graduation confirmation plans the student loan again; a student not reached
raises a warning signal. Refused four-eyes attempts are recorded on their own after the rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from approvals.decisions import decide
from approvals.kinds import EFFECTS as LOAN_EFFECTS
from approvals.levels import Effects
from cases import contacts, warnings
from cases.warning_chain import WarningEffect
from core.calendar import get_calendar
from core.clock import Clock
from core.db import commit
from core.errors import FourEyesError
from core.identity import Principal, User, principal_of
from forms import validate_form
from forms.student import GraduationConfirmationForm, StudentContactForm
from statemachines.enums import RequestKind
from tasks import service, student_work
from tasks.access import Actor
from tasks.models import HumanTask

EFFECTS: Effects = {**LOAN_EFFECTS, RequestKind.warning: WarningEffect()}
INSPECTIONS = frozenset(
    {"first_usage_check", "loan_card_check", "customer_visit", "collateral_check"}
)


def complete_task(
    session: Session,
    task_id: int,
    actor: Actor,
    data: Mapping[str, Any],
    *,
    now: datetime,
    business_date: date,
    expected_version: int | None = None,
) -> HumanTask:
    """Complete the task and apply what follows, in the caller's transaction."""
    task = service.complete(
        session,
        task_id,
        actor,
        data,
        now=now,
        business_date=business_date,
        expected_version=expected_version,
        decided_by_caller=True,  # the decision is recorded below, in this transaction
    )
    form = validate_form(task.kind, task.result or {})
    acting_as = actor.me
    if task.on_behalf_of_id is not None:  # a deputy: whom they stood in for, read at sign-in
        acting_as = next(
            (p for p in actor.deputy_for if p.user.id == task.on_behalf_of_id), None
        ) or _principal(session, task.on_behalf_of_id)
    if "approval_request_id" in task.context:
        decide(session, task, form, actor, acting_as, EFFECTS, now=now, business_date=business_date)
    elif task.kind == "collection_contact":
        contacts.record_contact(
            session, task, form, actor=actor.name, now=now, business_date=business_date
        )
    elif task.kind == "legal_referral":
        contacts.record_referral(
            session, task, form, actor=actor.name, now=now, business_date=business_date
        )
    elif task.kind == "warning_tracking":
        warnings.record_tracking(session, task, form, actor, now=now, business_date=business_date)
    elif isinstance(form, GraduationConfirmationForm):
        student_work.record_graduation(
            session, task, form, actor=actor.name, now=now, business_date=business_date,
            on_behalf_of=f"u:{acting_as.username}" if acting_as is not actor.me else None,
            calendar=get_calendar(),
        )  # fmt: skip
    elif isinstance(form, StudentContactForm) and not form.reached and task.loan_no:
        # 借款人联系不上 is an early-warning signal (DOMAIN §5)
        signal = ("unreachable", f"未联系上借款学生（{form.channel.label_zh}）", "student_contact")
        _raise(session, task, actor, *signal, now=now, business_date=business_date)
    elif task.kind in INSPECTIONS and getattr(form, "conclusion", None) == "risk" and task.loan_no:
        signal = ("inspection_finding", "检查结论为“发现风险”", "inspection")
        _raise(session, task, actor, *signal, now=now, business_date=business_date)
    return task


def _raise(
    session: Session,
    task: HumanTask,
    actor: Actor,
    signal: str,
    finding: str,
    key_kind: str,
    *,
    now: datetime,
    business_date: date,
) -> None:
    """The warning signal a completed task raises on its loan, once per task (keyed)."""
    assert task.loan_no is not None
    warnings.raise_warning(
        session,
        task.loan_no,
        actor,
        EFFECTS,
        signals=[signal],
        description=f"{task.title}：{finding}",
        key=f"{key_kind}:{task.id}",
        now=now,
        business_date=business_date,
    )


def _principal(session: Session, user_id: int) -> Principal:
    user = session.get(User, user_id)
    assert user is not None
    return principal_of(session, user)


def complete_recording_refusals(
    session: Session,
    task_id: int,
    actor: Actor,
    data: Mapping[str, Any],
    clock: Clock,
    *,
    expected_version: int | None = None,
) -> HumanTask:
    """Complete and commit; a four-eyes refusal rolls the attempt back and is then recorded in
    its own transaction (the journal keeps who tried)."""
    try:
        task = complete_task(
            session,
            task_id,
            actor,
            data,
            now=clock.now(),
            business_date=clock.today(),
            expected_version=expected_version,
        )
        commit(session)
        return task
    except FourEyesError as exc:
        session.rollback()
        service.record_refusal(
            session, task_id, actor, "complete", exc, now=clock.now(), business_date=clock.today()
        )
        commit(session)
        raise
