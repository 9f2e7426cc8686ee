"""Demo tasks for the demo book (`postloan demo seed`), opened by the real scheduler on the
business calendar: last month's checks, some of which managers never did (now overdue), and
this month's."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, col, select

from core.calendar import BusinessCalendar
from core.clock import FixedClock
from statemachines.enums import TaskState
from tasks.inspections import schedule_inspections
from tasks.models import HumanTask
from tasks.opening import refresh_business_columns
from tasks.service import cancel_as_system

SEED_ACTOR = "system:demo-seed"
_DONE_BEFORE = "演示数据：上线前已在原系统完成 (demo: done in the previous system before go-live)"


def seed_demo_tasks(
    session: Session, *, today: date, calendar: BusinessCalendar | None = None
) -> int:
    """Run the inspection scheduler for the first day of last month's work and for `today`;
    four in five of last month's tasks are closed as done before the demo began (journaled), the
    rest stay open and overdue."""
    calendar = calendar or BusinessCalendar.load()
    clock = FixedClock()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    opened = 0
    for day in (last_month, today):
        clock.set_date(day)
        result = schedule_inspections(
            session, on=day, calendar=calendar, actor=SEED_ACTOR, now=clock.now()
        )
        opened += sum(len(ids) for ids in result.created.values())
        if day == last_month:
            earlier = session.exec(
                select(HumanTask)
                .where(HumanTask.due_date < today, HumanTask.state == TaskState.open)
                .order_by(col(HumanTask.id))
            ).all()
            for n, task in enumerate(earlier):
                if n % 5:  # four in five were done before the demo began (journaled as such)
                    cancel_as_system(
                        session, task, actor=SEED_ACTOR, reason=_DONE_BEFORE, now=clock.now(),
                        business_date=day,
                    )  # fmt: skip
    # last month's tasks carry that month's bucket: show today's, as the next sweep would
    with_loans = session.exec(select(col(HumanTask.loan_id)).distinct()).all()
    refresh_business_columns(session, [loan_id for loan_id in with_loans if loan_id is not None])
    return opened
