"""Pre-maturity work (DOMAIN §7): the maturity notice (贷款到期通知书) N days before maturity and the
overdue notice (贷款逾期通知书) after an unpaid maturity, as tasks for the account manager with the
generated document stored by content hash. Set-based, idempotent by key; no web or Prefect."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import exists
from sqlmodel import Session, col, select

from core.calendar import BusinessCalendar
from core.identity import OrgUnit, User
from core.settings import Settings, get_settings
from loans import aging
from loans.models import Borrower, ExtensionRequest, ExtensionStatus, Loan
from tasks import attachments
from tasks.bulk import TaskRow, existing_keys, open_tasks_bulk
from tasks.inspection_reports import CLOSED
from tasks.inspections import created_by_rule
from tasks.loan_rows import amounts_by_loan, loan_row, loan_row_columns, task_row
from tasks.models import HumanTask
from tasks.notices import NOTICE_TITLES, Notice, render_notice

# 到期前催收: at least 10 days before maturity, a month or earlier recommended (001 §三).
MIN_NOTICE_DAYS = 10
# Candidate loans are read with this much slack around the windows; rules then decide exactly.
_SLACK_DAYS = 31


class HasMaturity(Protocol):
    maturity_date: date


def notice_days(settings: Settings) -> int:
    """Days before maturity the notice goes out: `maturity_notice_days` (default 30), never fewer
    than 10 — a smaller configured value is raised to 10, the floor of 001 §三."""
    return max(MIN_NOTICE_DAYS, settings.maturity_notice_days)


def extension_deadline(maturity_date: date, settings: Settings) -> date:
    """The last day an extension (展期) can be applied for: `extension_notice_days` (30) before."""
    return maturity_date - timedelta(days=settings.extension_notice_days)


def extension_window_open(loan: HasMaturity, on: date, settings: Settings | None = None) -> bool:
    """Whether an extension may still be applied for on `on` (the rule `request_extension`
    enforces: at least `extension_notice_days` before maturity, 000 贷款催收基本流程)."""
    return on <= extension_deadline(loan.maturity_date, settings or get_settings())


@dataclass(frozen=True)
class PlannedNotice:
    """A notice task to open: the task (its context still without the document) and the notice."""

    row: TaskRow
    notice: Notice
    issuer_id: int  # the account manager, recorded as the document's uploader


def _candidates(session: Session, on: date, days: int) -> tuple[list[Any], Any]:
    """Open loans maturing near `on` with what a notice says, and the same set as a subquery."""
    approved = exists().where(
        col(ExtensionRequest.loan_id) == col(Loan.id),
        col(ExtensionRequest.status) == ExtensionStatus.approved.value,
    )
    where = (
        col(Loan.state).not_in(CLOSED),
        # maturing soon, or past maturity and still open (any unpaid amount gets its notice)
        col(Loan.maturity_date) <= on + timedelta(days=days + _SLACK_DAYS),
    )
    rows = list(
        session.connection().execute(
            sa.select(
                *loan_row_columns(),
                col(Loan.maturity_date).label("maturity_date"),
                col(Loan.principal_cents).label("principal_cents"),
                col(OrgUnit.name).label("branch_name"),
                col(OrgUnit.code).label("branch_code"),
                col(User.full_name).label("manager_name"),
                approved.label("extension_approved"),
            )
            .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
            .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
            .join(User, col(User.id) == col(Loan.account_manager_id))
            .where(*where)
            .order_by(col(Loan.loan_no))
        )
    )
    return rows, select(Loan.id).where(*where)


def plan_pre_maturity(
    session: Session, *, on: date, calendar: BusinessCalendar, settings: Settings | None = None
) -> list[PlannedNotice]:
    """The notices `on` calls for (existing keys included: opening is idempotent).

    - Maturity notice: opens `notice_days` before maturity (or on its due date if that is
      earlier) until the day before maturity; due on the last business day at least 10 days
      before maturity, so the notice is on time under 001 §三 whatever N is.
    - Overdue notice: opens the day after maturity when anything (principal or interest) is
      still unpaid and no extension is approved (marking the loan overdue is the daily sweep's
      job), due `overdue_notice_business_days` (default 3) business days after maturity; a loan
      found unpaid later gets it then, once per loan and maturity.
    After a scheduler outage, run the missed dates: keys make it safe, the tasks are born late.
    """
    settings = settings or get_settings()
    days = notice_days(settings)
    overdue_days = settings.overdue_notice_business_days
    session.flush()  # the core queries below do not autoflush
    rows, loan_ids = _candidates(session, on, days)
    amounts = amounts_by_loan(session, loan_ids, on)
    planned: list[PlannedNotice] = []
    for row in rows:
        loan = loan_row(row, amounts, on)
        principal, interest, _oldest = amounts.get(row.loan_id, (0, 0, None))
        maturity: date = row.maturity_date
        if principal + interest <= 0:
            continue  # nothing left to remind of or to claim
        notice = Notice(
            kind="maturity_notice",
            issued_on=on,
            bank_name=row.branch_name,
            branch_code=row.branch_code,
            borrower_name=row.borrower_name,
            customer_no=row.customer_no,
            loan_no=row.loan_no,
            principal_cents=row.principal_cents,
            outstanding_principal_cents=principal,
            interest_due_cents=interest,
            disbursement_date=row.disbursement_date,
            maturity_date=maturity,
            manager_name=row.manager_name,
        )
        context: dict[str, Any] = {
            "maturity_date": maturity.isoformat(),
            "principal_outstanding_cents": principal,
        }
        if on < maturity:
            due = calendar.roll(maturity - timedelta(days=MIN_NOTICE_DAYS), "previous")
            if not min(maturity - timedelta(days=days), due) <= on:
                continue
            deadline = extension_deadline(maturity, settings)
            window_open = on <= deadline
            notice = replace(notice, extension_deadline=deadline if window_open else None)
            context.update(
                notice_days=days,
                extension_deadline=deadline.isoformat(),
                extension_window_open=window_open,
            )
        else:
            payable = aging.pay_by(maturity)  # a maturity on a holiday is payable after it (顺延)
            if on <= payable or row.extension_approved:
                continue
            # any amount unpaid after maturity, principal or only interest, however long ago:
            # once per loan and maturity (the key); born late, it is due at once
            due = max(calendar.add_business_days(payable, overdue_days), on)
            notice = replace(notice, kind="overdue_notice", days_overdue=(on - payable).days)
            context.update(days_overdue=notice.days_overdue)
        context["notice_no"] = notice.number
        title = f"{NOTICE_TITLES[notice.kind]} {maturity.isoformat()}"
        key = f"{notice.kind}:{row.loan_no}:{maturity.isoformat()}"
        task = task_row(loan, kind=notice.kind, key=key, title=title, due=due, context=context)
        planned.append(PlannedNotice(task, notice, row.account_manager_id))
    return planned


@dataclass(frozen=True)
class PreMaturityResult:
    """Ids created per kind (maturity_notice / overdue_notice); `planned` counts the notices due,
    created now or before."""

    planned: int
    created: dict[str, list[int]] = field(default_factory=dict)


def schedule_pre_maturity(
    session: Session,
    *,
    on: date,
    calendar: BusinessCalendar,
    actor: str,
    now: datetime,
    settings: Settings | None = None,
) -> PreMaturityResult:
    """Render and store the document of each new notice (content hash in the task context, as an
    `AttachmentRef` under `notice_document`), then open the tasks in one bulk call."""
    planned = plan_pre_maturity(session, on=on, calendar=calendar, settings=settings)
    existing = existing_keys(session, [p.row.key for p in planned])
    rows: list[TaskRow] = []
    for item in planned:
        if item.row.key in existing:
            continue  # documents are rendered only for tasks not yet open
        ref = attachments.store(
            session,
            data=render_notice(item.notice).encode("utf-8"),
            filename=item.notice.filename,
            content_type="text/html; charset=utf-8",
            uploaded_by=item.issuer_id,
            now=now,
            generated=True,
        )
        document = ref.model_dump(mode="json")
        rows.append(replace(item.row, context={**item.row.context, "notice_document": document}))
    ids = open_tasks_bulk(session, rows, actor=actor, now=now, business_date=on)
    documents = {r.key: r.context["notice_document"] for r in rows}
    for task_id, key in session.exec(
        select(HumanTask.id, HumanTask.key).where(col(HumanTask.id).in_(ids))
    ).all():
        attachments.link(session, "task", task_id or 0, documents[key])
    return PreMaturityResult(planned=len(planned), created=created_by_rule(session, ids))
