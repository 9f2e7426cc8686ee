"""The ASGI app `api.main:app`: JSON under /api/v1, HTML pages, one error mapping."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from api import (
    csrf,
    docs_pages,
    errors,
    pages,
    replay_pages,
    request_pages,
    security_headers,
    task_pages,
)
from api.body_limit import BodyLimit
from api.deps import STATIC_DIR
from api.operations_pages import router as operations_pages
from api.portfolio_pages import router as portfolio_pages
from api.routes import (
    attachments,
    audit,
    auth,
    loans,
    report_operations,
    report_portfolio,
    report_simulation,
    report_student,
    requests,
    tasks,
)
from api.simulation_pages import router as simulation_pages
from api.student_pages import router as student_pages
from forms import FORMS, json_schema

app = FastAPI(
    title="postloan 贷后管理",
    summary="Post-loan management: loan lifecycle, inspections, approvals and audit replay.",
    version="0.1.0",
    dependencies=[Depends(csrf.guard)],  # every unsafe cookie-authenticated request
    docs_url=None,  # served offline by api/docs_pages.py, under the app's CSP
    redoc_url=None,
    swagger_ui_oauth2_redirect_url=None,
)
errors.install(app)
security_headers.install(app)  # every response, errors and 500s included
app.add_middleware(BodyLimit)
app.include_router(auth.router, prefix="/api/v1")
app.include_router(loans.router, prefix="/api/v1")
app.include_router(tasks.router, prefix="/api/v1")
app.include_router(requests.router, prefix="/api/v1")
app.include_router(attachments.router, prefix="/api/v1")
app.include_router(audit.router, prefix="/api/v1")
app.include_router(report_operations.router, prefix="/api/v1")
app.include_router(report_portfolio.router, prefix="/api/v1")
app.include_router(report_simulation.router, prefix="/api/v1")
app.include_router(report_student.router, prefix="/api/v1")
app.include_router(pages.router)
app.include_router(task_pages.router)
app.include_router(request_pages.router)
app.include_router(replay_pages.router)
app.include_router(docs_pages.router)
app.include_router(operations_pages)
app.include_router(portfolio_pages)
app.include_router(simulation_pages)
app.include_router(student_pages)
app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
app.mount(docs_pages.ASSETS_URL, docs_pages.ASSETS, name="docs-assets")


def openapi_with_forms() -> dict[str, Any]:
    """OpenAPI plus every task form's schema (forms.<kind>): one definition, three uses."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for kind in FORMS:
            form = json_schema(kind, ref_template="#/components/schemas/{model}")
            components.update(form.pop("$defs", {}))  # row models, referenced as components
            components[f"forms.{kind}"] = form
        app.openapi_schema = schema
    return app.openapi_schema


app.openapi = openapi_with_forms  # type: ignore[method-assign]


@app.get("/healthz", tags=["ops"])
async def health() -> dict[str, str]:  # async: no thread, no DB, no admission queue
    return {"status": "ok"}
