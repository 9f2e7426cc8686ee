"""Sign-in: OAuth2 password flow → a signed JWT, sent as a Bearer header (API) or kept in an
http-only cookie (pages). Passwords are stored hashed (argon2, core.identity)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.deps import ClockDep
from core.clock import Clock
from core.db import get_engine
from core.errors import AuthenticationError
from core.identity import User, hash_password, verify_password
from core.settings import get_settings, signing_key
from tasks.access import Actor, actor_for

COOKIE = "postloan_session"
ALGORITHM = "HS256"
oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


@lru_cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(16))


def authenticate(session: Session, username: str, password: str) -> User:
    """The user whose password this is. An unknown or inactive user costs the same hashing
    (a dummy hash) and gets the same message: nothing reveals which usernames exist."""
    user = session.exec(select(User).where(User.username == username)).first()
    stored = user.password_hash if user is not None else _dummy_hash()
    matches = verify_password(password, stored)
    if user is None or not user.active or not matches:
        raise AuthenticationError("用户名或密码错误 (wrong username or password)")
    return user


def issue_token(user: User, clock: Clock) -> str:
    settings = get_settings()
    now = clock.now()
    claims = {
        "sub": user.username,
        "jti": secrets.token_urlsafe(16),  # each sign-in its own session (and CSRF token)
        "iat": now,
        "exp": now + timedelta(minutes=settings.token_minutes),
    }
    return jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM)


def _user_from_token(session: Session, token: str, clock: Clock) -> User:
    try:
        claims = jwt.decode(
            token, signing_key(), algorithms=[ALGORITHM], options={"verify_exp": False}
        )
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError("the sign-in is not valid; sign in again") from exc
    if claims.get("exp", 0) < clock.now().timestamp():
        raise AuthenticationError("the sign-in has expired; sign in again")
    user = session.exec(select(User).where(User.username == claims.get("sub"))).first()
    if user is None or not user.active:
        raise AuthenticationError("the user is no longer active")
    return user


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if the request has one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class SignedIn:
    user: User
    actor: Actor


def resolve_token(token: str, clock: Clock) -> SignedIn:
    """Who the token belongs to, from a short session of its own that is closed before the
    thread is let go: no connection is held while the request waits for its endpoint's thread
    (the endpoint opens its own). Sync: call it in a thread (`run_in_threadpool`)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        user = _user_from_token(session, token, clock)
        return SignedIn(user, actor_for(session, user, clock.today()))


async def signed_in(
    request: Request,
    clock: ClockDep,
    bearer: Annotated[str | None, Depends(oauth2)] = None,
) -> SignedIn:
    """The user and the actor in ONE hop to the thread pool (cached for the request)."""
    token = bearer or request.cookies.get(COOKIE)
    if not token:
        raise AuthenticationError("sign in first")
    return await run_in_threadpool(resolve_token, token, clock)


async def current_user(who: Annotated[SignedIn, Depends(signed_in)]) -> User:
    return who.user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_actor(who: Annotated[SignedIn, Depends(signed_in)]) -> Actor:
    return who.actor


ActorDep = Annotated[Actor, Depends(current_actor)]
