"""Sign-in with the throttle, for /login and /api/v1/auth/token alike: a locked username or
address is refused before any password is checked; every outcome is recorded (audit/signin.py)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api.auth import authenticate
from api.deps import commit
from audit.signin import SignInLockedError, Who, locked_for, record_failure, record_success
from core.clock import Clock
from core.errors import AuthenticationError, ConflictError
from core.identity import User

__all__ = ["SignInLockedError", "address", "sign_in"]


def address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy: uvicorn --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def sign_in(session: Session, username: str, password: str, client: str, clock: Clock) -> User:
    """The user, or AuthenticationError (wrong credentials, one message whatever was wrong) or
    SignInLockedError (429). A correct password during a lockout is refused as well."""
    who, now, today = Who.of(username, client), clock.now(), clock.today()
    wait = locked_for(session, who, now=now)
    if wait is not None:
        raise SignInLockedError(wait)
    try:
        user = authenticate(session, username, password)
    except AuthenticationError:
        _record(session, lambda: record_failure(session, who, now=now, today=today))
        raise
    _record(session, lambda: record_success(session, who, now=now, today=today))
    return user


def _record(session: Session, write: Callable[[], None]) -> None:
    # Two first attempts for one username at once both start its journal chain; the loser
    # writes again on top of the winner's entry.
    for attempt in range(3):
        try:
            write()
            commit(session)
            return
        except IntegrityError as exc:
            session.rollback()
            if attempt == 2:
                raise ConflictError("登录繁忙，请重试 (sign-in is busy; try again)") from exc
