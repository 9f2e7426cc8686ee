"""Sign-in attempts (登录记录): the throttle on repeated failures and their journal entries.

The record lives in the database, so every worker process sees the same counts. A username that
does not exist is counted like one that does: a lockout reveals nothing. Imports no fastapi.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Index, String, delete, func
from sqlmodel import Field, Session, SQLModel, col, select

from audit.journal import append
from core.errors import PostloanError
from core.settings import get_settings

SIGNIN = "signin"  # journal aggregate type: one chain per username tried
MACHINE = "sign_in"
FAILED, SIGNED_IN = "failed", "signed_in"
USERNAME_LEN = 64  # core.identity.User.username: a longer name never exists


class SignInAttempt(SQLModel, table=True):
    __tablename__ = "signin_attempts"
    __table_args__ = (
        Index("ix_signin_attempts_username_at", "username", "at"),
        Index("ix_signin_attempts_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    username: str = Field(sa_column=Column(String(USERNAME_LEN), nullable=False))
    address: str = Field(sa_column=Column(String(64), nullable=False))
    outcome: str = Field(sa_column=Column(String(10), nullable=False))


class SignInLockedError(PostloanError):
    """Too many failed sign-ins for this username or from this address (429, Retry-After)."""

    code = "sign_in_locked"

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"登录失败次数过多，请 {minutes} 分钟后再试 "
            f"(too many failed sign-ins; try again in {minutes} minutes)",
            retry_after_seconds=retry_after,
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class Who:
    """Who tries to sign in: the username as typed (capped) and the client address."""

    username: str
    address: str

    @classmethod
    def of(cls, username: str, address: str) -> Who:
        return cls(username[:USERNAME_LEN], address[:64] or "unknown")


def _utc(moment: datetime) -> datetime:
    # SQLite gives naive datetimes back; everything is written in UTC
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _retry_after(
    session: Session, field: Any, value: str, after_id: int, limit: int, now: datetime
) -> int | None:
    """Seconds until fewer than `limit` failures of the window (written after row `after_id`)
    remain, or None when there are fewer already."""
    window = timedelta(minutes=get_settings().signin_window_minutes)
    newest = session.exec(
        select(SignInAttempt.at)
        .where(
            field == value,
            SignInAttempt.outcome == FAILED,
            col(SignInAttempt.at) > now - window,
            col(SignInAttempt.id) > after_id,
        )
        .order_by(col(SignInAttempt.at).desc())
        .limit(limit)
    ).all()
    if len(newest) < limit:
        return None
    return max(1, math.ceil((_utc(newest[-1]) + window - now).total_seconds()))


def _waits(session: Session, who: Who, now: datetime) -> dict[str, int]:
    """What is locked ("username", "address") and for how many seconds.

    A username's count starts again after its last successful sign-in; an address's does not
    (one valid account must not reset the count of an address guessing at others)."""
    settings, now = get_settings(), _utc(now)
    window_start = now - timedelta(minutes=settings.signin_window_minutes)
    last_ok = session.exec(
        select(func.max(SignInAttempt.id)).where(
            SignInAttempt.username == who.username,
            SignInAttempt.outcome == SIGNED_IN,
            col(SignInAttempt.at) > window_start,
        )
    ).one()
    limits = {
        "username": (SignInAttempt.username, who.username, last_ok or 0),
        "address": (SignInAttempt.address, who.address, 0),
    }
    maxima = {
        "username": settings.signin_user_max_failures,
        "address": settings.signin_address_max_failures,
    }
    waits = {
        scope: _retry_after(session, field, value, after, maxima[scope], now)
        for scope, (field, value, after) in limits.items()
    }
    return {scope: wait for scope, wait in waits.items() if wait is not None}


def locked_for(session: Session, who: Who, *, now: datetime) -> int | None:
    """Seconds this username or address stays locked (None: it may try)."""
    waits = _waits(session, who, now)
    return max(waits.values()) if waits else None


def _prune(session: Session, who: Who, now: datetime) -> None:
    # The journal keeps the record; this table needs only the window (both indexes serve this).
    cutoff = _utc(now) - timedelta(minutes=get_settings().signin_window_minutes)
    session.execute(
        delete(SignInAttempt).where(
            col(SignInAttempt.at) < cutoff,
            (SignInAttempt.username == who.username) | (SignInAttempt.address == who.address),
        )
    )


def _journal(
    session: Session,
    who: Who,
    event: str,
    *,
    actor: str,
    now: datetime,
    today: date,
    **payload: object,
) -> None:
    append(
        session,
        aggregate_type=SIGNIN,
        aggregate_id=who.username or "-",
        machine=MACHINE,
        event=event,
        from_state=None,
        to_state=None,
        actor=actor,
        now=now,
        business_date=today,
        payload={"address": who.address, **payload},
    )


def record_failure(session: Session, who: Who, *, now: datetime, today: date) -> None:
    """A wrong password (or unknown username): counted, journalled; reaching a limit is a
    lockout, journalled once (what it locks and for how long). In the caller's transaction."""
    _prune(session, who, now)
    session.add(
        SignInAttempt(at=_utc(now), username=who.username, address=who.address, outcome=FAILED)
    )
    session.flush()
    _journal(session, who, "fail_sign_in", actor="system:sign-in", now=now, today=today)
    waits = _waits(session, who, now)
    if waits:
        _journal(
            session,
            who,
            "lock_out",
            actor="system:sign-in",
            now=now,
            today=today,
            locked=sorted(waits),
            retry_after_seconds=max(waits.values()),
        )


def record_success(session: Session, who: Who, *, now: datetime, today: date) -> None:
    _prune(session, who, now)
    session.add(
        SignInAttempt(at=_utc(now), username=who.username, address=who.address, outcome=SIGNED_IN)
    )
    _journal(session, who, "sign_in", actor=f"u:{who.username}", now=now, today=today)
