"""One place that maps domain errors to HTTP (STYLE: not allowed → 409, not yours → 403,
missing → 404, invalid → 422 with field errors)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from api.deps import templates
from api.i18n import language, translator
from core.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PostloanError,
    RuleViolationError,
    ServiceBusyError,
    TransitionNotAllowedError,
    ValidationError,
)
from core.settings import get_settings

STATUS: list[tuple[type[PostloanError], int]] = [
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ValidationError, 422),
    (ConflictError, 409),
    (TransitionNotAllowedError, 409),
    (RuleViolationError, 409),
    (ServiceBusyError, 503),
]


def status_for(exc: PostloanError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(PoolTimeoutError)
    async def _no_connection(request: Request, exc: PoolTimeoutError) -> Response:
        # no DB connection came free in time: nothing was done, the client may retry
        retry = get_settings().api_retry_after_seconds
        return await _domain_error(request, ServiceBusyError(retry, reason="db_pool_timeout"))

    @app.exception_handler(PostloanError)
    async def _domain_error(request: Request, exc: PostloanError) -> Response:
        status = status_for(exc)
        is_page = not request.url.path.startswith("/api/")
        headers = (
            {"Retry-After": str(exc.retry_after_seconds)}
            if isinstance(exc, ServiceBusyError)
            else None
        )
        if status == 401:
            if is_page:
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            return JSONResponse(
                status_code=401,
                content={"detail": exc.to_dict()},
                headers={"WWW-Authenticate": "Bearer"},
            )
        if is_page:  # a page: render the error for a person
            lang = language(request)
            return templates.TemplateResponse(
                request,
                "error.html.j2",
                {
                    "status": status,
                    "error": exc,
                    "lang": lang,
                    "t": translator(lang),
                },
                status_code=status,
                headers=headers,
            )
        return JSONResponse(status_code=status, content={"detail": exc.to_dict()}, headers=headers)
