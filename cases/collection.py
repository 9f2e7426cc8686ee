"""The collection ladder (催收, DOMAIN §7), as data: negotiation → high-frequency phone → on-site
visit → full pressure (letters, the guarantor) → legal referral. A loan in arrears sits on the
ladder; its step follows its days past due, rises with every broken promise, and jumps to legal
after 3 consecutive or 6 cumulative missed installments (001 二 §2); it never steps down while the
loan is in arrears (each step puts more pressure than the last, 003 §11). A cured loan leaves.

Run per business date over a chunk of loans (flows/escalation.py), idempotent by task key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import or_
from sqlmodel import Session, col, exists, select

from approvals.levels import Effects
from audit import journal
from cases.contacts import case_event, check_promises, open_promises_of
from cases.ladder import LEGAL, STRATEGY, LadderStep, ladder, missed_installments
from cases.models import CollectionCase, WarningCase
from cases.warnings import raise_warning
from core.calendar import get_calendar
from core.identity import OrgUnit, head_office
from core.settings import Settings, get_settings
from loans import aging
from loans.models import Borrower, Installment, Loan
from statemachines.enums import LoanState, TaskState
from tasks.bulk import TaskRow, open_tasks_bulk
from tasks.models import HumanTask
from tasks.service import cancel_as_system

OPEN_STATES = tuple(s.value for s in LoanState if s.is_open)


@dataclass
class LadderResult:
    loans: int = 0
    cases_opened: int = 0
    cases_closed: int = 0
    steps_up: int = 0
    tasks_opened: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    signals: int = 0
    by_step: dict[int, int] = field(default_factory=dict)


SCHEDULE = sa.select(  # what days past due and missed installments read
    *(
        col(column)
        for column in (
            Installment.loan_id,
            Installment.due_date,
            Installment.principal_due_cents,
            Installment.interest_due_cents,
            Installment.principal_paid_cents,
            Installment.interest_paid_cents,
            Installment.paid_off_on,
        )
    )
)


def run_ladder(
    session: Session,
    *,
    on: date,
    lo: int,
    hi: int,
    actor: str,
    now: datetime,
    effects: Effects,
    settings: Settings | None = None,
) -> LadderResult:
    """The ladder for loans lo ≤ id ≤ hi on `on`: cases opened and closed, promises checked,
    steps raised, the step's task opened at its cadence, warning signals raised (once each)."""
    s = settings or get_settings()
    steps = ladder(s)
    result = LadderResult()
    open_case = exists().where(
        col(CollectionCase.loan_id) == col(Loan.id), col(CollectionCase.closed_on).is_(None)
    )
    loans = list(
        session.exec(
            select(Loan).where(
                col(Loan.id).between(lo, hi),
                col(Loan.state).in_(OPEN_STATES),
                or_(col(Loan.days_past_due) > 0, open_case),
            )
        ).all()
    )
    if not loans:
        return result
    ids = [loan.id for loan in loans]
    # the schedules as plain rows (aging.InstallmentLike): a few columns, no ORM object each
    schedules: dict[int, list[Any]] = {i: [] for i in ids if i is not None}
    for inst in session.execute(SCHEDULE.where(col(Installment.loan_id).in_(ids))):
        schedules[inst.loan_id].append(inst)
    cases = {
        c.loan_id: c
        for c in session.exec(
            select(CollectionCase).where(
                col(CollectionCase.loan_id).in_(ids), col(CollectionCase.closed_on).is_(None)
            )
        )
    }
    promises = open_promises_of(session, [c.id or 0 for c in cases.values()])
    raised_keys = set(  # the ladder's signals already raised for these cases (once each)
        session.exec(
            select(WarningCase.key).where(
                col(WarningCase.key).in_(
                    [signal_key(s, c) for c in cases.values() for s in LADDER_SIGNALS]
                )
            )
        ).all()
    )
    items: list[dict[str, Any]] = []
    rows: list[TaskRow] = []
    branches = {u.id: u for u in session.exec(select(OrgUnit))}
    root = head_office(session)
    borrowers = dict(
        session.exec(
            select(Borrower.id, Borrower.name).where(
                col(Borrower.id).in_({loan.borrower_id for loan in loans})
            )
        ).all()
    )
    for loan in loans:
        assert loan.id is not None
        result.loans += 1
        insts = schedules[loan.id]
        dpd = aging.days_past_due(insts, on)
        case = cases.get(loan.id)
        if dpd == 0:
            if case is not None:
                kept, broken = check_promises(session, case, on, items, actor, final=True,
                                              open_promises=promises.get(case.id or 0, []))  # fmt: skip
                result.promises_kept += kept
                result.promises_broken += broken
                _leave(session, case, items, actor=actor, now=now, on=on)
                result.cases_closed += 1
            continue
        if case is None:
            case = CollectionCase(
                loan_id=loan.id, loan_no=loan.loan_no, step=0, step_since=on, opened_on=on
            )
            session.add(case)
            session.flush()
            case_event(items, case, "open", actor, to_state="open", payload={"days_past_due": dpd})
            result.cases_opened += 1
        start_step = case.step
        kept, broken = check_promises(session, case, on, items, actor,
                                      open_promises=promises.get(case.id or 0, []))  # fmt: skip
        result.promises_kept += kept
        result.promises_broken += broken
        consecutive, cumulative = missed_installments(insts, on)
        case.missed_consecutive, case.missed_cumulative = consecutive, cumulative
        by_days = max((st.number for st in steps if dpd >= st.min_days), default=1)
        target, why = by_days, f"逾期 {dpd} 天 ({dpd} days past due)"
        if consecutive >= s.legal_consecutive_missed or cumulative >= s.legal_cumulative_missed:
            target, why = (
                LEGAL,
                f"连续 {consecutive} 期、累计 {cumulative} 期未还款 "
                f"({consecutive} consecutive / {cumulative} cumulative installments missed)",
            )
        if target > case.step:
            case_event(items, case, "step_up", actor, from_state=str(case.step), to_state=str(target),
                     reason=why, payload={"days_past_due": dpd, "missed_consecutive": consecutive,
                                          "missed_cumulative": cumulative})  # fmt: skip
            if case.step:
                result.steps_up += 1
            case.step, case.step_since = target, on
        if start_step and case.step > start_step:  # a higher step supersedes the open contact
            _cancel_tasks(session, case, f"升至催收第{case.step}步 (ladder step {case.step})",
                          actor=actor, now=now, on=on)  # fmt: skip
        session.add(case)
        step = steps[case.step - 1]
        result.by_step[step.number] = result.by_step.get(step.number, 0) + 1
        rows.append(
            _task_row(case, loan, borrowers, step, dpd, on, s, branches[loan.branch_id], root)
        )
        result.signals += _signals(
            session, case, loan, dpd, on, s, actor, now, effects, raised_keys
        )
    session.flush()
    busy = _cases_with_active_task(session, ids)
    rows = [r for r in rows if r.context["collection_case_id"] not in busy]
    result.tasks_opened = len(
        open_tasks_bulk(session, rows, actor=actor, now=now, business_date=on)
    )
    journal.append_many(session, items, now=now, business_date=on)
    return result


