"""CSRF defence (跨站请求伪造防护) for everything the session cookie authenticates.

A cookie-authenticated unsafe request (POST/PUT/PATCH/DELETE) must carry a token bound to that
session: an HMAC of the session token under the signing key, sent as the form field
`_csrf` (HTML forms) or the header `X-CSRF-Token` (the JSON API used with the cookie). A
request that carries a Bearer header is not authenticated by the cookie and needs no token. The
login form, before any session exists, carries a token bound to a random pre-session cookie
(against login CSRF). Stateless: any worker process checks any token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from fastapi import Request, Response

from api.auth import COOKIE as SESSION_COOKIE
from core.errors import PermissionDeniedError
from core.settings import get_settings, signing_key

PRESESSION_COOKIE = "postloan_presession"
FIELD = "_csrf"
HEADER = "X-CSRF-Token"
SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
LOGIN_PATH = "/login"
# Answers no cookie-authenticated request: the credentials are in the form, the answer is a
# Bearer token a cross-site page cannot read.
COOKIELESS = frozenset({"/api/v1/auth/token"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfTokenError(PermissionDeniedError):
    """An unsafe request authenticated by the cookie without a valid token (403)."""

    code = "csrf_token_invalid"


def _mac(purpose: str, value: str) -> str:
    key = signing_key().encode()
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def session_token(session: str) -> str:
    """The token of one session: changes with every sign-in, differs between users."""
    return _mac("csrf", session)


def login_token(presession: str) -> str:
    return _mac("login-csrf", presession)


def token_for(request: Request) -> str | None:
    """The token the current page's forms carry (None without a session)."""
    session = request.cookies.get(SESSION_COOKIE)
    return session_token(session) if session else None


def login_token_for(request: Request, response_cookies: dict[str, str]) -> str:
    """The login form's token; a new pre-session value goes into `response_cookies`."""
    presession = request.cookies.get(PRESESSION_COOKIE)
    if not presession:
        presession = secrets.token_urlsafe(32)
        response_cookies[PRESESSION_COOKIE] = presession
    return login_token(presession)


def set_cookie(response: Response, name: str, value: str, **options: Any) -> None:
    """Every cookie of ours: http-only, SameSite=Lax, Secure when the setting says so."""
    response.set_cookie(
        name, value, httponly=True, samesite="lax", secure=get_settings().cookie_secure, **options
    )


def _refused(reason_zh: str, reason_en: str, **context: Any) -> CsrfTokenError:
    return CsrfTokenError(
        f"{reason_zh}，请刷新页面后重试 ({reason_en}; reload the page and try again)", **context
    )


async def _sent_token(request: Request) -> str | None:
    token = request.headers.get(HEADER)
    if token:
        return token
    if request.headers.get("content-type", "").startswith(_FORMS):
        # Starlette caches the parsed form on the request: the endpoint reads it again for free.
        value = (await request.form()).get(FIELD)
        return value if isinstance(value, str) else None
    return None


async def guard(request: Request) -> None:
    """App-wide dependency: refuse an unsafe cookie-authenticated request without its token."""
    if request.method in SAFE or request.url.path in COOKIELESS:
        return
    if request.url.path == LOGIN_PATH:
        presession = request.cookies.get(PRESESSION_COOKIE)
        sent = await _sent_token(request)
        if not presession or not sent or not hmac.compare_digest(sent, login_token(presession)):
            raise _refused("登录表单已失效", "the sign-in form has expired", field=FIELD)
        return
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return  # the Bearer header authenticates (api.auth.current_user prefers it)
    session = request.cookies.get(SESSION_COOKIE)
    if not session:
        return  # nothing to forge: the request is not signed in and gets 401
    sent = await _sent_token(request)
    if not sent:
        raise _refused("请求缺少 CSRF 令牌", "the request carries no CSRF token", field=FIELD)
    if not hmac.compare_digest(sent, session_token(session)):
        raise _refused("CSRF 令牌无效", "the CSRF token is not valid", field=FIELD)
