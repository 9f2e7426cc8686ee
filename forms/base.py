"""What every task form is made of: bilingual labels, attachment references, cross-field rules.

Pure pydantic: imports no DB, HTTP or Prefect library (import-linter contract).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue, WithJsonSchema
from pydantic_core import CoreSchema, PydanticCustomError

from statemachines.enums import RiskClass


def label(zh: str, en: str, **kw: Any) -> Any:
    """A field with its Chinese label as the JSON-schema title and the English one beside it.

    Extra keys for the renderer go in `json_schema_extra` (e.g. `{"slots": 2}`); the rest of `kw`
    goes to `pydantic.Field` (default, default_factory, ge, ...).
    """
    extra = {"label_en": en, **kw.pop("json_schema_extra", {})}
    field: Any = Field(title=zh, json_schema_extra=extra, **kw)
    return field


class Multiline:
    """Marker in `Annotated[...]`: render the text as a textarea, not a one-line input."""

    def __repr__(self) -> str:
        return "Multiline()"


# Amounts are in yuan (元) with at most 2 decimals (分); 18 digits cover any loan book.
Yuan = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
PositiveYuan = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
SignedYuan = Annotated[Decimal, Field(max_digits=18, decimal_places=2)]  # a change may be < 0
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=4000), Multiline()]
Username = Annotated[str, Field(min_length=1, max_length=64)]  # core.identity.User.username


def rule_error(zh: str, en: str) -> PydanticCustomError:
    """A bilingual validation error; `forms.errors` shows `zh` by default and keeps `en`."""
    return PydanticCustomError("form_rule", "{en}", {"zh": zh, "en": en})


class LabelledEnum(StrEnum):
    """A str enum whose members carry their labels: `normal = "normal", "正常", "Normal"`.

    The stored value is the first item only; the JSON schema lists the labels beside the values.
    """

    label_zh: str
    label_en: str

    def __new__(cls, value: str, zh: str = "", en: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label_zh = zh or value
        member.label_en = en or value
        return member

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema = handler.resolve_ref_schema(schema)
        schema["labels_zh"] = {m.value: m.label_zh for m in cls}
        schema["labels_en"] = {m.value: m.label_en for m in cls}
        return schema


class Decision(LabelledEnum):
    """A reviewer's decision on an approval step (DOMAIN §6)."""

    approve = "approve", "同意", "Approve"
    reject = "reject", "不同意", "Reject"
    return_for_revision = "return_for_revision", "退回补充", "Return for revision"


class Conclusion(LabelledEnum):
    """The inspector's conclusion of a check (DOMAIN §4)."""

    normal = "normal", "正常", "Normal"
    attention = "attention", "需关注", "Needs attention"
    risk = "risk", "发现风险", "Risk found"


def _titled_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    schema["title"] = cls.title_zh
    schema["label_en"] = cls.title_en
    if issubclass(cls, TaskForm):
        schema["kind"] = cls.kind
        schema["schema_version"] = cls.schema_version


def enum_label_en(member: StrEnum) -> str:
    """English label of an enum member (`label_en`, else its value: "special_mention" → ...)."""
    return str(getattr(member, "label_en", "") or member.value.replace("_", " ").capitalize())


class Choices:
    """Marker in `Annotated[...]`: offer only these enum members in the HTML form."""

    def __init__(self, *members: StrEnum) -> None:
        self.values = frozenset(m.value for m in members)

    def __repr__(self) -> str:
        return f"Choices({sorted(self.values)})"


def risk_class_schema(*classes: RiskClass) -> WithJsonSchema:
    """五级分类 in a JSON schema: the values allowed, with both labels."""
    return WithJsonSchema(
        {
            "type": "string",
            "enum": [c.value for c in classes],
            "labels_zh": {c.value: c.label_zh for c in classes},
            "labels_en": {c.value: enum_label_en(c) for c in classes},
        }
    )


# 五级分类 as a form field: the statemachines enum, labelled in the JSON schema.
RiskClassChoice = Annotated[RiskClass, risk_class_schema(*RiskClass)]


_SHA256 = r"^[0-9a-f]{64}$"


class AttachmentRef(BaseModel):
    """A file stored elsewhere (tasks/), referenced by content hash so the journal can prove it."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_titled_schema
    )
    title_zh: ClassVar[str] = "附件"
    title_en: ClassVar[str] = "Attachment"

    sha256: str = label("内容哈希", "SHA-256", pattern=_SHA256)
    filename: str = label("文件名", "File name", min_length=1, max_length=200)
    content_type: str = label("文件类型", "Content type", min_length=1, max_length=100)
    size: int = label("大小（字节）", "Size (bytes)", ge=0)


@dataclass(frozen=True)
class RuleViolation:
    """One broken cross-field rule, located at the field a clerk has to fix."""

    field: str
    zh: str
    en: str


class FormRow(BaseModel):
    """One row of a sub-table inside a form (e.g. one other bank's classification)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_titled_schema
    )
    title_zh: ClassVar[str] = ""
    title_en: ClassVar[str] = ""


class TaskForm(BaseModel):
    """The input of one human-task kind: the API schema, the HTML form and a flow's resume input.

    Cross-field rules live in `rule_violations` (over a mapping of validated values, so that
    `forms.registry.validate_form` can also run them beside field errors and list every problem).
    """

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_titled_schema
    )

    kind: ClassVar[str]
    title_zh: ClassVar[str]
    title_en: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def rule_violations(cls, v: Mapping[str, Any]) -> Iterator[RuleViolation]:
        """Yield each broken rule. `v` may lack fields that failed validation: skip their rules."""
        return iter(())

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        found = list(type(self).rule_violations(self.__dict__))
        if found:
            summary = "; ".join(f"{x.field}: {x.en}" for x in found)
            raise PydanticCustomError(
                "form_rules",
                "{summary}",
                {"summary": summary, "violations": [(x.field, x.zh, x.en) for x in found]},
            )
        return self

    def attachments(self) -> list[AttachmentRef]:
        """Every attachment the form references (for the journal and the attachment store)."""
        found: list[AttachmentRef] = []
        _collect(self, found)
        return found

    @classmethod
    def attachment_fields(cls) -> dict[str, bool]:
        """Top-level fields holding attachments → whether they hold several (a file input each)."""
        fields: dict[str, bool] = {}
        for name, info in cls.model_fields.items():
            ann = info.annotation
            if ann is AttachmentRef or ann == AttachmentRef | None:
                fields[name] = False
            elif ann == list[AttachmentRef]:
                fields[name] = True
        return fields


def _collect(value: Any, found: list[AttachmentRef]) -> None:
    if isinstance(value, AttachmentRef):
        found.append(value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found)


# --- small rule helpers shared by the form modules ---------------------------------------------


def missing(v: Mapping[str, Any], name: str) -> bool:
    """True when a field is absent, None, blank or an empty list (not when it is False or 0)."""
    value = v.get(name)
    return value is None or value == "" or value == []


def has_duplicates(values: Any) -> bool:
    items = [str(x).casefold() for x in values or ()]
    return len(set(items)) != len(items)


def not_before(first: date | None, second: date | None) -> bool:
    """False only when both dates are known and `second` is earlier than `first`."""
    return first is None or second is None or second >= first
