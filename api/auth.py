"""Sign-in: OAuth2 password flow → a signed JWT, sent as a Bearer header (API) or kept in an
http-only cookie (pages). Passwords are stored hashed (argon2, core.identity)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from api.deps import DEFER_SIGN_IN, PENDING_SIGN_IN, ClockDep, Deferred, deferring
from core.clock import Clock
from core.db import get_engine
from core.errors import AuthenticationError
from core.identity import User, hash_password, verify_password
from core.settings import get_settings, signing_key
from tasks.access import Actor, signed_in_actor

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


def username_in(token: str, clock: Clock) -> str:
    """Whose token this is, if it is valid and unexpired — in memory, no database: the user is
    then read in the endpoint's own thread and connection (SignIn.resolve)."""
    try:
        username, expires = _claims(token, signing_key())
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError("the sign-in is not valid; sign in again") from exc
    if expires < clock.now().timestamp():
        raise AuthenticationError("the sign-in has expired; sign in again")
    return username


@lru_cache(maxsize=4096)
def _claims(token: str, key: str) -> tuple[str, float]:
    """The subject and expiry of a token signed with `key` (a token is immutable: its signature
    is checked once per process, not on every request; a refused one is not kept)."""
    claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"verify_exp": False})
    return str(claims.get("sub")), float(claims.get("exp", 0))


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if the request has one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@dataclass(frozen=True)
class SignedIn:
    user: User
    actor: Actor


@dataclass
class SignIn:
    """A valid token whose user is still to be read: on every request, afresh, so that a
    deactivated user is refused at once (one statement: tasks.access.signed_in_actor)."""

    username: str
    clock: Clock
    found: SignedIn | None = None

    def resolve(self, session: Session) -> SignedIn:
        if self.found is None:
            actor = signed_in_actor(session, self.username, self.clock.today())
            if actor is None:
                raise AuthenticationError("the user is no longer active")
            self.found = SignedIn(actor.me.user, actor)
        return self.found

    def resolve_alone(self) -> SignedIn:
        """In a short session of its own, closed before the thread is let go. Sync: call it
        in a thread (`run_in_threadpool`)."""
        with Session(get_engine(), expire_on_commit=False) as session:
            return self.resolve(session)


@dataclass(frozen=True)
class Signed(Deferred):
    """What an endpoint asked for (the user or the actor), filled in by OneHopRoute in the
    endpoint's thread, on its session: one hop and one connection per request."""

    sign_in: SignIn
    part: str

    def value(self, session: Session) -> Any:
        return getattr(self.sign_in.resolve(session), self.part)


def resolve_token(token: str, clock: Clock) -> SignedIn:
    """Who the token belongs to (an error page's header). Sync: call it in a thread."""
    return SignIn(username_in(token, clock), clock).resolve_alone()


@deferring
async def signed_in(
    request: Request,
    clock: ClockDep,
    bearer: Annotated[str | None, Depends(oauth2)] = None,
) -> SignIn | SignedIn:
    """The request's sign-in (cached for the request). The token is checked here, on the event
    loop; the user is read in the endpoint's own hop when OneHopRoute resolves it there (the
    route says so), else here in one hop of its own. Either way before the body counts: a valid
    token of a deactivated user with a bad body is 401 (api.errors resolves it first)."""
    token = bearer or request.cookies.get(COOKIE)
    if not token:
        raise AuthenticationError("sign in first")
    pending = SignIn(username_in(token, clock), clock)
    if request.scope.get(DEFER_SIGN_IN):
        request.scope[PENDING_SIGN_IN] = pending
        return pending
    return await run_in_threadpool(pending.resolve_alone)


@deferring
async def current_user(who: Annotated[SignIn | SignedIn, Depends(signed_in)]) -> User:
    return Signed(who, "user") if isinstance(who, SignIn) else who.user  # type: ignore[return-value]


CurrentUser = Annotated[User, Depends(current_user)]


@deferring
async def current_actor(who: Annotated[SignIn | SignedIn, Depends(signed_in)]) -> Actor:
    return Signed(who, "actor") if isinstance(who, SignIn) else who.actor  # type: ignore[return-value]


ActorDep = Annotated[Actor, Depends(current_actor)]
