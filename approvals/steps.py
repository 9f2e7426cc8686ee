"""The chain's steps: open the deciding level's task (or pass on a level nobody may decide),
and `advance` — bring the world in line with the request's state (the level's task open; on
approval the effect applied once; on refusal or withdrawal the open tasks cancelled; requests
left with nothing to decide withdrawn). `advance` is idempotent: the approval-chain flow runs it
on every continuation, and the transaction that takes a decision (approvals/decisions.py) runs
it too, so the next level's task is in the inbox the moment the decision commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from approvals.effects import EffectContext
from approvals.levels import (
    Effects,
    level_of,
    open_level_task,
    open_revision_task,
    someone_may_decide,
)
from approvals.models import ApprovalRequest
from approvals.records import CONTINUE_FLOW, decisions_of, facts, fire, task_key, tasks_of
from core.identity import Role, principal_of, user_by_username
from forms import schema_hash, validate_form
from loans.models import Loan
from statemachines.enums import LoanState, RequestKind, RequestState
from tasks import outbox
from tasks.models import HumanTask
from tasks.service import cancel_as_system


def continue_chain(session: Session, request: ApprovalRequest, seq: int, now: datetime) -> None:
    """Ask for the approval-chain flow to continue this request (delivered by the outbox)."""
    outbox.enqueue(
        session,
        key=f"approval:{request.id}:{seq}",
        flow=CONTINUE_FLOW,
        parameters={"request_id": request.id, "seq": seq},
        now=now,
    )


def capacity(request: ApprovalRequest, level: int, roles: frozenset[Role]) -> frozenset[Role]:
    """The roles a decider acts in at `level`: that level's role only (a committee member who is
    also a branch head, deciding the head's level, has the head's limit)."""
    return frozenset({level_of(request, level).role}) & roles


def _context_from_decision(
    session: Session, request: ApprovalRequest, *, actor: str, now: datetime, business_date: date
) -> EffectContext:
    """The final decision as the effect needs it, rebuilt from its row (the flow's path)."""
    final = [d for d in decisions_of(session, request.id or 0, request.round) if d.concluded]
    if not final:
        return EffectContext(actor, None, frozenset(), None, now, business_date)
    decision = final[-1]
    task = session.get(HumanTask, decision.task_id)
    assert task is not None
    principal = principal_of(
        session, user_by_username(session, decision.on_behalf_of or decision.decided_by)
    )
    return EffectContext(
        actor=f"u:{decision.decided_by}",
        decider=decision.decided_by,
        decider_roles=capacity(request, decision.level, principal.roles),
        on_behalf_of=f"u:{decision.on_behalf_of}" if decision.on_behalf_of else None,
        now=now,
        business_date=decision.business_date,
        form=validate_form(task.kind, decision.data),
        form_kind=task.kind,
        schema_hash=schema_hash(task.kind),
    )


def advance(
    session: Session,
    request: ApprovalRequest,
    effects: Effects,
    *,
    actor: str,
    now: datetime,
    business_date: date,
    ctx: EffectContext | None = None,
    inbox_facts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the world match the request's state; a second call finds nothing to do.
    `inbox_facts`: what the next level's inbox row shows, when the caller has them already."""
    state = RequestState(request.state)
    effect = effects[RequestKind(request.kind)]
    if state == RequestState.submitted:
        request.level = 1
        fire(
            session,
            request,
            "start",
            facts(session, request, actor),
            now=now,
            business_date=business_date,
        )
        state = RequestState.pending
    task_id = None
    if state == RequestState.pending:
        _pass_on_undecidable(session, request, now=now, business_date=business_date)
        task_id = open_level_task(
            session, request, effects, actor=actor, now=now, business_date=business_date,
            facts=inbox_facts,
        ).id  # fmt: skip
    elif state == RequestState.returned:
        revision = open_revision_task(
            session, request, actor=actor, now=now, business_date=business_date
        )
        task_id = revision.id if revision else None
    elif request.outcome is None:  # approved, rejected or withdrawn: its effect, once
        for task in tasks_of(session, request, active_only=True):
            cancel_as_system(
                session,
                task,
                actor=actor,
                reason=f"审批申请已{state.label_zh} (request {state.value})",
                now=now,
                business_date=business_date,
            )
        context = ctx or _context_from_decision(
            session, request, actor=actor, now=now, business_date=business_date
        )
        if state == RequestState.approved:
            request.outcome = effect.approved(session, request, context)
            withdraw_moot(  # a write-off leaves the loan's other requests nothing to decide
                session, [request.loan_id], effects, actor=actor, now=now,
                business_date=business_date,
            )  # fmt: skip
        else:
            request.outcome = effect.closed(session, request, context)
        request.decided_on = business_date
        session.add(request)
        session.flush()
    return {
        "request_id": request.id,
        "state": str(request.state),
        "level": request.level,
        "round": request.round,
        "task_id": task_id,
        "outcome": request.outcome,
    }


_MOOT = {
    LoanState.settled.value: ("贷款已结清，申请无需再审批", "the loan is settled"),
    LoanState.written_off.value: ("贷款已核销，申请无需再审批", "the loan is written off"),
}


def withdraw_moot(
    session: Session,
    loan_ids: Sequence[int],
    effects: Effects,
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> int:
    """Withdraw every live request of those of `loan_ids` that are settled or written off: no
    decision on them can take effect any more. `actor` is the step (or the decider) that closed
    the loan; the reason says which. Their open tasks leave the deciders' inboxes and each kind's
    effect of a closed request applies (a warning is dismissed). Returns how many."""
    withdrawn = 0
    ids = list(loan_ids)
    for start in range(0, len(ids), 1000):
        closed = session.exec(
            select(Loan.id, Loan.state).where(
                col(Loan.id).in_(ids[start : start + 1000]), col(Loan.state).in_(list(_MOOT))
            )
        ).all()
        states = {loan_id: state for loan_id, state in closed}
        if not states:
            continue
        live = session.exec(
            select(ApprovalRequest)
            .where(
                col(ApprovalRequest.loan_id).in_(list(states)),
                col(ApprovalRequest.state).in_([s.value for s in RequestState if s.is_live]),
            )
            .order_by(col(ApprovalRequest.id))
            .with_for_update()
        ).all()
        for request in live:
            zh, en = _MOOT[str(states[request.loan_id])]
            entry = fire(
                session,
                request,
                "withdraw",
                facts(session, request, actor),
                now=now,
                business_date=business_date,
                reason=f"{zh} ({en}: nothing is left to decide)",
            )
            advance(session, request, effects, actor=actor, now=now, business_date=business_date)
            continue_chain(session, request, entry.chain_seq, now)
            withdrawn += 1
    return withdrawn


PASS_ON = "system:approval-chain"


def _pass_on_undecidable(
    session: Session, request: ApprovalRequest, *, now: datetime, business_date: date
) -> None:
    """A level nobody may decide — its only holders are the applicant or this round's earlier
    deciders (a branch head reporting a warning on their own branch) — is passed on to the next
    level before its task opens, journaled with the reason, instead of waiting for no one. The
    last level is never passed on: its task opens and the SLA tells the heads above."""
    while (
        request.level < len(request.chain)
        and session.exec(select(HumanTask.id).where(HumanTask.key == task_key(request))).first()
        is None
        and not someone_may_decide(session, request)
    ):
        level, after = level_of(request), level_of(request, request.level + 1)
        n, applicant = request.level, request.requested_by.removeprefix("u:")
        request.level += 1
        fire(
            session,
            request,
            "amend",
            facts(session, request, PASS_ON),
            now=now,
            business_date=business_date,
            reason=(
                f"第{n}级（{level.name_zh}）除申请人 {applicant} 及本轮已审批人外无人可审批"
                f"（四眼原则），转第{n + 1}级（{after.name_zh}） (level {n}, {level.name_en}: nobody "
                f"but the applicant {applicant} or this round's deciders may decide it "
                f"(four eyes); passed on to level {n + 1}, {after.name_en})"
            ),
            payload={"skipped_level": n},
        )
