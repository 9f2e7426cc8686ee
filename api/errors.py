"""One place that maps errors to HTTP (STYLE: not allowed → 409, not yours → 403, missing → 404,
invalid → 422 with field errors). Every error — domain, FastAPI's own 422, Starlette's 404/405,
and anything unexpected (500) — is `{"detail": {"code", "message", "context"}}` on /api/ and an
HTML error page, with the signed-in header, everywhere else (docs/errors.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import auth, csrf
from api.deps import PENDING_SIGN_IN, get_clock, templates
from api.i18n import language, translator
from api.i18n_messages import error_message
from audit.signin import SignInLockedError
from core.clock import SystemClock
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
from core.identity import User
from core.settings import get_settings

log = logging.getLogger(__name__)

STATUS: list[tuple[type[PostloanError], int]] = [
    (SignInLockedError, 429),
    (AuthenticationError, 401),
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ValidationError, 422),
    (ConflictError, 409),
    (TransitionNotAllowedError, 409),
    (RuleViolationError, 409),
    (ServiceBusyError, 503),
]

HTTP_ERRORS: dict[int, tuple[str, str]] = {  # status → code, message (Chinese first)
    404: ("not_found", "找不到该页面或接口 (not found)"),
    405: ("method_not_allowed", "不支持该请求方法 (method not allowed)"),
}
UNPARSABLE_BODY = ValidationError(
    "请求体无法解析 (the body could not be parsed)",
    errors=[{"field": "body", "message": "请求体无法解析", "message_en": "unparsable body"}],
)
INTERNAL = "系统内部错误，已记录，请稍后重试或联系管理员 (internal error; it has been logged)"

# pydantic's error types → what a bank user reads (Chinese); the English is pydantic's own
FIELD_MESSAGES: dict[str, str] = {
    "missing": "必填",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文字",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "应小于 {lt}",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "string_pattern_mismatch": "格式不正确",
    "enum": "应为以下之一：{expected}",
    "literal_error": "应为以下之一：{expected}",
    "json_invalid": "JSON 格式有误",
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "extra_forbidden": "不允许的字段",
    "nul_character": "不能包含空字符 (NUL)",
}


def status_for(exc: PostloanError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's validation errors as field errors: where, what (Chinese), the English, the kind."""
    out = []
    for e in errors:
        ctx = {k: str(v) for k, v in (e.get("ctx") or {}).items()}
        kind = e.get("type", "")
        if kind in ("too_short", "too_long") and isinstance(e.get("input"), str):
            kind = f"string_{kind}"  # a length bound on an optional string: characters, not items
        zh = FIELD_MESSAGES.get(kind, "输入无效")
        try:
            zh = zh.format(**ctx)
        except (KeyError, IndexError):
            zh = "输入无效"
        out.append(
            {
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "message": zh,
                "message_en": str(e.get("msg", "")),
                "type": e.get("type"),
            }
        )
    return out


def invalid_request(exc: RequestValidationError) -> ValidationError:
    fields = field_errors(exc.errors())
    where = "；".join(f"{f['field']}：{f['message']}" for f in fields[:3])
    return ValidationError(f"输入有误 (invalid input)：{where}", errors=fields)


def signed_in_user(request: Request) -> User | None:
    """The user behind the request's sign-in, if any — an error page keeps the header.
    Sync (it reads the users table): call it in a thread."""
    pending = request.scope.get(PENDING_SIGN_IN)
    if isinstance(pending, auth.SignIn) and pending.found is not None:
        return pending.found.user  # the endpoint read it already
    token = auth.bearer_token(request) or request.cookies.get(auth.COOKIE)
    if not token:
        return None
    override = request.app.dependency_overrides.get(get_clock)
    clock = override() if override is not None else SystemClock()  # tests fix the clock
    try:
        return auth.resolve_token(token, clock).user
    except PostloanError:
        return None


async def _page(
    request: Request, status: int, message: str, errors: list[dict[str, Any]], code: str
) -> Response:
    lang = language(request)
    try:
        user = await run_in_threadpool(signed_in_user, request)
    except Exception:  # the error page must render even when the database is what failed
        log.exception("could not resolve the signed-in user for an error page")
        user = None
    return templates.TemplateResponse(
        request,
        "error.html.j2",
        {
            "status": status,
            "code": code,
            "message": message,
            "errors": errors,
            "current_user": user,
            "csrf_token": csrf.token_for(request) if user else "",
            "lang": lang,
            "t": translator(lang),
        },
        status_code=status,
    )


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


async def _answer(
    request: Request,
    status: int,
    detail: dict[str, Any],
    headers: dict[str, str] | None = None,
    *,
    message: str | None = None,
) -> Response:
    if _is_page(request):
        response = await _page(
            request,
            status,
            message or detail["message"],
            detail.get("errors") or [],
            detail["code"],
        )
        response.headers.update(headers or {})
        return response
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(PoolTimeoutError)
    async def _no_connection(request: Request, exc: PoolTimeoutError) -> Response:
        # no DB connection came free in time: nothing was done, the client may retry
        retry = get_settings().api_retry_after_seconds
        return await _domain_error(request, ServiceBusyError(retry, reason="db_pool_timeout"))

    @app.exception_handler(PostloanError)
    async def _domain_error(request: Request, exc: PostloanError) -> Response:
        status = status_for(exc)
        if status == 401:
            if _is_page(request):
                return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
            return await _answer(request, 401, exc.to_dict(), {"WWW-Authenticate": "Bearer"})
        headers = None
        if isinstance(exc, SignInLockedError):
            headers = {"Retry-After": str(exc.retry_after)}
        elif isinstance(exc, ServiceBusyError):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        # a page shows the message in the reader's language (by code and context)
        message = error_message(exc, language(request)) if _is_page(request) else None
        return await _answer(request, status, exc.to_dict(), headers, message=message)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # who is asking counts before what they sent: a valid token of a user deactivated
        # since is 401, not field errors (the route had left reading the user to its endpoint)
        pending = request.scope.get(PENDING_SIGN_IN)
        if isinstance(pending, auth.SignIn) and pending.found is None:
            try:
                await run_in_threadpool(pending.resolve_alone)
            except AuthenticationError as refused:
                return await _domain_error(request, refused)
        return await _answer(request, 422, invalid_request(exc).to_dict())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # FastAPI's "error parsing the body": invalid input too
            return await _answer(request, 422, UNPARSABLE_BODY.to_dict())
        code, message = HTTP_ERRORS.get(exc.status_code, ("http_error", str(exc.detail)))
        detail = {"code": code, "message": message, "context": {"path": request.url.path}}
        return await _answer(request, exc.status_code, detail, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        detail = {"code": "internal_error", "message": INTERNAL, "context": {}}
        return await _answer(request, 500, detail)
