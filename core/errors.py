"""Domain error base. Every error carries a machine-readable code, a message and its context."""

from __future__ import annotations

from typing import Any


class PostloanError(Exception):
    """Base of every domain error; `api/errors.py` maps subclasses to HTTP in one place."""

    code = "postloan_error"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "context": _jsonable(self.context)}


class NotFoundError(PostloanError):
    code = "not_found"


class ConflictError(PostloanError):
    """The row changed under us (version mismatch) or is locked by a concurrent transaction."""

    code = "conflict"


class TransitionNotAllowedError(PostloanError):
    """An event the machine does not allow from the current state (never a silent no-op)."""

    code = "transition_not_allowed"


class RuleViolationError(PostloanError):
    """A guard or validator refused the change, saying why."""

    code = "rule_violation"


class ValidationError(PostloanError):
    """Input is malformed; `errors` lists every problem found."""

    code = "invalid_input"

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None, **context: Any):
        super().__init__(message, **context)
        self.errors = errors or []

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["errors"] = _jsonable(self.errors)
        return data


class PermissionDeniedError(PostloanError):
    code = "permission_denied"


class FourEyesError(PermissionDeniedError):
    """Nobody approves their own request; each level of a chain is a different person; an
    on-site visit needs two distinct account managers, one of them the loan's own (DOMAIN §4, §6)."""

    code = "four_eyes"


class SelfApprovalError(FourEyesError):
    code = "self_approval"


class SameApproverError(FourEyesError):
    code = "same_approver_in_chain"


class InsufficientAuthorityError(PermissionDeniedError):
    """The decider's delegated authority (授权) does not cover the amount."""

    code = "insufficient_authority"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


class AuthenticationError(PostloanError):
    """No valid sign-in (401)."""

    code = "not_authenticated"


class ServiceBusyError(PostloanError):
    """Too many requests at once, or no DB connection free in time (503 with Retry-After):
    nothing was done; the client retries."""

    code = "busy"

    def __init__(self, retry_after_seconds: int, **context: Any) -> None:
        super().__init__(
            f"服务器繁忙，请 {retry_after_seconds} 秒后重试 "
            f"(the server is busy; retry in {retry_after_seconds} s)",
            retry_after_seconds=retry_after_seconds,
            **context,
        )
        self.retry_after_seconds = retry_after_seconds
