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

from sqlalchemy import func, or_
from sqlmodel import Session, col, exists, select

from approvals.effects import field_error
from approvals.steps import Effects
from audit import journal
from cases.models import CollectionCase, CollectionPromise, WarningCase
from cases.warnings import raise_warning
from core.calendar import get_calendar
from core.identity import OrgUnit, Role, head_office
from core.settings import Settings, get_settings
from forms import TaskForm
from forms.collection import CollectionContactForm, LegalReferralForm
from loans import aging
from loans.models import Borrower, Installment, Loan, Payment
from statemachines.enums import LoanState, TaskState
from tasks.bulk import TaskRow, open_tasks_bulk
from tasks.models import HumanTask
from tasks.service import cancel_as_system

COLLECTION = "collection"  # journal aggregate type: one chain per collection case
MACHINE = "collection_ladder"
OPEN_STATES = tuple(s.value for s in LoanState if s.is_open)
LEGAL = 5

# 003: the strategy a quadrant of willingness × ability calls for
STRATEGY: dict[str, tuple[str, str]] = {
    "I": ("友好提醒，适当宽限", "Friendly reminder and some grace"),
    "II": ("考虑展期或调整还款计划，帮助恢复还款能力", "Consider an extension; restore capacity"),
    "III": ("加强教育，提高违约成本", "Re-education; raise the cost of default"),
    "IV": ("强力催收，准备诉讼", "Strong collection; prepare litigation"),
}


@dataclass(frozen=True)
class LadderStep:
    number: int
    code: str
    name_zh: str
    name_en: str
    min_days: int  # days past due from which this step applies
    task_kind: str
    role: Role
    channels: tuple[str, ...]  # what a contact at this step uses
    cadence_days: int | None  # a new task every N days while at this step (None: once)
    due_business_days: int
    head_office: bool = False  # the task goes to the head office (asset disposal)


def ladder(settings: Settings | None = None) -> tuple[LadderStep, ...]:
    s = settings or get_settings()
    days, cadence = s.collection_step_days, s.collection_cadence_days
    am = Role.account_manager
    return (
        LadderStep(1, "negotiation", "协商催收", "Negotiation", days[0], "collection_contact", am,
                   ("phone", "sms"), cadence[0], 3),
        LadderStep(2, "phone", "高频电话催收", "High-frequency phone", days[1], "collection_contact",
                   am, ("phone", "sms"), cadence[1], 1),
        LadderStep(3, "visit", "上门催收", "On-site visit", days[2], "collection_contact", am,
                   ("visit",), cadence[2], 5),
        LadderStep(4, "pressure", "全面施压（催收函、律师函、担保人）", "Full pressure", days[3],
                   "collection_contact", am, ("letter", "lawyer_letter", "guarantor"), cadence[3],
                   5),
        LadderStep(LEGAL, "legal", "移交法律诉讼", "Legal referral", days[4], "legal_referral",
                   Role.asset_disposal, (), None, 10, head_office=True),
    )  # fmt: skip


def missed_installments(installments: Sequence[Any], on: date) -> tuple[int, int]:
    """(consecutive, cumulative) installments due before `on` not paid in full by their due date:
    the current run of misses up to `on`, and all misses of the loan."""
    due = sorted((i for i in installments if i.due_date < on), key=lambda i: i.due_date)
    missed = [not (i.paid_off_on is not None and i.paid_off_on <= i.due_date) for i in due]
    run = 0
    for was_missed in reversed(missed):
        if not was_missed:
            break
        run += 1
    return run, sum(missed)


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


