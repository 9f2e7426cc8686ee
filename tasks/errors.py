"""Errors of human tasks, each carrying its context."""

from __future__ import annotations

from core.errors import ConflictError, FourEyesError, SameApproverError, SelfApprovalError

__all__ = [
    "FourEyesError",
    "SameApproverError",
    "SelfApprovalError",
    "TaskAlreadyClaimedError",
    "TaskAlreadyCompletedError",
    "TaskClosedError",
    "TaskNotClaimedError",
    "VisitInspectorsError",
]


class TaskAlreadyClaimedError(ConflictError):
    code = "task_already_claimed"

    def __init__(self, task_id: int, assignee: str | None) -> None:
        super().__init__(
            f"任务 {task_id} 已被{assignee or '他人'}领取 "
            f"(task {task_id} is already claimed by {assignee or 'someone else'})",
            task_id=task_id,
            assignee=assignee,
        )


class TaskAlreadyCompletedError(ConflictError):
    code = "task_already_completed"

    def __init__(self, task_id: int, by: str | None) -> None:
        super().__init__(
            f"任务 {task_id} 已由{by or '他人'}完成 (task {task_id} was already completed by {by or 'someone'})",
            task_id=task_id,
            completed_by=by,
        )


class TaskClosedError(ConflictError):
    code = "task_closed"


class VisitInspectorsError(FourEyesError):
    code = "visit_inspectors"


class TaskNotClaimedError(ConflictError):
    code = "task_not_claimed"

    def __init__(self, task_id: int, event: str) -> None:
        super().__init__(
            f"任务 {task_id} 尚未领取：请先领取 (task {task_id} is not claimed: claim it first, then {event} it)",
            task_id=task_id,
            event=event,
        )
