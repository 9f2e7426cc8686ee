"""Resources resolved once, at the edge, under a name (STYLE habit 1), and the route class every
router uses: a request holds a DB connection only inside a thread, never while it waits for one."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.limits import admit
from core.clock import Clock, SystemClock
from core.db import commit, get_engine

STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# every page escapes what it shows: the templates end in .j2, which Jinja's default
# select_autoescape(["html", "xml"]) does not match, so nothing was escaped
templates.env.autoescape = True


async def get_session() -> AsyncIterator[Session]:
    """The endpoint's session, only constructed here (that does not connect): it checks out a
    connection on first use, inside the endpoint's thread, and OneHopRoute closes it there.
    Async, so resolving it costs no hop to the thread pool; closed again when the endpoint
    returns (a no-op for a session already closed; an async endpoint's session closes here)."""
    session = Session(get_engine(), expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


async def get_clock() -> Clock:
    return SystemClock()


async def posted_form(request: Request) -> FormData:
    """The posted form (fields and files), read on the event loop before the endpoint's one
    thread hop: an endpoint never awaits the body while it holds a DB connection, nor runs
    DB work on the loop. Starlette keeps it on the request: the CSRF guard read it already."""
    return await request.form()


# request.scope keys: the route resolves the sign-in in its endpoint's hop; the sign-in pending
DEFER_SIGN_IN, PENDING_SIGN_IN = "postloan.defer_sign_in", "postloan.pending_sign_in"


class Deferred:
    """A dependency's value that needs the database, given to OneHopRoute to fill in inside
    the endpoint's thread, on the endpoint's session (api.auth: the signed-in user/actor)."""

    def value(self, session: Session) -> Any:
        raise NotImplementedError


def deferring(dependency: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a dependency that may return a Deferred: a route whose other dependencies consume
    it does not defer (they would get the placeholder)."""
    dependency.__dict__["postloan_deferring"] = True
    return dependency


def _resolve(values: dict[str, Any]) -> None:
    pending = [name for name, value in values.items() if isinstance(value, Deferred)]
    if not pending:
        return
    session = next((v for v in values.values() if isinstance(v, Session)), None)
    if session is not None:
        for name in pending:
            values[name] = values[name].value(session)
        return
    with Session(get_engine(), expire_on_commit=False) as own:
        for name in pending:
            values[name] = values[name].value(own)


def _close_sessions(endpoint: Callable[..., Any], values: dict[str, Any]) -> Any:
    try:
        _resolve(values)  # the sign-in, on the endpoint's session: one connection per request
        return endpoint(**values)
    finally:  # the connection goes back to the pool before the thread is let go
        for value in values.values():
            if isinstance(value, Session):
                value.close()


def in_one_hop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A sync endpoint as a coroutine that runs it in one thread hop and closes its sessions
    before that hop ends. Being a coroutine, FastAPI also validates its response on the event
    loop instead of in a second hop. FastAPI reads the signature through `__wrapped__`."""

    @functools.wraps(endpoint)
    async def hop(**values: Any) -> Any:
        return await run_in_threadpool(_close_sessions, endpoint, values)

    return hop


class OneHopRoute(APIRoute):
    """Every router's route class (`APIRouter(route_class=OneHopRoute)`): before, a request
    made 5–7 hops to the thread pool (session enter/exit, clock, user, actor, endpoint,
    response validation) and held its connection "idle in transaction" while it waited for
    the next one; with 64 clients all threads then waited for connections held by requests
    that waited for threads, until the pool timed out (500). Now: one hop, for the endpoint,
    which reads the signed-in user first on the endpoint's own session (api/auth.py: one
    connection per request) — unless another dependency needs the user before the endpoint
    runs: then signing in takes a hop of its own; and at most `api_threads` requests inside at
    once (api/limits.py: beyond a short queue, 503)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.defers_sign_in = False
        wrapped = not (
            inspect.iscoroutinefunction(endpoint)
            or inspect.isgeneratorfunction(endpoint)
            or inspect.isasyncgenfunction(endpoint)
        )
        if wrapped:
            endpoint = in_one_hop(endpoint)
        dependencies = list(kwargs.get("dependencies") or [])
        if not any(d.dependency is admit for d in dependencies):  # first: before signing in
            kwargs["dependencies"] = [Depends(admit, scope="function"), *dependencies]
        super().__init__(path, endpoint, **kwargs)
        self.defers_sign_in = wrapped and not any(
            _consumes_deferring(d) for d in self.dependant.dependencies if not _is_deferring(d)
        )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def marked(request: Request) -> Response:
            if self.defers_sign_in:
                request.scope[DEFER_SIGN_IN] = True
            return await handler(request)

        return marked


def _is_deferring(dependant: Dependant) -> bool:
    return bool(getattr(dependant.call, "postloan_deferring", False))


def _consumes_deferring(dependant: Dependant) -> bool:
    """Whether a dependency (not the endpoint) takes a deferring one among its own."""
    return any(_is_deferring(d) or _consumes_deferring(d) for d in dependant.dependencies)


__all__ = [
    "DEFER_SIGN_IN",
    "PENDING_SIGN_IN",
    "ClockDep",
    "Deferred",
    "OneHopRoute",
    "PostedForm",
    "SessionDep",
    "commit",
    "deferring",
    "get_clock",
    "get_session",
    "templates",
]

SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClockDep = Annotated[Clock, Depends(get_clock)]
PostedForm = Annotated[FormData, Depends(posted_form)]
