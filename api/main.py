"""The ASGI app `api.main:app`: JSON under /api/v1, HTML pages, one error mapping."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import errors, pages
from api.deps import STATIC_DIR
from api.routes import audit, loans

app = FastAPI(
    title="postloan 贷后管理",
    summary="Post-loan management: loan lifecycle, inspections, approvals and audit replay.",
    version="0.1.0",
)
errors.install(app)
app.include_router(loans.router, prefix="/api/v1")
app.include_router(audit.router, prefix="/api/v1")
app.include_router(pages.router)
app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@app.get("/healthz", tags=["ops"])
def health() -> dict[str, str]:
    return {"status": "ok"}
