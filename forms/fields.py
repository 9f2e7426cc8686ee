"""How each form field is entered in HTML: its widget, labels, options and limits, read from the
pydantic model once. Shared by rendering and by parsing a posted form; no DB/HTTP/Prefect import.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from annotated_types import Ge, Le, MaxLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from forms.base import AttachmentRef, Choices, FormRow, Multiline, enum_label_en

RADIO_MAX_OPTIONS = 4  # up to this many choices show as radio buttons, more as a drop-down

# widgets whose value is a list, and widgets posted under dotted names (`name.0`, `name.0.col`)
LIST_WIDGETS = frozenset({"checkboxes", "slots", "table", "files"})


@dataclass(frozen=True)
class Option:
    value: str
    zh: str
    en: str


@dataclass(frozen=True)
class FieldSpec:
    name: str
    zh: str
    en: str
    widget: str  # text textarea date decimal int yesno checkbox radio select checkboxes slots
    #              table file files
    required: bool  # required by the model, or by a rule whatever else is filled in
    options: tuple[Option, ...] = ()
    columns: tuple[FieldSpec, ...] = ()  # table: the row model's fields
    slots: int = 0  # slots: how many inputs (e.g. 2 inspectors)
    max_length: int | None = None
    minimum: Any = None  # ge / le of a number, for the input's min / max
    maximum: Any = None


@cache
def field_specs(model: type[BaseModel]) -> dict[str, FieldSpec]:
    """Field name → how it is entered, in declaration order."""
    return {name: _spec(name, info) for name, info in model.model_fields.items()}


def _spec(name: str, info: FieldInfo) -> FieldSpec:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    base, metadata, nullable = _unwrap(info.annotation, list(info.metadata))
    item = _list_item(base)
    required = info.is_required() or bool(extra.get("required_by_rule"))
    spec = FieldSpec(
        name=name,
        zh=info.title or name,
        en=str(extra.get("label_en") or name),
        widget="text",
        required=required,
        max_length=_limit(metadata, MaxLen, "max_length"),
        minimum=_limit(metadata, Ge, "ge"),
        maximum=_limit(metadata, Le, "le"),
    )
    if item is not None:
        item_base, _, _ = _unwrap(item, [])
        if _is_model(item_base, AttachmentRef):
            return _with(spec, widget="files")
        if _is_model(item_base, FormRow):
            columns = tuple(field_specs(item_base).values())
            return _with(spec, widget="table", columns=columns)
        if _is_enum(item_base):
            return _with(spec, widget="checkboxes", options=_options(item_base, metadata))
        slots = extra.get("slots")
        return _with(spec, widget="slots", slots=slots if isinstance(slots, int) else 3)
    if _is_model(base, AttachmentRef):
        return _with(spec, widget="file")
    if base is bool:
        # An explicit yes/no unless the field defaults to False (then a tick box is enough).
        tick = info.default is False and not nullable
        return _with(spec, widget="checkbox" if tick else "yesno")
    if _is_enum(base):
        options = _options(base, metadata)
        widget = "radio" if len(options) <= RADIO_MAX_OPTIONS else "select"
        return _with(spec, widget=widget, options=options)
    if base is date:
        return _with(spec, widget="date")
    if base is Decimal:
        return _with(spec, widget="decimal")
    if base is int:
        return _with(spec, widget="int")
    if any(isinstance(m, Multiline) for m in metadata):
        return _with(spec, widget="textarea")
    return spec


def _with(spec: FieldSpec, **changes: Any) -> FieldSpec:
    return FieldSpec(**{**spec.__dict__, **changes})


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, list[Any], bool]:
    """(bare type, all Annotated metadata met on the way, whether None is allowed)."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        args = get_args(annotation)
        if origin is Annotated:
            for item in args[1:]:  # a Field(...) inside Annotated carries its own constraints
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            annotation = args[0]
        elif origin is Union or origin is types.UnionType:
            others = [a for a in args if a is not type(None)]
            nullable = nullable or len(others) < len(args)
            annotation = others[0]
        else:
            return annotation, metadata, nullable


def _list_item(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is list else None


def _is_model(annotation: Any, base: type[BaseModel]) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, base)


def _is_enum(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, StrEnum)


def _options(enum: Any, metadata: list[Any]) -> tuple[Option, ...]:
    allowed = next((m.values for m in metadata if isinstance(m, Choices)), None)
    return tuple(
        Option(m.value, str(getattr(m, "label_zh", m.value)), enum_label_en(m))
        for m in enum
        if allowed is None or m.value in allowed
    )


def _limit(metadata: list[Any], kind: type[Any], attr: str) -> Any:
    return next((getattr(m, attr) for m in metadata if isinstance(m, kind)), None)
