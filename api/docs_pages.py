"""/docs (Swagger UI) and /redoc served from this server alone — their assets come from the
pinned `fastapi-offline` package, Swagger UI starts from /static/swagger-init.js — so the API
documentation works on a bank's offline intranet and under the no-inline-script policy."""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.deps import OneHopRoute

ASSETS_URL = "/docs-assets"
ASSETS = StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static")
# As the app's policy (api/security_headers.py), but Swagger UI and ReDoc set styles at run
# time and ReDoc searches in a blob: worker; scripts still come from this server only.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False, route_class=OneHopRoute)


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = (
        '<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f'<link rel="icon" href="{ASSETS_URL}/favicon.png">\n{head}</head>\n<body>\n{body}</body>\n</html>\n'
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _page(
        f"{request.app.title} — API",
        f'<link rel="stylesheet" href="{root}{ASSETS_URL}/swagger-ui.css">\n',
        f'<div id="swagger-ui" data-openapi-url="{root}{request.app.openapi_url}"></div>\n'
        f'<script src="{root}{ASSETS_URL}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{root}/static/swagger-init.js"></script>\n',
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return _page(
        f"{request.app.title} — ReDoc",
        "",
        f'<redoc spec-url="{root}{request.app.openapi_url}"></redoc>\n'
        f'<script src="{root}{ASSETS_URL}/redoc.standalone.js"></script>\n',
    )
