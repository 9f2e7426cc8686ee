"""CSRF: every unsafe request the session cookie authenticates carries a token of that session;
the login form carries a pre-session token; cookies are Secure when the setting says so."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import func, select

from api.deps import get_clock
from api.main import app
from audit.journal import JournalEntry
from audit.signin import SignInAttempt
from core.clock import FixedClock
from core.settings import get_settings
from loans.demo import DEMO_PASSWORD
from statemachines.enums import TaskState
from tasks.models import HumanTask
from tests.api.browser import TOKEN, csrf, post_form, sign_in, sign_out
from tests.factories import make_loan
from tests.tasks.conftest import new_task

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def web(engine, session, org, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    task = new_task(session, org, clock, loan, key="t1", due=date(2025, 3, 20))
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        assert sign_in(client, "am_bj1", follow_redirects=False).status_code == 303
        yield client, task
    app.dependency_overrides.clear()


def _written(session) -> tuple[int, int, list[str]]:
    session.expire_all()
    journal = session.exec(select(func.count()).select_from(JournalEntry)).one()
    attempts = session.exec(select(func.count()).select_from(SignInAttempt)).one()
    states = [t.state for t in session.exec(select(HumanTask).order_by(HumanTask.id)).all()]
    return journal, attempts, states


def _unsafe_routes() -> list[tuple[str, str]]:
    """(method, path) of every unsafe route (FastAPI ≥ 0.150 includes routers lazily)."""
    found = []
    for entry in app.routes:
        contexts = (
            entry.effective_route_contexts()
            if hasattr(entry, "effective_route_contexts")
            else [entry]
        )
        for context in contexts:
            route = getattr(context, "original_route", context)
            if isinstance(route, APIRoute):
                found += [(m, context.path) for m in route.methods & UNSAFE]
    # /api/v1/auth/token answers with a Bearer token and reads no cookie
    return sorted(r for r in found if r[1] != "/api/v1/auth/token")


def _fill(path: str, task_id: int) -> str:
    return re.sub(
        r"\{[a-z_]+\}", lambda m: "L1" if m.group(0) == "{loan_no}" else str(task_id), path
    )


def test_every_unsafe_route_with_cookie_without_token_403_nothing_written(web, session):
    client, task = web
    routes = _unsafe_routes()
    assert ("POST", "/tasks/{task_id}/claim") in routes and ("POST", "/logout") in routes
    before = _written(session)
    for method, path in routes:
        url = _fill(path, task.id)
        response = client.request(method, url, data={"_action": "draft", "reason": "x"})
        assert response.status_code == 403, (method, url, response.status_code)
        if url.startswith("/api/"):
            detail = response.json()["detail"]
            assert detail["code"] == "csrf_token_invalid", (method, url)
            assert detail["message"].startswith("请求缺少 CSRF 令牌") and detail["context"]
        else:  # a page for a person, Chinese first
            assert "请刷新页面后重试" in response.text, (method, url)
    assert _written(session) == before
    assert client.get("/inbox", follow_redirects=False).status_code == 200  # still signed in


def test_claim_from_page_with_token_works(web, session):
    client, task = web
    response = post_form(client, "/inbox", f"/tasks/{task.id}/claim", follow_redirects=False)
    assert response.status_code == 303
    session.refresh(task)
    assert task.state == TaskState.claimed


def test_claim_from_page_wrong_token_403_unclaimed(web, session):
    client, task = web
    response = client.post(f"/tasks/{task.id}/claim", data={"_csrf": "0" * 64})
    assert response.status_code == 403 and "CSRF 令牌无效" in response.text
    session.refresh(task)
    assert task.state == TaskState.open


def test_claim_token_of_another_users_session_403(web, session, org):
    client, task = web
    with TestClient(app) as other:
        sign_in(other, "am_bj2")
        foreign = csrf(other)
    response = client.post(f"/tasks/{task.id}/claim", data={"_csrf": foreign})
    assert response.status_code == 403
    session.refresh(task)
    assert task.state == TaskState.open


def test_token_of_an_earlier_session_403_after_signing_in_again(web):
    client, task = web
    old = csrf(client)
    sign_out(client)
    sign_in(client, "am_bj1")
    assert client.post(f"/tasks/{task.id}/claim", data={"_csrf": old}).status_code == 403


def test_draft_multipart_without_token_403_not_saved_with_token_saved(web, session):
    client, task = web
    post_form(client, f"/tasks/{task.id}", f"/tasks/{task.id}/claim")
    data = {"_action": "draft", "environment_social_security_tax_notes": "社保正常"}
    files = {"photos": ("a.png", b"\x89PNG fake", "image/png")}
    refused = client.post(f"/tasks/{task.id}", data=data, files=files)
    assert refused.status_code == 403
    session.refresh(task)
    assert not task.draft
    saved = client.post(
        f"/tasks/{task.id}", data={**data, "_csrf": csrf(client, f"/tasks/{task.id}")}, files=files
    )
    assert saved.status_code == 200 and "草稿已保存" in saved.text


def test_api_with_cookie_needs_header_token_bearer_does_not(web, session):
    client, task = web
    url = f"/api/v1/tasks/{task.id}/claim"
    refused = client.post(url)
    assert refused.status_code == 403
    assert refused.json()["detail"]["code"] == "csrf_token_invalid"
    assert client.post(url, headers={"X-CSRF-Token": csrf(client)}).status_code == 200
    token = client.post(
        "/api/v1/auth/token", data={"username": "am_bj1", "password": DEMO_PASSWORD}
    ).json()["access_token"]
    released = client.post(
        f"/api/v1/tasks/{task.id}/release", headers={"Authorization": f"Bearer {token}"}
    )
    assert released.status_code == 200  # the Bearer header authenticates: no token needed


def test_api_empty_bearer_with_cookie_still_needs_token(web):
    client, task = web
    response = client.post(f"/api/v1/tasks/{task.id}/claim", headers={"Authorization": "Bearer "})
    assert response.status_code == 403


def test_logout_without_token_403_session_kept(web):
    client, _ = web
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/inbox", follow_redirects=False).status_code == 200
    assert sign_out(client).status_code == 303
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_login_without_token_403_no_session_nothing_recorded(engine, org, session):
    with TestClient(app) as client:
        response = client.post(
            "/login", data={"username": "am_bj1", "password": DEMO_PASSWORD}, follow_redirects=False
        )
        assert response.status_code == 403 and "登录表单已失效" in response.text
        assert "postloan_session" not in client.cookies
    assert _written(session)[:2] == (0, 0)


def test_login_token_of_another_browser_403(engine, org):
    with TestClient(app) as attacker, TestClient(app) as victim:
        token = csrf(attacker, "/login")  # the attacker's own pre-session
        victim.get("/login")
        response = victim.post(
            "/login",
            data={"username": "am_bj1", "password": DEMO_PASSWORD, "_csrf": token},
            follow_redirects=False,
        )
        assert response.status_code == 403


def test_login_form_carries_pre_session_token(engine, org):
    with TestClient(app) as client:
        page = client.get("/login").text
        assert TOKEN.search(page) and "postloan_presession" in client.cookies


@pytest.mark.parametrize(("secure", "flagged"), [("true", True), ("false", False)])
def test_login_cookies_secure_flag_follows_setting(engine, org, monkeypatch, secure, flagged):
    monkeypatch.setenv("POSTLOAN_COOKIE_SECURE", secure)
    get_settings.cache_clear()
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/login")
        assert ("; secure" in page.headers["set-cookie"].lower()) is flagged
        response = sign_in(client, "am_bj1", follow_redirects=False)
        assert response.status_code == 303
        cookie = response.headers["set-cookie"].lower()
        assert cookie.startswith("postloan_session=") and "httponly" in cookie
        assert ("; secure" in cookie) is flagged and "samesite=lax" in cookie


@pytest.mark.parametrize(("host", "secure"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_serve_on_loopback_turns_secure_cookies_off_elsewhere_on(monkeypatch, host, secure):
    from api import http_server
    from api.cli_flows import serve

    monkeypatch.delenv("POSTLOAN_COOKIE_SECURE", raising=False)  # restored after the test
    get_settings.cache_clear()
    seen: list[bool] = []
    monkeypatch.setattr(
        http_server, "run", lambda *a, **k: seen.append(get_settings().cookie_secure)
    )
    serve(host=host, port=8000, flows=False, prefect_port=4200)
    get_settings.cache_clear()
    assert seen == [secure]


def test_serve_on_loopback_keeps_an_explicit_setting(monkeypatch):
    from api import http_server
    from api.cli_flows import serve

    monkeypatch.setenv("POSTLOAN_COOKIE_SECURE", "true")
    get_settings.cache_clear()
    seen: list[bool] = []
    monkeypatch.setattr(
        http_server, "run", lambda *a, **k: seen.append(get_settings().cookie_secure)
    )
    serve(host="127.0.0.1", port=8000, flows=False, prefect_port=4200)
    get_settings.cache_clear()
    assert seen == [True]


def test_every_post_form_in_templates_carries_the_token():
    """A form added later without its hidden token would be refused in every browser."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    missing = []
    for template in [*root.glob("api/templates/*.j2"), *root.glob("forms/templates/*.j2")]:
        for form in re.findall(r"<form\b[^>]*>", template.read_text(encoding="utf-8")):
            if 'method="post"' not in form:
                continue
            rest = template.read_text(encoding="utf-8").split(form, 1)[1]
            if not rest.lstrip().startswith('<input type="hidden" name="_csrf"'):
                missing.append(f"{template.name}: {form}")
    assert not missing, missing
