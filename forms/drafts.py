"""Draft models: a form's twin where every field (also in sub-table rows) may be missing.

A draft keeps the types and field constraints but runs no cross-field rule: a clerk can save half a
form and finish it later. Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, create_model

from forms.base import FormRow

_DRAFTS: dict[type[BaseModel], type[BaseModel]] = {}


def draft_model(cls: type[BaseModel]) -> type[BaseModel]:
    """`<Form>Draft`: same fields, all optional (default None), unknown keys still refused."""
    cached = _DRAFTS.get(cls)
    if cached is not None:
        return cached
    fields: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        annotation = _draftable(info.annotation)
        if info.metadata:  # field constraints (max_length, ge, validators) apply to the value
            annotation = _annotated(annotation, info.metadata)
        fields[name] = (annotation | None, None)
    model: type[BaseModel] = create_model(
        f"{cls.__name__}Draft",
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
        **fields,
    )
    _DRAFTS[cls] = model
    return model


def _draftable(annotation: Any) -> Any:
    """The same annotation with every sub-table row model replaced by its draft."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _annotated(_draftable(args[0]), args[1:])
    if origin is list:
        return list[_draftable(args[0])]  # type: ignore[misc]
    if origin is Union or origin is types.UnionType:
        return Union[tuple(_draftable(a) for a in args)]  # noqa: UP007 - built at runtime
    if isinstance(annotation, type) and issubclass(annotation, FormRow):
        return draft_model(annotation)
    return annotation


def _annotated(annotation: Any, metadata: Any) -> Any:
    return Annotated[(annotation, *metadata)]
