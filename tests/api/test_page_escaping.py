"""Pages escape what they show: a value someone typed comes back as text, never as markup
(the templates end in .j2, which Jinja's default autoescape did not match)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import app
from tests.api.browser import sign_in

EVIL = '"><script>alert(1)</script>'


def test_login_failed_username_shown_escaped(engine, org):
    with TestClient(app) as client:
        response = sign_in(client, EVIL, "x")
    assert response.status_code == 401
    assert EVIL not in response.text and "&lt;script&gt;" in response.text


def test_login_next_shown_escaped(engine):
    with TestClient(app) as client:
        response = client.get("/login", params={"next": "/inbox" + EVIL})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.text
