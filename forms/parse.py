"""Posted HTML form fields → the nested dict `validate_form` expects (the inverse of render.py's
input names). Files are the caller's business. Imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forms.fields import field_specs
from forms.registry import form_for


def parse_form_fields(kind: str, flat: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """Nest dotted names (`inspectors.0`, `other_bank_classifications.2.amount`), gather checkbox
    lists, drop blank inputs and blank sub-table rows.

    - an empty or blank input is a missing value (so optional fields become None, required ones
      "必填项"); an unticked tick box is absent and takes the field's default (False);
    - `"on"`, `"true"`, `"false"` are left to pydantic, which reads them as booleans;
    - the bare name of an attachment field is its file input and is skipped: already stored files
      come back as hidden `photos.0.sha256`… inputs and are parsed; new uploads are the caller's;
    - names starting with `_` belong to the caller (`_csrf`, `_action`) and are dropped;
    - any other unknown name is kept, so that `validate_form` names it.
    """
    specs = field_specs(form_for(kind))
    out: dict[str, Any] = {}
    indexed: dict[str, dict[int, Any]] = {}  # list fields posted under `name.N[.sub]`
    for key, raw in flat.items():
        if key.startswith("_"):
            continue
        values = _clean(raw)
        head, _, rest = key.partition(".")
        spec = specs.get(head)
        if spec is None or (not rest and spec.widget in ("table", "file", "files")):
            if spec is None and values:
                out[key] = values[-1] if len(values) == 1 else values
            continue
        if not rest:
            if spec.widget in ("checkboxes", "slots"):
                out.setdefault(head, []).extend(values)
            elif values:
                out[head] = values[-1]
            continue
        if not values:
            continue
        index, _, sub = rest.partition(".")
        if spec.widget == "file" and "." not in rest:
            out.setdefault(head, {})[rest] = values[-1]
        elif index.isdigit() and spec.widget == "slots" and not sub:
            indexed.setdefault(head, {})[int(index)] = values[-1]
        elif index.isdigit() and spec.widget in ("table", "files") and sub and "." not in sub:
            indexed.setdefault(head, {}).setdefault(int(index), {})[sub] = values[-1]
        else:  # e.g. `checked_on.x`: not an input we render; validate_form will name it
            out[key] = values[-1]
    for head, items in indexed.items():
        # Blank rows never got an entry; the rest keep their order, renumbered from 0.
        out.setdefault(head, []).extend(items[i] for i in sorted(items))
    return out


def _clean(raw: str | list[str]) -> list[str]:
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    return [s.strip() for s in items if isinstance(s, str) and s.strip()]
