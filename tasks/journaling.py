"""The journal of human tasks: one hash chain per task (aggregate "task", machine
"human_task"), written in the transaction of the command that moved it."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from audit import journal
from tasks.models import HumanTask

TASK = "task"  # journal aggregate type
MACHINE = "human_task"


def journal_task(
    session: Session, task: HumanTask, event: str, before: str | None, after: str | None, **kw: Any
) -> None:
    session.flush()  # the task needs its id; the version check runs here too
    journal.append(
        session,
        aggregate_type=TASK,
        aggregate_id=str(task.id),
        machine=MACHINE,
        event=event,
        from_state=before,
        to_state=after,
        **kw,
    )
