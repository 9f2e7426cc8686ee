"""Collection contacts and promises to pay (催收): what a contact records — the quadrant that picks
the next strategy, a promise (amount, date) — and promises settled as kept or broken from the
payments that followed (a broken one steps the ladder up). Legal referrals on the case's record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from approvals.effects import field_error
from audit import journal
from cases.ladder import LEGAL
from cases.models import CollectionCase, CollectionPromise
from forms import TaskForm
from forms.collection import CollectionContactForm, LegalReferralForm
from loans.models import Payment
from tasks.models import HumanTask

COLLECTION = "collection"  # journal aggregate type: one chain per collection case
MACHINE = "collection_ladder"


def case_event(
    items: list[dict[str, Any]], case: CollectionCase, event: str, actor: str, **kw: Any
) -> None:
    """A journal item of the case's chain, appended with the chunk's other items."""
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


def open_promises_of(
    session: Session, case_ids: Sequence[int]
) -> dict[int, list[CollectionPromise]]:
    """The open promises of these cases, by case (one query)."""
    found: dict[int, list[CollectionPromise]] = {}
    if case_ids:
        for promise in session.exec(
            select(CollectionPromise).where(
                col(CollectionPromise.case_id).in_(case_ids), CollectionPromise.state == "open"
            )
        ):
            found.setdefault(promise.case_id, []).append(promise)
    return found


def check_promises(
    session: Session,
    case: CollectionCase,
    on: date,
    items: list[dict[str, Any]],
    actor: str,
    *,
    open_promises: Sequence[CollectionPromise],
    final: bool = False,
) -> tuple[int, int]:
    """Promises whose date has passed (all of them when the case closes): kept if the payments
    since cover them, else broken — and a broken promise steps the ladder up. `open_promises`:
    the case's open promises, read for the whole chunk by `open_promises_of`."""
    kept = broken = 0
    due = [p for p in open_promises if p.state == "open" and (final or p.promised_for < on)]
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
            case_event(
                items, case, "promise_broken", actor, from_state=str(before),
                to_state=str(case.step),
                reason=f"违背还款承诺：承诺 {promise.promised_for} 前还款 "
                f"{promise.amount_cents / 100:,.2f}，实还 {int(paid) / 100:,.2f}",
                payload={"promise_id": promise.id},
            )  # fmt: skip
        session.add(promise)
    return kept, broken


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
