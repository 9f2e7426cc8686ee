"""The error body every JSON route answers with, as a pydantic model for the OpenAPI, and the one
helper routes use to document their error responses (`responses=error_responses(404, 409)`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldErrorPublic(BaseModel):
    field: str = Field(
        description="Where: `query.limit`, `path.task_id`, `body.reason`, a form field…"
    )
    message: str = Field(description="What is wrong, in Chinese.")
    message_en: str | None = Field(default=None, description="The same in English.")
    type: str | None = Field(default=None, description="A machine-readable kind of problem.")


class ErrorDetailPublic(BaseModel):
    code: str = Field(description="Machine-readable: not_found, invalid_input, … (docs/errors.md).")
    message: str = Field(description="For a person: Chinese first, English after.")
    context: dict[str, Any] = Field(description="The ids and values the error is about.")
    errors: list[FieldErrorPublic] | None = Field(
        default=None, description="Invalid input (422) only: every problem found, by field."
    )


class ErrorPublic(BaseModel):
    """`{"detail": {"code", "message", "context"}}` — every error of /api/v1."""

    detail: ErrorDetailPublic


DESCRIPTIONS = {
    401: "Not signed in, or the sign-in is not valid (未登录或登录已失效)",
    403: "Signed in, but not allowed to do this (无权操作)",
    404: "No such thing, or not visible to you (不存在或无权查看)",
    409: "Not allowed in the current state, or changed meanwhile (状态不允许或已被修改)",
    422: "Invalid input; `errors` names every field (输入有误)",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer with, all with ErrorPublic."""
    return {s: {"model": ErrorPublic, "description": DESCRIPTIONS[s]} for s in statuses}