def _cases_with_active_task(session: Session, loan_ids: Sequence[int | None]) -> set[int]:
    """Cases that have a collection task open: one at a time, the next when this one is done."""
    keys = session.exec(
        select(HumanTask.key).where(
            col(HumanTask.loan_id).in_(loan_ids),
            col(HumanTask.kind).in_(("collection_contact", "legal_referral")),
            col(HumanTask.state).in_([st.value for st in TaskState if st.is_active]),
            col(HumanTask.key).startswith("collection:"),
        )
    ).all()
    return {int(key.split(":")[1]) for key in keys}


def _task_row(
    case: CollectionCase,
    loan: Loan,
    borrowers: dict[int | None, str],
    step: LadderStep,
    dpd: int,
    on: date,
    settings: Settings,
    branch: OrgUnit,
    root: OrgUnit,
) -> TaskRow:
    round_ = 0 if step.cadence_days is None else (on - case.step_since).days // step.cadence_days
    unit = root if step.head_office else branch
    borrower = borrowers.get(loan.borrower_id)
    quadrant = case.quadrant
    return TaskRow(
        kind=step.task_kind,
        key=f"collection:{case.id}:s{step.number}:{round_}",
        title=f"{step.name_zh} · {loan.loan_no} · {borrower or ''} · 逾期{dpd}天",
        due_date=get_calendar().add_business_days(on, step.due_business_days),
        candidate_role=step.role.value,
        candidate_org_unit_id=unit.id or 0,
        candidate_org_path=unit.path,
        branch_id=branch.id,
        branch_path=branch.path,
        loan_id=loan.id,
        loan_no=loan.loan_no,
        borrower_name=borrower,
        product=loan.product,
        bucket=aging.bucket_for(dpd, settings.overdue_bucket_bounds),
        risk_class=str(loan.risk_class),
        priority=step.number,
        context={
            "collection_case_id": case.id,
            "step": step.number,
            "step_code": step.code,
            "step_name_zh": step.name_zh,
            "step_name_en": step.name_en,
            "channels": list(step.channels),
            "days_past_due": dpd,
            "missed_consecutive": case.missed_consecutive,
            "missed_cumulative": case.missed_cumulative,
            "broken_promises": case.broken_promises,
            "quadrant": quadrant,
            "strategy_zh": STRATEGY[quadrant][0] if quadrant else None,
            "strategy_en": STRATEGY[quadrant][1] if quadrant else None,
        },
    )


