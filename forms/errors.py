"""Pydantic errors → field-level messages a bank clerk can act on (Chinese first, English kept).

Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pydantic

from core.errors import ValidationError

# Chinese for the pydantic error types a form can produce; `{…}` are keys of the error's ctx.
_ZH: dict[str, str] = {
    "missing": "必填项",
    "extra_forbidden": "表单中没有此项，不能提交",
    "bool_type": "请选择“是”或“否”",
    "bool_parsing": "请选择“是”或“否”",
    "date_type": "请输入日期（YYYY-MM-DD）",
    "date_parsing": "日期格式不正确，应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式不正确，应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "只需填写日期，不含时间",
    "decimal_type": "请输入金额（数字）",
    "decimal_parsing": "请输入金额（数字）",
    "decimal_max_places": "最多保留 {decimal_places} 位小数",
    "decimal_max_digits": "数字位数过多",
    "decimal_whole_digits": "整数部分位数过多",
    "int_type": "请输入整数",
    "int_parsing": "请输入整数",
    "int_from_float": "请输入整数",
    "greater_than": "必须大于 {gt}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "必须小于 {lt}",
    "less_than_equal": "不能大于 {le}",
    "string_type": "请输入文字",
    "string_too_short": "不能为空",
    "string_too_long": "不能超过 {max_length} 个字",
    "string_pattern_mismatch": "格式不正确",
    "enum": "请从选项中选择",
    "list_type": "应为多项列表",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "model_type": "格式不正确",
    "model_attributes_type": "格式不正确",
    "dict_type": "格式不正确",
}


def convert(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    """One `{"field", "message", "message_en", "type"}` per problem; `field` is the dotted path
    (`other_bank_classifications.0.amount`), or the field a cross-field rule is about."""
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        ctx: dict[str, Any] = dict(err.get("ctx") or {})
        kind = err["type"]
        if kind == "form_rules":  # TaskForm.rule_violations: several rules in one error
            out.extend(rule_entry(field, zh, en) for field, zh, en in ctx["violations"])
            continue
        field = ".".join(str(part) for part in err["loc"])
        message_en = str(err["msg"])
        if kind == "form_rule":
            message_zh = str(ctx["zh"])
        elif kind == "value_error":
            message_en = message_en.removeprefix("Value error, ")
            message_zh = message_en
            if not field and ": " in message_en:  # model validator convention "field: message"
                field, message_en = message_en.split(": ", 1)
                message_zh = message_en
        else:
            message_zh = _zh(kind, ctx) or message_en
        out.append({"field": field, "message": message_zh, "message_en": message_en, "type": kind})
    return out


def rule_entry(field: str, zh: str, en: str) -> dict[str, Any]:
    return {"field": field, "message": zh, "message_en": en, "type": "form_rule"}


def _zh(kind: str, ctx: Mapping[str, Any]) -> str | None:
    template = _ZH.get(kind)
    if template is None:
        return None
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


def form_error(message: str, errors: list[dict[str, Any]], **context: Any) -> ValidationError:
    count = len(errors)
    return ValidationError(f"{message}（{count} 处）", errors=errors, **context)


def error_messages(
    errors: ValidationError | Iterable[Mapping[str, Any]], lang: str = "zh"
) -> dict[str, str]:
    """Field → message, for `render_form(errors=…)`; several messages on one field are joined."""
    items = errors.errors if isinstance(errors, ValidationError) else errors
    key = "message_en" if lang == "en" else "message"
    joined: dict[str, str] = {}
    for item in items:
        field = str(item.get("field") or "")
        message = str(item.get(key) or item.get("message") or "")
        joined[field] = f"{joined[field]}；{message}" if field in joined else message
    return joined
