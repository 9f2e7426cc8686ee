"""/docs and /redoc work offline: every asset they load comes from this server and answers,
and the pages run no inline script (the app's CSP would block it)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.main import app


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_references_only_local_assets_each_200(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    urls = re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', html)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in html and "https://" not in html
    for url in urls:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_has_no_inline_script_and_scripts_only_from_self(client, page):
    response = client.get(page)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)  # every script has src
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_docs_swagger_init_points_at_openapi(client):
    page = client.get("/docs").text
    assert 'data-openapi-url="/openapi.json"' in page and "/static/swagger-init.js" in page
    assert client.get("/openapi.json").json()["info"]["title"] == app.title
