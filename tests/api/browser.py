"""Post a page's form like a browser does: open the page, read its CSRF token, send it along."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from loans.demo import DEMO_PASSWORD

TOKEN = re.compile(r'name="_csrf" value="([^"]*)"')


def csrf(client: TestClient, page: str = "/inbox") -> str:
    """The token the forms of `page` carry for the client's current session."""
    match = TOKEN.search(client.get(page).text)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def post_form(
    client: TestClient, page: str, action: str, data: dict[str, Any] | None = None, **kw: Any
) -> Response:
    """Open `page`, then post `data` with its token to `action` (the form's target)."""
    return client.post(action, data={**(data or {}), "_csrf": csrf(client, page)}, **kw)


def sign_in(
    client: TestClient, username: str, password: str = DEMO_PASSWORD, **kw: Any
) -> Response:
    return post_form(client, "/login", "/login", {"username": username, "password": password}, **kw)


def sign_out(client: TestClient) -> Response:
    return post_form(client, "/inbox", "/logout", follow_redirects=False)