def _journal(
    items: list[dict[str, Any]], case: CollectionCase, event: str, actor: str, **kw: Any
) -> None:
    items.append(
        {
            "aggregate_type": COLLECTION,
            "aggregate_id": str(case.id),
            "machine": MACHINE,
            "event": event,
            "from_state": kw.pop("from_state", None),
            "to_state": kw.pop("to_state", None),
            "actor": actor,
            **kw,
        }
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
    schedules: dict[int, list[Installment]] = {i: [] for i in ids if i is not None}
    for inst in session.exec(select(Installment).where(col(Installment.loan_id).in_(ids))):
        schedules[inst.loan_id].append(inst)
    cases = {
        c.loan_id: c
        for c in session.exec(
            select(CollectionCase).where(
                col(CollectionCase.loan_id).in_(ids), col(CollectionCase.closed_on).is_(None)
            )
        )
    }
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
                kept, broken = _check_promises(session, case, on, items, actor, final=True)
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
            _journal(items, case, "open", actor, to_state="open", payload={"days_past_due": dpd})
            result.cases_opened += 1
        start_step = case.step
        kept, broken = _check_promises(session, case, on, items, actor)
        result.promises_kept += kept
        result.promises_broken += broken
        consecutive, cumulative = missed_installments(insts, on)
        case.missed_consecutive, case.missed_cumulative = consecutive, cumulative
        by_days = max((st.number for st in steps if dpd >= st.min_days), default=1)
        target, why = by_days, f"{dpd} days past due"
        if consecutive >= s.legal_consecutive_missed or cumulative >= s.legal_cumulative_missed:
            target, why = (
                LEGAL,
                f"{consecutive} consecutive / {cumulative} cumulative installments missed",
            )
        if target > case.step:
            _journal(items, case, "step_up", actor, from_state=str(case.step), to_state=str(target),
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
        result.signals += _signals(session, case, loan, dpd, on, s, actor, now, effects)
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


def _check_promises(
    session: Session,
    case: CollectionCase,
    on: date,
    items: list[dict[str, Any]],
    actor: str,
    *,
    final: bool = False,
) -> tuple[int, int]:
    """Promises whose date has passed (all of them when the case closes): kept if the payments
    since cover them, else broken — and a broken promise steps the ladder up."""
    kept = broken = 0
    query = select(CollectionPromise).where(
        CollectionPromise.case_id == case.id, CollectionPromise.state == "open"
    )
    if not final:
        query = query.where(CollectionPromise.promised_for < on)
    due = session.exec(query).all()
    for promise in due:
        paid = session.exec(
            select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
                Payment.loan_id == case.loan_id,
                col(Payment.value_date).between(promise.made_on, promise.promised_for),
            )
        ).one()
        promise.checked_on = on
        if int(paid) >= promise.amount_cents:
            promise.state, kept = "kept", kept + 1
        else:
            promise.state, broken = "broken", broken + 1
            case.broken_promises += 1
            before = case.step
            case.step, case.step_since = min(case.step + 1, LEGAL), on
            _journal(items, case, "promise_broken", actor, from_state=str(before),
                     to_state=str(case.step), reason=f"promised {promise.amount_cents / 100:,.2f} by "
                     f"{promise.promised_for}, paid {int(paid) / 100:,.2f}",
                     payload={"promise_id": promise.id})  # fmt: skip
        session.add(promise)
    return kept, broken


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
) -> int:
    """Warning signals the ladder raises, once per case each (keyed)."""
    raised = 0
    wanted = []
    if case.broken_promises >= settings.broken_promises_signal:
        wanted.append(("broken_promises", f"累计 {case.broken_promises} 次违背还款承诺"))
    if dpd > settings.warning_dpd_days:
        wanted.append(("dpd_rise", f"逾期 {dpd} 天，超过 {settings.warning_dpd_days} 天"))
    for signal, text in wanted:
        key = f"{signal}:collection:{case.id}"
        if session.exec(select(WarningCase.id).where(WarningCase.key == key)).first():
            continue
        raise_warning(session, loan.loan_no, actor, effects, signals=[signal], description=text,
                      key=key, now=now, business_date=on)  # fmt: skip
        raised += 1
    return raised


def _cancel_tasks(
    session: Session, case: CollectionCase, reason: str, *, actor: str, now: datetime, on: date
) -> None:
    for task in session.exec(
        select(HumanTask).where(
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
    _journal(items, case, "leave", actor, from_state=str(case.step), to_state="closed",
             reason="arrears cleared")  # fmt: skip


def record_contact(
    session: Session,
    task: HumanTask,
    form: TaskForm,
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> CollectionCase:
    """A contact filed: the quadrant (which picks the next strategy) and any promise to pay."""
    assert isinstance(form, CollectionContactForm)
    case = session.get(CollectionCase, int(task.context["collection_case_id"]))
    assert case is not None
    channels = task.context.get("channels") or []
    if channels and form.channel.value not in channels:
        raise field_error(
            "channel",
            f"本催收阶段应采用：{'、'.join(channels)}",
            f"this step of the ladder uses {', '.join(channels)}",
        )
    case.quadrant, case.last_contact_on = form.quadrant, form.contacted_on
    session.add(case)
    if form.outcome == "promise_to_pay" and form.promise_amount and form.promise_date:
        session.add(
            CollectionPromise(
                case_id=case.id or 0,
                task_id=task.id or 0,
                amount_cents=int(form.promise_amount * 100),
                promised_for=form.promise_date,
                made_on=form.contacted_on,
            )
        )
    _append(session, case, "contact", actor, now=now, business_date=business_date,
            reason=form.notes, payload={"task_id": task.id, "channel": form.channel.value,
                                        "outcome": form.outcome.value, "quadrant": form.quadrant})  # fmt: skip
    return case


def record_referral(
    session: Session,
    task: HumanTask,
    form: TaskForm,
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> CollectionCase:
    """The loan is referred to legal action (or to the guarantor / insurer): on the case's record."""
    assert isinstance(form, LegalReferralForm)
    case = session.get(CollectionCase, int(task.context["collection_case_id"]))
    assert case is not None
    _append(session, case, "legal_referral", actor, now=now, business_date=business_date,
            reason=form.notes, payload={"task_id": task.id, "measures": [m.value for m in form.measures],
                                        "claim_amount": str(form.claim_amount)})  # fmt: skip
    return case


def _append(session: Session, case: CollectionCase, event: str, actor: str, **kw: Any) -> None:
    session.flush()
    journal.append(
        session,
        aggregate_type=COLLECTION,
        aggregate_id=str(case.id),
        machine=MACHINE,
        event=event,
        from_state=str(case.step),
        to_state=str(case.step),
        actor=actor,
        **kw,
    )