def _signals(
    session: Session,
    case: CollectionCase,
    loan: Loan,
    dpd: int,
    on: date,
    settings: Settings,
    actor: str,
    now: datetime,
    effects: Effects,
    raised_keys: set[str],
) -> int:
    """Warning signals the ladder raises, once per case each (keyed; `raised_keys`: those raised
    already, read once for the chunk)."""
    raised = 0
    wanted = []
    if case.broken_promises >= settings.broken_promises_signal:
        wanted.append(("broken_promises", f"累计 {case.broken_promises} 次违背还款承诺"))
    if dpd > settings.warning_dpd_days:
        wanted.append(("dpd_rise", f"逾期 {dpd} 天，超过 {settings.warning_dpd_days} 天"))
    for signal, text in wanted:
        key = signal_key(signal, case)
        if key in raised_keys:
            continue
        raise_warning(session, loan.loan_no, actor, effects, signals=[signal], description=text,
                      key=key, now=now, business_date=on)  # fmt: skip
        raised_keys.add(key)
        raised += 1
    return raised


LADDER_SIGNALS = ("broken_promises", "dpd_rise")


def signal_key(signal: str, case: CollectionCase) -> str:
    return f"{signal}:collection:{case.id}"


def _cancel_tasks(
    session: Session, case: CollectionCase, reason: str, *, actor: str, now: datetime, on: date
) -> None:
    for task in session.exec(
        select(HumanTask).where(
            HumanTask.loan_id == case.loan_id,  # the index; the key prefix then picks the case
            col(HumanTask.key).startswith(f"collection:{case.id}:"),
            col(HumanTask.state).in_([st.value for st in TaskState if st.is_active]),
        )
    ):
        cancel_as_system(session, task, actor=actor, reason=reason, now=now, business_date=on)


def _leave(
    session: Session,
    case: CollectionCase,
    items: list[dict[str, Any]],
    *,
    actor: str,
    now: datetime,
    on: date,
) -> None:
    """Cured: the loan leaves the ladder; its open collection tasks are cancelled."""
    case.closed_on, case.close_reason = on, "cured"
    session.add(case)
    _cancel_tasks(session, case, "逾期已清偿，退出催收 (cured)", actor=actor, now=now, on=on)
    case_event(items, case, "leave", actor, from_state=str(case.step), to_state="closed",
             reason="逾期已清偿 (arrears cleared)")  # fmt: skip
