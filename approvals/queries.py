"""Read models of approval requests: lists for a loan or an org subtree, and one request with
its decisions (who decided what, for whom, with which opinion) and its open tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import false, func, or_
from sqlmodel import Session, col, select

from approvals.models import ApprovalDecision, ApprovalRequest
from approvals.records import APPROVAL, decisions_of, get_request, tasks_of
from audit.journal import JournalEntry
from core.db import subtree
from core.identity import User
from tasks.access import Actor
from tasks.models import HumanTask

NOTED = ("amend", "resubmit", "withdraw")  # the request's moves that are not a level's decision


@dataclass(frozen=True)
class RequestNote:
    """A move of the request besides the decisions, from its journal: who, when, why (a
    withdrawal by its applicant or by the step that closed the loan, a level passed on, a
    proposal raised as its floor worsened, a resubmission)."""

    event: str
    actor: str
    on_behalf_of: str | None
    at: datetime
    reason: str | None


@dataclass(frozen=True)
class RequestView:
    request: ApprovalRequest
    decisions: list[ApprovalDecision]
    open_tasks: list[HumanTask]
    names: dict[str, str]  # username → full name, for everyone on the request
    notes: list[RequestNote] = field(default_factory=list)

    def person(self, actor: str | None) -> str:
        return person(self.names, actor)

    @property
    def level_names(self) -> list[str]:
        return [str(level["name_zh"]) for level in self.request.chain]


def request_view(session: Session, request_id: int, actor: Actor) -> RequestView:
    request = get_request(session, request_id, actor)
    decisions = decisions_of(session, request_id)
    notes = [
        RequestNote(e.event, e.actor, e.on_behalf_of, e.wall_time, e.reason)
        for e in session.exec(
            select(JournalEntry)
            .where(
                JournalEntry.aggregate_type == APPROVAL,
                JournalEntry.aggregate_id == str(request_id),
                col(JournalEntry.event).in_(NOTED),
            )
            .order_by(col(JournalEntry.chain_seq))
        )
    ]
    people = {request.requested_by.removeprefix("u:")} | {
        name for d in decisions for name in (d.decided_by, d.on_behalf_of) if name
    }
    people |= {name.removeprefix("u:") for n in notes for name in (n.actor, n.on_behalf_of) if name}
    return RequestView(
        request,
        decisions,
        tasks_of(session, request, active_only=True),
        names_of(session, people),
        notes,
    )


def names_of(session: Session, usernames: set[str]) -> dict[str, str]:
    """username → full name (one query)."""
    if not usernames:
        return {}
    rows = session.exec(
        select(User.username, User.full_name).where(col(User.username).in_(usernames))
    ).all()
    return dict(rows)


SYSTEM_NAMES = {  # the flows and feeds that act in the journal, as a person reads them
    "daily-sweep": "日终跑批",
    "approval-chain": "审批链",
    "sla": "时限升级",
    "sla-escalation": "时限升级",
    "pre-maturity": "到期前提醒",
    "inspection-scheduler": "贷后检查计划",
    "collection-ladder": "催收梯度",
    "core-banking": "核心系统",
    "demo-seed": "演示数据",
    "cli": "命令行",
    "sign-in": "登录",
}


def person(names: dict[str, str], actor: str | None) -> str:
    """ "u:head_bj" → "孙建国 (head_bj)"; "system:daily-sweep" → "系统·日终跑批 (system:daily-sweep)";
    anything else as it is."""
    if not actor:
        return ""
    if actor.startswith("system:"):
        label = SYSTEM_NAMES.get(actor.removeprefix("system:"))
        return f"系统·{label} ({actor})" if label else actor
    username = actor.removeprefix("u:")
    name = names.get(username)
    return f"{name} ({username})" if name else actor


def list_requests(
    session: Session,
    actor: Actor,
    *,
    loan_id: int | None = None,
    kind: str | None = None,
    state: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ApprovalRequest], int]:
    """Requests of the actor's org subtrees (auditors: all), newest first."""
    query = select(ApprovalRequest)
    if not actor.me.is_auditor:
        paths = {p.org_path for p in actor.principals}
        query = query.where(or_(false(), *(subtree(ApprovalRequest.branch_path, p) for p in paths)))
    if loan_id is not None:
        query = query.where(ApprovalRequest.loan_id == loan_id)
    if kind:
        query = query.where(ApprovalRequest.kind == kind)
    if state:
        query = query.where(ApprovalRequest.state == state)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(ApprovalRequest.id).desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)
