"""Sign-in: tokens, cookies, and the 401 mapping."""

from __future__ import annotations

import pytest

from loans.demo import DEMO_PASSWORD
from tests.api.browser import post_form, sign_in, sign_out


def _token(client, username="am_bj1", password=DEMO_PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_token_right_password_bearer_works(client):
    response = _token(client)
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200


@pytest.mark.parametrize(("username", "password"), [("am_bj1", "wrong"), ("nobody", "x")])
def test_token_wrong_credentials_401_same_message(client, username, password):
    response = _token(client, username, password)
    assert response.status_code == 401
    assert response.json()["detail"] == {
        "code": "not_authenticated",
        "message": "用户名或密码错误 (wrong username or password)",
        "context": {},
    }


def test_api_without_token_401_with_header(client):
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_api_garbage_token_401(client):
    response = client.get("/api/v1/tasks", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401 and "not valid" in response.json()["detail"]["message"]


def test_token_expired_401(client, clock_now):
    token = _token(client).json()["access_token"]
    clock_now.advance(hours=9)
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]["message"]


def test_page_without_session_redirects_to_login(client):
    response = client.get("/loans", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/loans"


def test_login_page_wrong_password_shows_error_keeps_username(client):
    response = sign_in(client, "am_bj1", "bad")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text and 'value="am_bj1"' in response.text


def test_login_next_only_local_paths(client):
    response = post_form(
        client,
        "/login",
        "/login",
        {"username": "am_bj1", "password": DEMO_PASSWORD, "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/inbox"


def test_logout_clears_session(client):
    sign_in(client, "am_bj1")
    sign_out(client)
    assert client.get("/loans", follow_redirects=False).status_code == 303


def test_verify_for_account_manager_403(client):
    headers = {"Authorization": f"Bearer {_token(client).json()['access_token']}"}
    response = client.get("/api/v1/audit/verify", headers=headers)
    assert response.status_code == 403 and response.json()["detail"]["code"] == "permission_denied"
