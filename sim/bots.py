"""Bots in place of people: each simulated day they answer the open tasks whose time has come,
through `cases.completion.complete_task` — the call the API and the pages make — as signed-in
users (the journal's actors are their accounts). A task's answer day is a draw from the seed:
most within a few days, some after their due date, some never by the first person (the SLA then
reassigns them, and the head answers). Approval levels are decided by whoever the chain allows,
four eyes included: a refused attempt moves on to the next candidate."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from cases.completion import complete_task
from core.db import session_scope
from core.errors import PostloanError
from core.identity import Principal, Role, User, principal_of
from core.settings import get_settings
from loans.models import Installment, Loan
from sim.borrowers import next_payment, yuan_text
from sim.forms import FILLERS, Context
from sim.params import SimParams, draw
from statemachines.enums import TaskState
from tasks import attachments, service
from tasks.access import Actor, is_candidate
from tasks.escalation import REMIND, sla_ladder
from tasks.models import HumanTask, TaskEscalation

ACTIVE = (TaskState.open.value, TaskState.claimed.value, TaskState.escalated.value)
REASSIGNING = tuple(s.number for s in sla_ladder() if s.action != REMIND)  # head, one level up
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def _pdf(text: str) -> bytes:
    return f"%PDF-1.4\n% {text}\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".encode()


@dataclass
class Staff:
    """Everyone a bot may act as, with their principal (roles, org path) loaded once."""

    principals: dict[int, Principal]
    files: dict[int, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Staff:
        users = session.exec(select(User).where(col(User.active))).all()
        return cls({u.id or 0: principal_of(session, u) for u in users})

    def colleague(self, user_id: int) -> str:
        """Who goes along on a visit (two people on site): someone of the same role in the
        same unit, else in the same branch, else anyone of that role."""
        me = self.principals[user_id]
        others = [p for uid, p in sorted(self.principals.items())
                  if uid != user_id and p.roles & me.roles]  # fmt: skip
        branch = "/".join(me.org_path.split("/")[:3]) + "/"
        for near in (me.org_path, branch, "/"):
            found = next((p.username for p in others if p.org_path.startswith(near)), None)
            if found:
                return found
        return me.username

    def candidates(self, task: HumanTask) -> list[int]:
        return [uid for uid, p in sorted(self.principals.items()) if is_candidate(p, task)]

    def evidence(self, user_id: int, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        """This user's photo and document, uploaded once in a transaction of their own (as a
        person uploads before submitting) and referred to by hash from then on."""
        if user_id not in self.files:
            name = self.principals[user_id].username
            with session_scope() as session:
                refs = [
                    attachments.store(session, data=data, filename=fn, content_type=ct,
                                      uploaded_by=user_id, now=now).model_dump(mode="json")
                    for data, fn, ct in (
                        (PNG + name.encode(), f"{name}-现场照片.png", "image/png"),
                        (_pdf(name), f"{name}-检查表.pdf", "application/pdf"),
                    )
                ]  # fmt: skip
            self.files[user_id] = (refs[0], refs[1])
        return self.files[user_id]


@dataclass
class BotDay:
    completed: Counter[str] = field(default_factory=Counter)
    late: int = 0  # completed after their due date
    refused: Counter[str] = field(default_factory=Counter)  # attempts refused (four eyes, rules)


def answer_day(params: SimParams, task: HumanTask, reassigned: date | None) -> date | None:
    """The day this task is answered (None: not by anyone yet)."""
    bots, tz = params.bots, get_settings().tz
    opened = task.created_at.astimezone(tz).date()
    roll = draw(params.seed, "answer", task.key)
    approval = "approval_request_id" in task.context
    if not approval and roll < bots.never_share:
        return reassigned + timedelta(days=2) if reassigned else None
    if roll < bots.never_share + bots.late_share:
        return max(opened, task.due_date) + timedelta(days=1 + int(roll * 1e6) % bots.late_by)
    return opened + timedelta(days=int(draw(params.seed, "delay", task.key) * (bots.typical + 1)))


def answer_tasks(
    params: SimParams,
    staff: Staff,
    profiles: dict[str, str],
    day: date,
    now: datetime,
    *,
    only: tuple[str, ...] | None = None,
) -> BotDay:
    """Answer the tasks whose answer day has come; with `only`, every open task of those kinds
    at once (the month-end classification meeting)."""
    result = BotDay()
    with session_scope() as session:
        query = select(HumanTask).where(col(HumanTask.state).in_(ACTIVE))
        if only:
            query = query.where(col(HumanTask.kind).in_(only))
        tasks = session.exec(query.order_by(col(HumanTask.id))).all()
        reassigned = dict(
            session.execute(
                select(TaskEscalation.task_id, func.max(TaskEscalation.business_date))
                .join(HumanTask, col(HumanTask.id) == col(TaskEscalation.task_id))
                .where(col(HumanTask.state).in_(ACTIVE), col(TaskEscalation.step).in_(REASSIGNING))
                .group_by(TaskEscalation.task_id)
            ).all()
        )
        due = [
            (t.id or 0, t.kind)
            for t in tasks
            if t.kind in FILLERS
            and (
                only
                or ((d := answer_day(params, t, reassigned.get(t.id))) is not None and d <= day)
            )
        ]
    for task_id, kind in due:
        _answer(params, staff, profiles, task_id, kind, day, now, result)
    return result


def _answer(
    params: SimParams,
    staff: Staff,
    profiles: dict[str, str],
    task_id: int,
    kind: str,
    day: date,
    now: datetime,
    result: BotDay,
) -> None:
    with session_scope() as session:
        task = session.get(HumanTask, task_id)
        assert task is not None
        people = staff.candidates(task) if task.assignee_id is None else [task.assignee_id]
        loan = session.get(Loan, task.loan_id) if task.loan_id is not None else None
        if loan is not None:  # a loan's own managers take its work first
            own = (loan.account_manager_id, loan.assistant_manager_id)
            people.sort(key=lambda uid: own.index(uid) if uid in own else len(own))
    if kind in BY_MANAGERS and loan is not None and people and not _manager(staff, people[0]):
        # a visit escalated to a head: the head assigns it to the loan's lead manager (a visit
        # is filed by one of its two inspectors, who are the branch's account managers)
        if not _assign(staff, task_id, people[0], loan.account_manager_id, day, now, result):
            return
        people = [loan.account_manager_id]
    for user_id in people:
        staff.evidence(user_id, now)  # uploaded before the form is submitted, as a person does
        try:
            with session_scope() as session:
                task = session.get(HumanTask, task_id)
                assert task is not None
                actor = Actor(staff.principals[user_id])
                if task.assignee_id is None:
                    service.claim(session, task_id, actor, now=now, business_date=day)
                data = FILLERS[kind](_context(session, params, staff, profiles, task, user_id,
                                              day, now))  # fmt: skip
                complete_task(session, task_id, actor, data, now=now, business_date=day)
                late = day > task.due_date
        except PostloanError as exc:
            result.refused[f"{kind}: {exc.code}"] += 1
            continue
        result.completed[kind] += 1
        result.late += late
        return


BY_MANAGERS = frozenset({"customer_visit"})


def _manager(staff: Staff, user_id: int) -> bool:
    return Role.account_manager in staff.principals[user_id].roles


def _assign(staff: Staff, task_id: int, head: int, to: int, day: date, now: datetime,
            result: BotDay) -> bool:  # fmt: skip
    try:
        with session_scope() as session:
            user = session.get(User, to)
            assert user is not None
            service.delegate(session, task_id, Actor(staff.principals[head]), user, now=now,
                             business_date=day, reason="请主办客户经理完成拜访")  # fmt: skip
    except PostloanError as exc:
        result.refused[f"assign: {exc.code}"] += 1
        return False
    result.completed["assigned by a head"] += 1
    return True


def _context(
    session: Session,
    params: SimParams,
    staff: Staff,
    profiles: dict[str, str],
    task: HumanTask,
    user_id: int,
    day: date,
    now: datetime,
) -> Context:
    photo, document = staff.evidence(user_id, now)
    me = staff.principals[user_id]
    colleague = staff.colleague(user_id)
    subject: dict[str, Any] = dict(task.context)  # what the task says it is about
    if (request_id := task.context.get("approval_request_id")) is not None:
        request = session.get(ApprovalRequest, int(request_id))
        subject = dict(request.subject) if request is not None else {}
    profile = profiles.get(task.loan_no or "")
    managers: tuple[str, ...] = ()
    if task.loan_id is not None and (loan := session.get(Loan, task.loan_id)) is not None:
        managers = tuple(
            staff.principals[uid].username
            for uid in (loan.account_manager_id, loan.assistant_manager_id)
            if uid in staff.principals
        )
    upcoming, owed = None, 0
    if task.kind == "collection_contact" and task.loan_id is not None and profile is not None:
        upcoming = next_payment(session, params, profile, task.loan_id, day - timedelta(days=1))
        owed = _overdue_cents(session, task.loan_id, day)
    return Context(
        seed=params.seed,
        task_key=task.key,
        day=day,
        username=me.username,
        colleague=colleague,
        profile=profile,
        next_payment=upcoming,
        amount_due=yuan_text(max(owed, 100)),
        photo=photo,
        document=document,
        subject=subject,
        approve_share=params.bots.approve_share,
        managers=managers,
        channels=tuple(task.context.get("channels") or ("phone",)),
    )


def _overdue_cents(session: Session, loan_id: int, day: date) -> int:
    rows = session.exec(
        select(Installment).where(
            Installment.loan_id == loan_id,
            col(Installment.paid_off_on).is_(None),
            col(Installment.due_date) < day,
        )
    ).all()
    return sum(i.outstanding_cents for i in rows)


def loan_profiles(session: Session, params: SimParams) -> dict[str, str]:
    from sim.book import profile_of

    return {no: profile_of(params, no) for no in session.exec(select(Loan.loan_no)).all()}
