"""HTML for a task form (Jinja2 `forms/templates/<kind>.html.j2`): a fragment, Chinese labels first,
English available, values kept and errors shown at their fields. Imports no DB/HTTP/Prefect library.

The caller wraps the fragment in `<form method="post" enctype="multipart/form-data">` with its own
buttons (submit, save draft) and CSRF token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from forms.fields import FieldSpec, Option, field_specs
from forms.registry import form_for

_ENV = Environment(
    loader=PackageLoader("forms", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["human_size"] = lambda size: _human_size(str(size))

_UI: dict[str, tuple[str, str]] = {
    "choose": ("请选择", "Please choose"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "required": ("必填", "Required"),
    "row": ("第 {n} 行", "row {n}"),
    "item": ("第 {n} 项", "item {n}"),
    "file": ("附件 {n}", "file {n}"),
    "attached": ("已上传", "Attached"),
    "none": ("无", "None"),
    "summary": ("表单有 {n} 处需要修改", "{n} problem(s) to correct"),
}


@dataclass
class OptionView:
    value: str
    label: str
    hint: str
    selected: bool


@dataclass
class FileView:
    name: str  # prefix of the hidden inputs that keep the reference: `photos.0` or `report`
    sha256: str
    filename: str
    content_type: str
    size: str


@dataclass
class FieldView:
    """One field (or one sub-table cell) as the templates need it, labels in the page language."""

    name: str
    id: str
    widget: str
    label: str
    hint: str
    hint_lang: str
    required: bool
    max_length: int | None = None
    minimum: Any = None
    maximum: Any = None
    value: str = ""
    options: list[OptionView] = field(default_factory=list)
    items: list[FieldView] = field(default_factory=list)  # slots (one input each)
    columns: list[FieldView] = field(default_factory=list)  # table header
    rows: list[list[FieldView]] = field(default_factory=list)  # table cells
    files: list[FileView] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def has_error(self) -> bool:
        cells = [c for row in self.rows for c in row] + self.items
        return bool(self.errors) or any(c.errors for c in cells)


class _Fields:
    """`f.<name>` in templates; an unknown name fails loudly (no dict methods in the way)."""

    def __init__(self, views: dict[str, FieldView]) -> None:
        self._views = views

    def __getattr__(self, name: str) -> FieldView:
        try:
            return self._views[name]
        except KeyError:
            raise AttributeError(name) from None


class _Ui:
    def __init__(self, lang: str) -> None:
        self._i = 1 if lang == "en" else 0

    def __getattr__(self, key: str) -> str:
        return _UI[key][self._i]

    def fmt(self, key: str, **kw: Any) -> str:
        return _UI[key][self._i].format(**kw)


def render_form(
    kind: str,
    *,
    lang: str = "zh",
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    readonly: bool = False,
    choices: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    attachment_url: str | None = None,
) -> Markup:
    """The form's fields as HTML. `values`: nested, as `parse_form_fields` or `model_dump` give;
    `errors`: dotted field → message (`forms.errors.error_messages`); `choices`: field → the
    (value, label) pairs to pick from, given by the caller who knows them (the people who may
    inspect, from the DB): a text field or each of its slots becomes a select; `attachment_url`:
    a stored file's link, `{sha256}` replaced by its hash."""
    cls = form_for(kind)
    lang = "en" if lang == "en" else "zh"
    ctx = _Context(kind, lang, dict(errors or {}), readonly)
    ctx.choices = {name: list(pairs) for name, pairs in (choices or {}).items()}
    values = values or {}
    views = {
        name: ctx.view(spec, values.get(name), name) for name, spec in field_specs(cls).items()
    }
    ui = ctx.ui
    meta = {
        "kind": kind,
        "schema_version": cls.schema_version,
        "title": cls.title_en if lang == "en" else cls.title_zh,
        "hint": cls.title_zh if lang == "en" else cls.title_en,
        "readonly": readonly,
        "error_summary": ui.fmt("summary", n=len(ctx.errors)) if ctx.errors else "",
        "other_errors": [(k, m) for k, m in ctx.errors.items() if k not in ctx.used],
        "attachment_url": attachment_url,
    }
    template = _ENV.get_template(f"{kind}.html.j2")
    return Markup(template.render(f=_Fields(views), meta=meta, lang=lang, ui=ui))


