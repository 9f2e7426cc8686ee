"""Task kind → form: lookup, JSON schema and its hash, validation (full and draft), and the schema
version upgraders of stored payloads. Imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import pydantic
from pydantic.json_schema import DEFAULT_REF_TEMPLATE

from core.errors import NotFoundError, PostloanError
from forms.base import TaskForm
from forms.collection import CollectionContactForm, LegalReferralForm
from forms.drafts import draft_model
from forms.errors import convert, form_error, rule_entry
from forms.inspections import CollateralCheckForm, FirstUsageCheckForm
from forms.loan_card import LoanCardCheckForm
from forms.notices import MaturityNoticeForm, OverdueNoticeForm
from forms.reviews import (
    ClassificationReviewForm,
    ExtensionReviewForm,
    HandoverReviewForm,
    RequestRevisionForm,
    WarningDispositionForm,
    WarningTrackingForm,
    WriteOffReviewForm,
)
from forms.student import GraduationConfirmationForm, StudentContactForm
from forms.visits import CustomerVisitForm, PhoneFollowUpForm

FORMS: dict[str, type[TaskForm]] = {
    cls.kind: cls
    for cls in (
        FirstUsageCheckForm,
        LoanCardCheckForm,
        CustomerVisitForm,
        PhoneFollowUpForm,
        CollateralCheckForm,
        ExtensionReviewForm,
        ClassificationReviewForm,
        WarningDispositionForm,
        WriteOffReviewForm,
        MaturityNoticeForm,
        OverdueNoticeForm,
        HandoverReviewForm,
        RequestRevisionForm,
        WarningTrackingForm,
        CollectionContactForm,
        LegalReferralForm,
        GraduationConfirmationForm,
        StudentContactForm,
    )
}


def form_for(kind: str) -> type[TaskForm]:
    try:
        return FORMS[kind]
    except KeyError:
        raise NotFoundError(f"未知的任务表单类型：{kind}", kind=kind) from None


def json_schema(kind: str, *, ref_template: str = DEFAULT_REF_TEMPLATE) -> dict[str, Any]:
    """The form's JSON schema (validation mode): Chinese `title`s, `label_en` beside them.

    Sub-schemas sit in `$defs`; to embed them in OpenAPI components pass e.g.
    `ref_template="#/components/schemas/{model}"` and move `$defs` there.
    """
    return copy.deepcopy(_schema(form_for(kind), ref_template))


def schema_hash(kind: str) -> str:
    """sha256 of the canonical schema JSON: the journal records it beside each payload."""
    return _hash(form_for(kind))


@cache
def _schema(cls: type[TaskForm], ref_template: str) -> dict[str, Any]:
    return cls.model_json_schema(ref_template=ref_template)


@cache
def _hash(cls: type[TaskForm]) -> str:
    schema = _schema(cls, DEFAULT_REF_TEMPLATE)
    canonical = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def validate_form(kind: str, data: Mapping[str, Any]) -> TaskForm:
    """The validated form, or `core.errors.ValidationError` listing every problem by field."""
    cls = form_for(kind)
    try:
        return cls.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        errors = convert(exc)
        # Cross-field rules run only once every field is valid; run them on the valid fields too,
        # so a clerk sees every problem in one round trip.
        if not any(err["type"] == "form_rules" for err in exc.errors()):
            errors += _rules_beside(cls, data, errors)
        raise form_error("表单填写有误", errors, kind=kind) from None


def _rules_beside(
    cls: type[TaskForm], data: Mapping[str, Any], errors: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    bad = {str(err["field"]).split(".", 1)[0] for err in errors}
    valid = {k: v for k, v in data.items() if k in cls.model_fields and k not in bad}
    try:
        draft = draft_model(cls).model_validate(valid)
    except pydantic.ValidationError:  # cannot happen for fields that passed; never mask the rest
        return []
    values: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if name in bad:
            continue
        if name in draft.model_fields_set:
            values[name] = getattr(draft, name)
        elif not info.is_required():
            values[name] = info.get_default(call_default_factory=True)
    return [
        rule_entry(x.field, x.zh, x.en) for x in cls.rule_violations(values) if x.field not in bad
    ]


def validate_draft(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """A partial form: unknown keys and wrong types are refused, missing fields are fine.

    Returns the cleaned values (JSON-safe) of the fields given.
    """
    model = draft_model(form_for(kind))
    try:
        draft = model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise form_error("草稿填写有误", convert(exc), kind=kind) from None
    cleaned: dict[str, Any] = draft.model_dump(mode="json", exclude_unset=True)
    return cleaned


# --- schema versions (STYLE habit 5) -------------------------------------------------------------

Upgrader = Callable[[dict[str, Any]], dict[str, Any]]
_UPGRADERS: dict[tuple[str, int], Upgrader] = {}


class SchemaVersionError(PostloanError):
    """A stored payload cannot be brought to the form's current schema version."""

    code = "form_schema_version"


class UpgraderMissingError(SchemaVersionError):
    code = "form_upgrader_missing"


def upgrader(kind: str, from_version: int) -> Callable[[Upgrader], Upgrader]:
    """Register the function that turns a `kind` payload of `from_version` into `from_version + 1`.

    Keep each one small and documented (what changed, why); never edit one once released.
    """

    def register(fn: Upgrader) -> Upgrader:
        key = (kind, from_version)
        if key in _UPGRADERS:
            raise ValueError(f"an upgrader for {kind} v{from_version} is already registered")
        _UPGRADERS[key] = fn
        return fn

    return register


def upgrade_payload(kind: str, payload: Mapping[str, Any], from_version: int) -> dict[str, Any]:
    """The payload brought from `from_version` to the form's schema_version, one step at a time.

    The caller's payload is not modified.
    """
    current = form_for(kind).schema_version
    if not 1 <= from_version <= current:
        raise SchemaVersionError(
            f"表单 {kind} 没有第 {from_version} 版（当前为第 {current} 版）",
            kind=kind,
            from_version=from_version,
            current=current,
        )
    data = copy.deepcopy(dict(payload))
    for version in range(from_version, current):
        step = _UPGRADERS.get((kind, version))
        if step is None:
            raise UpgraderMissingError(
                f"表单 {kind} 缺少从第 {version} 版升级到第 {version + 1} 版的函数",
                kind=kind,
                from_version=version,
                to_version=version + 1,
            )
        data = step(data)
    return data


def load_payload(kind: str, payload: Mapping[str, Any], schema_version: int) -> TaskForm:
    """A stored payload, upgraded to the current version and validated (e.g. a flow's input)."""
    return validate_form(kind, upgrade_payload(kind, payload, schema_version))


# --- released upgraders (never edit one once released) -----------------------------------------


@upgrader("warning_disposition", 1)
def _warning_disposition_gains_decision(payload: dict[str, Any]) -> dict[str, Any]:
    """v1 → v2: the form gained `decision` when the warning-disposition chain came; a v1 payload
    was a disposition its reviewer filed — an approval."""
    payload.setdefault("decision", "approve")
    return payload
