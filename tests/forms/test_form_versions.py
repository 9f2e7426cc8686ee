"""forms.registry schema versions (STYLE habit 5): a stored payload is brought to the form's current
version by small registered upgraders, one version at a time, or fails saying which is missing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from forms import (
    FORMS,
    SchemaVersionError,
    TaskForm,
    UpgraderMissingError,
    load_payload,
    registry,
    upgrade_payload,
    upgrader,
)
from forms.base import Yuan, label

KIND = "throwaway_check"


class ThrowawayCheckForm(TaskForm):
    """Version 3: v1 had `amount` in fen (分) as an int; v2 renamed it to `amount_yuan` in yuan;
    v3 added `checked_on`, back-filled from the v2 `date` field."""

    kind: ClassVar[str] = KIND
    title_zh: ClassVar[str] = "测试检查"
    title_en: ClassVar[str] = "Throwaway check"
    schema_version: ClassVar[int] = 3

    amount_yuan: Yuan = label("金额（元）", "Amount (yuan)")
    checked_on: date = label("检查日期", "Checked on")


@pytest.fixture
def throwaway(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The throwaway kind registered, with an empty upgrader registry; yields the call log."""
    monkeypatch.setitem(FORMS, KIND, ThrowawayCheckForm)
    monkeypatch.setattr(registry, "_UPGRADERS", {})
    yield []


def _register_both(calls: list[str]) -> None:
    @upgrader(KIND, 1)
    def fen_to_yuan(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append("1→2")
        payload["amount_yuan"] = str(Decimal(payload.pop("amount")) / 100)
        return payload

    @upgrader(KIND, 2)
    def date_renamed(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append("2→3")
        payload["checked_on"] = payload.pop("date")
        return payload


def test_upgrade_payload_two_upgraders_applied_in_order(throwaway: list[str]) -> None:
    _register_both(throwaway)
    stored = {"amount": 12345, "date": "2024-03-01"}
    upgraded = upgrade_payload(KIND, stored, from_version=1)
    assert throwaway == ["1→2", "2→3"]
    assert upgraded == {"amount_yuan": "123.45", "checked_on": "2024-03-01"}
    assert stored == {"amount": 12345, "date": "2024-03-01"}  # the stored payload is untouched


def test_upgrade_payload_from_middle_version_only_later_steps(throwaway: list[str]) -> None:
    _register_both(throwaway)
    upgraded = upgrade_payload(KIND, {"amount_yuan": "1.00", "date": "2024-03-01"}, 2)
    assert throwaway == ["2→3"]
    assert upgraded == {"amount_yuan": "1.00", "checked_on": "2024-03-01"}


def test_upgrade_payload_current_version_unchanged(throwaway: list[str]) -> None:
    _register_both(throwaway)
    payload = {"amount_yuan": "1.00", "checked_on": "2024-03-01"}
    assert upgrade_payload(KIND, payload, 3) == payload
    assert throwaway == []


def test_load_payload_upgraded_then_validated(throwaway: list[str]) -> None:
    _register_both(throwaway)
    form = load_payload(KIND, {"amount": 500, "date": "2024-03-01"}, schema_version=1)
    assert isinstance(form, ThrowawayCheckForm)
    assert form.amount_yuan == Decimal("5") and form.checked_on == date(2024, 3, 1)


def test_upgrade_payload_missing_upgrader_names_the_step(throwaway: list[str]) -> None:
    @upgrader(KIND, 2)
    def only_second(payload: dict[str, Any]) -> dict[str, Any]:
        throwaway.append("2→3")
        return payload

    with pytest.raises(UpgraderMissingError) as caught:
        upgrade_payload(KIND, {"amount": 1}, from_version=1)
    assert caught.value.context == {"kind": KIND, "from_version": 1, "to_version": 2}
    assert "第 1 版" in caught.value.message
    assert throwaway == []  # nothing half-applied


def test_upgrade_payload_version_newer_than_form_refused(throwaway: list[str]) -> None:
    with pytest.raises(SchemaVersionError) as caught:
        upgrade_payload(KIND, {}, from_version=4)
    assert caught.value.context["current"] == 3
    with pytest.raises(SchemaVersionError):
        upgrade_payload(KIND, {}, from_version=0)


def test_upgrader_same_step_twice_refused(throwaway: list[str]) -> None:
    _register_both(throwaway)
    with pytest.raises(ValueError, match="already registered"):
        upgrader(KIND, 1)(lambda payload: payload)


def test_upgrade_payload_real_kinds_at_version_one_pass_through() -> None:
    payload = {"decision": "approve", "opinion": "同意"}
    assert upgrade_payload("extension_review", payload, 1) == payload
