"""/api/v1/tasks: worklists and the task commands (claim, release, delegate, draft, complete,
cancel). Routes resolve resources and call tasks.service; nothing else."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from sqlmodel import Session, select

from api.auth import ActorDep
from api.deps import ClockDep, OneHopRoute, SessionDep, commit
from api.error_schema import error_responses
from api.params import CodeOrNone, Id, Limit, Offset
from api.task_schemas import (
    HumanTaskDetailPublic,
    HumanTaskPublic,
    HumanTasksPublic,
    TaskAction,
    TaskCancel,
    TaskDelegate,
    TaskSubmission,
)
from cases.completion import complete_recording_refusals
from core.identity import User, org_unit_by_code, user_by_username
from forms import json_schema, schema_hash
from tasks import service
from tasks.access import Actor
from tasks.models import HumanTask
from tasks.worklist import TaskFilter, View, counts, is_overdue, worklist

router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=OneHopRoute)


def _names(session: Session, tasks: list[HumanTask], actor: Actor) -> dict[int, str]:
    """The usernames of the tasks' assignees and completers; the actor's own is known (after
    a claim or a completion, the only one: no query)."""
    names = {p.user.id: p.username for p in actor.principals if p.user.id is not None}
    ids = {i for t in tasks for i in (t.assignee_id, t.completed_by_id) if i} - set(names)
    if ids:
        rows = session.exec(select(User.id, User.username).where(User.id.in_(ids))).all()  # type: ignore[union-attr]
        names.update({i: n for i, n in rows if i is not None})
    return names


def public(task: HumanTask, names: dict[int, str], today: date) -> HumanTaskPublic:
    return HumanTaskPublic(
        **task.model_dump(
            include=set(HumanTaskPublic.model_fields)
            - {"overdue", "assignee", "completed_by", "state"}
        ),
        state=str(task.state),
        overdue=is_overdue(task, today),
        assignee=names.get(task.assignee_id or 0),
        completed_by=names.get(task.completed_by_id or 0),
    )


def detail(session: Session, task: HumanTask, today: date, actor: Actor) -> HumanTaskDetailPublic:
    base = public(task, _names(session, [task], actor), today)
    return HumanTaskDetailPublic(
        **base.model_dump(),
        form_kind=task.kind,
        form_schema=json_schema(task.kind),
        schema_hash=schema_hash(task.kind),
        context=task.context,
        draft=task.draft,
        result=task.result,
    )


@router.get("", response_model=HumanTasksPublic, responses=error_responses(401, 404, 422))
def read_tasks(
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    view: View = View.queue,
    kind: CodeOrNone = None,
    loan_no: CodeOrNone = None,
    branch: CodeOrNone = None,
    bucket: CodeOrNone = None,
    risk_class: CodeOrNone = None,
    due_before: date | None = None,
    due_after: date | None = None,
    overdue: bool | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HumanTasksPublic:
    today = clock.today()
    branch_path = None
    if branch:
        branch_path = org_unit_by_code(session, branch).path
    filters = TaskFilter(
        kind=kind,
        loan_no=loan_no,
        branch_path=branch_path,
        bucket=bucket,
        risk_class=risk_class,
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
    )
    rows, total = worklist(
        session, actor, view, today=today, filters=filters, limit=limit, offset=offset
    )
    names = _names(session, rows, actor)
    return HumanTasksPublic(
        data=[public(t, names, today) for t in rows],
        count=total or 0,
        counts=counts(session, actor, today=today),
    )


@router.get(
    "/{task_id}",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 422),
)
def read_task(
    task_id: Id, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> HumanTaskDetailPublic:
    return detail(session, service.get_task(session, task_id, actor), clock.today(), actor)


@router.post(
    "/{task_id}/claim",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def claim_task(
    task_id: Id,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    body: TaskAction | None = None,
) -> HumanTaskDetailPublic:
    task = service.claim(
        session,
        task_id,
        actor,
        now=clock.now(),
        business_date=clock.today(),
        expected_version=body.version if body else None,
    )
    commit(session)
    return detail(session, task, clock.today(), actor)


@router.post(
    "/{task_id}/release",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def release_task(
    task_id: Id,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    body: TaskAction | None = None,
) -> HumanTaskDetailPublic:
    task = service.release(
        session,
        task_id,
        actor,
        now=clock.now(),
        business_date=clock.today(),
        expected_version=body.version if body else None,
    )
    commit(session)
    return detail(session, task, clock.today(), actor)


@router.post(
    "/{task_id}/delegate",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def delegate_task(
    task_id: Id, body: TaskDelegate, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> HumanTaskDetailPublic:
    to = user_by_username(session, body.to)
    task = service.delegate(
        session,
        task_id,
        actor,
        to,
        now=clock.now(),
        business_date=clock.today(),
        reason=body.reason,
        expected_version=body.version,
    )
    commit(session)
    return detail(session, task, clock.today(), actor)


@router.post(
    "/{task_id}/draft",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def save_task_draft(
    task_id: Id, body: TaskSubmission, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> HumanTaskDetailPublic:
    task = service.save_draft(
        session, task_id, actor, body.data, now=clock.now(), expected_version=body.version
    )
    commit(session)
    return detail(session, task, clock.today(), actor)


@router.post(
    "/{task_id}/complete",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def complete_task(
    task_id: Id, body: TaskSubmission, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> HumanTaskDetailPublic:
    task = complete_recording_refusals(
        session, task_id, actor, body.data, clock, expected_version=body.version
    )
    return detail(session, task, clock.today(), actor)


@router.post(
    "/{task_id}/cancel",
    response_model=HumanTaskDetailPublic,
    responses=error_responses(401, 403, 404, 409, 422),
)
def cancel_task(
    task_id: Id, body: TaskCancel, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> HumanTaskDetailPublic:
    task = service.cancel(
        session,
        task_id,
        actor,
        now=clock.now(),
        business_date=clock.today(),
        reason=body.reason,
        expected_version=body.version,
    )
    commit(session)
    return detail(session, task, clock.today(), actor)