class _Context:
    def __init__(self, kind: str, lang: str, errors: dict[str, str], readonly: bool) -> None:
        self.kind, self.lang, self.errors, self.readonly = kind, lang, errors, readonly
        self.ui = _Ui(lang)
        self.used: set[str] = set()
        self.choices: dict[str, list[tuple[str, str]]] = {}

    def take(self, key: str) -> list[str]:
        if key in self.errors:
            self.used.add(key)
            return [self.errors[key]]
        return []

    def header(self, spec: FieldSpec, name: str = "") -> FieldView:
        en = self.lang == "en"
        return FieldView(
            name=name or spec.name,
            id=f"pf-{self.kind}-{(name or spec.name).replace('.', '-')}",
            widget=spec.widget,
            label=spec.en if en else spec.zh,
            hint=spec.zh if en else spec.en,
            hint_lang="zh" if en else "en",
            required=spec.required,
            max_length=spec.max_length,
            minimum=spec.minimum,
            maximum=spec.maximum,
        )

    def view(self, spec: FieldSpec, value: Any, name: str) -> FieldView:
        v = self.header(spec, name)
        v.errors = self.take(name)
        if spec.widget in ("radio", "select", "checkboxes"):
            chosen = set(_texts(value))
            v.options = [self._option(o, o.value in chosen) for o in spec.options]
        elif spec.widget == "slots":
            texts = _texts(value)
            count = max(spec.slots, len(texts))
            for i in range(count):
                text = texts[i] if i < len(texts) else ""
                item = self.view(_scalar(spec, f"{spec.name}.{i}"), text, f"{name}.{i}")
                item.label = f"{v.label} · {self.ui.fmt('item', n=i + 1)}"
                self._pick(item, spec.name, text)
                v.items.append(item)
        elif spec.widget == "table":
            self._table(spec, v, value)
        elif spec.widget in ("file", "files"):
            refs = value if isinstance(value, list) else [value] if value else []
            multi = spec.widget == "files"
            v.files = [_file(ref, f"{name}.{i}" if multi else name) for i, ref in enumerate(refs)]
        else:
            v.value = _yesno(value) if spec.widget in ("yesno", "checkbox") else _text(value)
            if spec.widget == "text":
                self._pick(v, spec.name, v.value)
        self._nested_errors(v, spec)
        return v

    def _pick(self, v: FieldView, field_name: str, current: str) -> None:
        """A free-text input becomes a select over the caller's choices; a value that is not
        among them (an old record, a tampered post) stays selectable, so the error shows beside it."""
        pairs = self.choices.get(field_name)
        if pairs is None:
            return
        v.widget = "select"
        v.options = [OptionView(value, label, value, value == current) for value, label in pairs]
        if current and all(value != current for value, _ in pairs):
            v.options.append(OptionView(current, current, current, True))

    def _option(self, option: Option, selected: bool) -> OptionView:
        en = self.lang == "en"
        label, hint = (option.en, option.zh) if en else (option.zh, option.en)
        return OptionView(option.value, label, hint, selected)

    def _table(self, spec: FieldSpec, v: FieldView, value: Any) -> None:
        rows = list(value) if isinstance(value, (list, tuple)) else []
        # Three blank rows to fill in (at least one beside the rows already there).
        total = len(rows) if self.readonly else max(3, len(rows) + 1)
        v.columns = [self.header(col) for col in spec.columns]
        for i in range(total):
            row = rows[i] if i < len(rows) else {}
            cells = [
                self.view(col, _get(row, col.name), f"{v.name}.{i}.{col.name}")
                for col in spec.columns
            ]
            for cell in cells:  # radio buttons do not fit in a table cell
                cell.widget = "select" if cell.widget == "radio" else cell.widget
            v.rows.append(cells)

    def _nested_errors(self, v: FieldView, spec: FieldSpec) -> None:
        """Errors on parts no input of its own shows (a whole row, a file): shown at the field."""
        for key in sorted(self.errors):
            if key.startswith(v.name + ".") and key not in self.used:
                self.used.add(key)
                v.errors.append(f"{self._where(key[len(v.name) + 1 :], spec)}：{self.errors[key]}")

    def _where(self, path: str, spec: FieldSpec) -> str:
        index, _, rest = path.partition(".")
        if not index.isdigit():
            return path
        unit = {"table": "row", "files": "file"}.get(spec.widget, "item")
        column = next((c for c in spec.columns if c.name == rest), None)
        if column is not None:
            rest = column.en if self.lang == "en" else column.zh
        return f"{self.ui.fmt(unit, n=int(index) + 1)} {rest}".strip()


def _scalar(spec: FieldSpec, name: str) -> FieldSpec:
    return FieldSpec(name=name, zh=spec.zh, en=spec.en, widget="text", required=spec.required)


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_text(x) for x in value]
    return [_text(value)]


_TRUE = {"true", "on", "1", "yes", "y", "是"}
_FALSE = {"false", "off", "0", "no", "n", "否"}


def _yesno(value: Any) -> str:
    text = _text(value).strip().lower()
    return "true" if text in _TRUE else "false" if text in _FALSE else ""


def _file(ref: Any, name: str) -> FileView:
    return FileView(
        name=name,
        sha256=_text(_get(ref, "sha256")),
        filename=_text(_get(ref, "filename")),
        content_type=_text(_get(ref, "content_type")),
        size=_text(_get(ref, "size")),
    )


def _human_size(size: str) -> str:
    if not size.isdigit():
        return size
    n = float(size)
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return size
