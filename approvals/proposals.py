"""Automatic downgrade proposals (DOMAIN §3): a loan below its regulatory floor gets a
classification request from the daily sweep — set-based for a chunk of loans — whose first level
(the branch head's initial confirmation) opens at once. One live proposal per loan: while it
waits, a worsening floor *raises* it (journaled, the task updated), never a second one; once a
chain ends with the loan still below its floor, the next sweep proposes again.

The class itself changes only when the committee confirms it (approvals/steps.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from approvals.chains import ChainLevel, chain_for, unit_for
from approvals.models import ApprovalRequest
from approvals.records import APPROVAL, MACHINE, fire, live_requests, round_key, tasks_of
from approvals.records import facts as request_facts
from audit import journal
from audit.replay import OPEN_EVENT
from core.calendar import get_calendar
from core.identity import OrgUnit
from core.settings import get_settings
from loans.models import Borrower, Installment, Loan
from statemachines.approval_request import ApprovalRequestMachine
from statemachines.enums import RequestKind, RequestState, RiskClass
from tasks.bulk import TaskRow, open_tasks_bulk

KIND = RequestKind.classification
REQUESTS = ApprovalRequest.__table__  # type: ignore[attr-defined]
# The set-based start is the machine's own transition (submitted --start--> pending).
assert ApprovalRequestMachine.transition_table()[("submitted", "start")] == {"pending"}


class Proposal(Protocol):
    loan_id: int
    loan_no: str
    current_class: Any
    floor_class: Any
    reasons: Sequence[str]
    rule_refs: Sequence[str]
    days_past_due: int


@dataclass(frozen=True)
class ProposalCounts:
    opened: int = 0
    raised: int = 0


def _subject(p: Proposal) -> dict[str, Any]:
    return {
        "proposed_class": RiskClass(p.floor_class).value,
        "current_class": RiskClass(p.current_class).value,
        "reasons": list(p.reasons),
        "rule_refs": list(p.rule_refs),
        "days_past_due": p.days_past_due,
    }


def _facts(p: Proposal, loan: Loan, exposure: int) -> dict[str, Any]:
    return {
        "state": str(loan.state),
        "risk_class": RiskClass(p.current_class).value,
        "floor": RiskClass(p.floor_class).value,
        "floor_rules": list(p.rule_refs),
        "days_past_due": p.days_past_due,
        "exposure_cents": exposure,
        "maturity_date": loan.maturity_date.isoformat(),
        "proposed_class": RiskClass(p.floor_class).value,
        "reasons": list(p.reasons),
        "rule_refs": list(p.rule_refs),
    }


def _title(p: Proposal, borrower: str, level: ChainLevel) -> str:
    current, floor = RiskClass(p.current_class), RiskClass(p.floor_class)
    return f"五级分类下调建议 {current.label_zh}→{floor.label_zh} · {level.name_zh} · {borrower}"


def propose_floors(
    session: Session,
    proposals: Sequence[Proposal],
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> ProposalCounts:
    """Open a request for each loan below its floor that has none live; raise the live ones whose
    proposed class is now better than the floor. Idempotent: a re-run of the date does nothing."""
    if not proposals:
        return ProposalCounts()
    live = live_requests(session, [p.loan_id for p in proposals], KIND.value)
    raised = 0
    for p in proposals:
        request = live.get(p.loan_id)
        if request is not None and _raise(session, request, p, actor, now, business_date):
            raised += 1
    new = [p for p in proposals if p.loan_id not in live]
    opened = _open(session, new, actor=actor, now=now, business_date=business_date)
    return ProposalCounts(opened, raised)


def _raise(
    session: Session,
    request: ApprovalRequest,
    p: Proposal,
    actor: str,
    now: datetime,
    business_date: date,
) -> bool:
    """A waiting proposal whose class is better than the new floor is raised to it."""
    wanted = RiskClass(p.floor_class)
    proposed = RiskClass(request.subject.get("proposed_class", p.current_class))
    if RequestState(request.state) != RequestState.pending or not proposed.is_better_than(wanted):
        return False
    before = dict(request.subject)
    request.subject = {**request.subject, **_subject(p)}
    fire(
        session,
        request,
        "amend",
        request_facts(session, request, actor),
        now=now,
        business_date=business_date,
        reason=f"分类底线下移，建议由{proposed.label_zh}上调为{wanted.label_zh}（floor worsened）",
        payload={
            "from": before.get("proposed_class"),
            "to": wanted.value,
            "rules": list(p.rule_refs),
        },
    )
    for task in tasks_of(session, request, active_only=True):
        context = dict(task.context)
        context["facts"] = {**context.get("facts", {}), **_subject(p), "floor": wanted.value}
        task.context, task.priority, task.updated_at = context, wanted.rank + 2, now
        task.title = task.title.replace(f"→{proposed.label_zh}", f"→{wanted.label_zh}", 1)
        session.add(task)
    session.flush()
    return True


def _open(
    session: Session,
    proposals: Sequence[Proposal],
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> int:
    """New requests, their level-1 tasks and journal entries, a few statements per chunk."""
    if not proposals:
        return 0
    ids = [p.loan_id for p in proposals]
    rows = {
        loan.id: (loan, borrower, branch)
        for loan, borrower, branch in session.exec(
            select(Loan, Borrower, OrgUnit)
            .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
            .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
            .where(col(Loan.id).in_(ids))
        ).all()
    }
    exposure = dict(
        session.exec(
            select(
                Installment.loan_id,
                func.sum(
                    col(Installment.principal_due_cents) - col(Installment.principal_paid_cents)
                ),
            )
            .where(col(Installment.loan_id).in_(ids))
            .group_by(col(Installment.loan_id))
        ).all()
    )
    chain = chain_for(KIND)
    first = chain.levels[0]
    snapshot = [level.model_dump(mode="json") for level in chain.levels]
    due = get_calendar().add_business_days(
        business_date, first.due_business_days or get_settings().approval_level_business_days
    )
    values = []
    for p in proposals:
        loan, _, branch = rows[p.loan_id]
        values.append(
            {
                "kind": KIND.value,
                "state": RequestState.pending.value,
                "loan_id": loan.id,
                "loan_no": loan.loan_no,
                "branch_id": branch.id,
                "branch_path": branch.path,
                "level": 1,
                "round": 1,
                "chain": snapshot,
                "amount_cents": int(exposure.get(p.loan_id, 0) or 0),
                "requested_by": actor,
                "requested_by_id": None,
                "requested_on": business_date,
                "reason": "监管底线：" + "；".join(p.rule_refs),
                "subject": _subject(p),
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
        )
    conn = session.connection()
    created: dict[int, int] = {}  # loan id → request id
    for start in range(0, len(values), 1000):
        stmt = insert(REQUESTS).returning(REQUESTS.c.id, REQUESTS.c.loan_id)
        created.update(
            (loan_id, rid) for rid, loan_id in conn.execute(stmt, values[start : start + 1000])
        )
    entries: list[dict[str, Any]] = []
    tasks: list[TaskRow] = []
    units: dict[int, OrgUnit] = {}  # the level's unit per loan branch (one lookup each)
    for p in proposals:
        loan, borrower, branch = rows[p.loan_id]
        rid = created[p.loan_id]
        if branch.id not in units:
            units[branch.id or 0] = unit_for(session, first, branch)
        unit = units[branch.id or 0]
        base = {
            "aggregate_type": APPROVAL,
            "aggregate_id": str(rid),
            "machine": MACHINE,
            "actor": actor,
        }
        entries += [
            {
                **base,
                "event": OPEN_EVENT,
                "from_state": None,
                "to_state": RequestState.submitted.value,
                "reason": "监管底线：" + "；".join(p.rule_refs),
                "payload": {"kind": KIND.value, "loan_no": loan.loan_no, "subject": _subject(p)},
            },
            {
                **base,
                "event": "start",
                "from_state": RequestState.submitted.value,
                "to_state": RequestState.pending.value,
                "payload": {"level": 1, "round": 1},
            },
        ]
        tasks.append(
            TaskRow(
                kind=first.task_kind,
                key=f"{round_key(rid, 1)}:l1",
                title=_title(p, borrower.name, first),
                due_date=due,
                candidate_role=first.role.value,
                candidate_org_unit_id=unit.id or 0,
                candidate_org_path=unit.path,
                branch_id=branch.id,
                branch_path=branch.path,
                loan_id=loan.id,
                loan_no=loan.loan_no,
                borrower_name=borrower.name,
                product=loan.product,
                bucket=loan.bucket,
                risk_class=str(loan.risk_class),
                exposure_cents=int(exposure.get(p.loan_id, 0) or 0),
                chain_key=round_key(rid, 1),
                chain_level=1,
                priority=RiskClass(p.floor_class).rank + 2,
                context={
                    "approval_request_id": rid,
                    "request_kind": KIND.value,
                    "round": 1,
                    "level": 1,
                    "levels": len(snapshot),
                    "level_name_zh": first.name_zh,
                    "level_name_en": first.name_en,
                    "requested_by": actor,
                    "reason": "监管底线：" + "；".join(p.rule_refs),
                    "facts": _facts(p, loan, int(exposure.get(p.loan_id, 0) or 0)),
                },
            )
        )
    journal.append_many(session, entries, now=now, business_date=business_date)
    open_tasks_bulk(session, tasks, actor=actor, now=now, business_date=business_date)
    return len(created)
