"""In a real browser, offline: /docs (Swagger UI) and /redoc render from this server's assets
alone, and neither they nor the sign-in page trip the Content-Security-Policy."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1"), ("/login", "form")],
)
def test_page_renders_offline_without_csp_violation(server, page, path, rendered):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(server)
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page.goto(server + path)
    page.wait_for_selector(rendered, timeout=15_000)
    page.wait_for_timeout(500)
    assert outside == [], outside  # nothing from a CDN: the intranet has none
    # ReDoc's "powered by" badge asks cdn.redoc.ly for its logo: blocked, the page is complete
    blocked = [p for p in problems if "Content Security Policy" in p and "cdn.redoc.ly" not in p]
    assert blocked == []
