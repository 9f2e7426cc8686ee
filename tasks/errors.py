"""Errors of human tasks, each carrying its context."""

from __future__ import annotations

from core.errors import ConflictError, PermissionDeniedError


class TaskAlreadyClaimedError(ConflictError):
    code = "task_already_claimed"

    def __init__(self, task_id: int, assignee: str | None) -> None:
        super().__init__(
            f"task {task_id} is already claimed by {assignee or 'someone else'}",
            task_id=task_id,
            assignee=assignee,
        )


class TaskAlreadyCompletedError(ConflictError):
    code = "task_already_completed"

    def __init__(self, task_id: int, by: str | None) -> None:
        super().__init__(
            f"task {task_id} was already completed by {by or 'someone'}",
            task_id=task_id,
            completed_by=by,
        )


class TaskClosedError(ConflictError):
    code = "task_closed"


class FourEyesError(PermissionDeniedError):
    """Nobody approves their own request; each level of a chain is a different person; an
    on-site visit needs two distinct account managers, one of them the loan's own."""

    code = "four_eyes"


class SelfApprovalError(FourEyesError):
    code = "self_approval"


class SameApproverError(FourEyesError):
    code = "same_approver_in_chain"


class VisitInspectorsError(FourEyesError):
    code = "visit_inspectors"


class TaskNotClaimedError(ConflictError):
    code = "task_not_claimed"

    def __init__(self, task_id: int, event: str) -> None:
        super().__init__(
            f"task {task_id} is not claimed: claim it first, then {event} it",
            task_id=task_id,
            event=event,
        )
