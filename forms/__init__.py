"""Task forms (DESIGN decision 6): one pydantic model and one Jinja2 template per human-task kind,
the registry kind → form, validation with field-level errors, drafts, schema hashes and versions,
rendering in Chinese (default) or English. Imports no DB, HTTP or Prefect library.
"""

from forms.base import AttachmentRef, Decision, TaskForm
from forms.errors import error_messages
from forms.parse import parse_form_fields
from forms.registry import (
    FORMS,
    SchemaVersionError,
    UpgraderMissingError,
    form_for,
    json_schema,
    load_payload,
    schema_hash,
    upgrade_payload,
    upgrader,
    validate_draft,
    validate_form,
)
from forms.render import render_form

__all__ = [
    "FORMS",
    "AttachmentRef",
    "Decision",
    "SchemaVersionError",
    "TaskForm",
    "UpgraderMissingError",
    "error_messages",
    "form_for",
    "json_schema",
    "load_payload",
    "parse_form_fields",
    "render_form",
    "schema_hash",
    "upgrade_payload",
    "upgrader",
    "validate_draft",
    "validate_form",
]
