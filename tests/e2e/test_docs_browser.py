"""In a real browser, offline: /docs (Swagger UI) and /redoc render from this server's assets
alone, and neither they nor the sign-in page trip the Content-Security-Policy."""

from __future__ import annotations

import threading
import time

import pytest
import uvicorn

from api.main import app
from tests.e2e.test_inbox_browser import CHROMIUM, _free_port, pytestmark  # noqa: F401


@pytest.fixture
def base_url(engine):
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1"), ("/login", "form")],
)
def test_page_renders_offline_without_csp_violation(base_url, path, rendered):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        outside: list[str] = []
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(base_url)
                else (outside.append(route.request.url), route.abort())
            ),
        )
        page.goto(base_url + path)
        page.wait_for_selector(rendered, timeout=15_000)
        page.wait_for_timeout(500)
        browser.close()
    assert outside == [], outside  # nothing from a CDN: the intranet has none
    # ReDoc's "powered by" badge asks cdn.redoc.ly for its logo: blocked, the page is complete
    blocked = [p for p in problems if "Content Security Policy" in p and "cdn.redoc.ly" not in p]
    assert blocked == []
