"""forms/released.py: every form's current schema is released under its current version (a schema
changed without a version bump, or bumped without appending its hash, fails here), and a payload
stored under an old version still re-opens after the form gains a field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from forms import FORMS, registry, render_form, schema_hash, upgrader
from forms.base import LongText, label
from forms.released import RELEASED, is_current, reopen, version_of
from forms.reviews import ExtensionReviewForm

KIND = "extension_review"
V1 = {"decision": "approve", "opinion": "经营正常，同意展期", "guarantor_consent_filed": True,
      "approved_term_months": 6}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_current_schema_hash_released_as_the_current_version(kind: str) -> None:
    current = FORMS[kind].schema_version
    assert version_of(kind, schema_hash(kind)) == current, (
        f"{kind}: its schema changed (hash {schema_hash(kind)}) but RELEASED does not list that "
        f"hash as version {current}: bump `schema_version`, register an upgrader and append the "
        "hash to forms/released.py"
    )
    assert is_current(kind, schema_hash(kind))


@pytest.mark.parametrize("kind", sorted(RELEASED))
def test_released_versions_distinct_and_none_after_the_current(kind: str) -> None:
    versions = list(RELEASED[kind].values())
    assert len(set(versions)) == len(versions)
    assert max(versions) == FORMS[kind].schema_version


def test_unknown_hash_has_no_version_and_reopens_from_the_fallback() -> None:
    assert version_of(KIND, "0" * 64) is None
    assert version_of(KIND, None) is None
    stored = reopen(KIND, dict(V1), "0" * 64, fallback_version=1)
    assert not stored.known_hash and stored.submitted_version == 1 and stored.values == V1


class ExtensionReviewV2(ExtensionReviewForm):
    """Version 2 (this test only): the review gained a note on the repayment source."""

    schema_version: ClassVar[int] = 2
    repayment_source: LongText | None = label("还款来源说明", "Repayment source", default=None)


@pytest.fixture
def gained_a_field(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """extension_review released as v2 with one more field; yields v1's hash (as stored)."""
    old_hash = schema_hash(KIND)
    monkeypatch.setitem(FORMS, KIND, ExtensionReviewV2)
    monkeypatch.setattr(registry, "_UPGRADERS", dict(registry._UPGRADERS))
    monkeypatch.setitem(RELEASED, KIND, {**RELEASED[KIND], schema_hash(KIND): 2})

    @upgrader(KIND, 1)
    def _gains_repayment_source(payload: dict[str, Any]) -> dict[str, Any]:
        payload.setdefault("repayment_source", None)
        return payload

    yield old_hash


def test_old_payload_reopens_as_version_1_after_the_form_gains_a_field(gained_a_field) -> None:
    assert schema_hash(KIND) != gained_a_field  # the new field changed the schema
    stored = reopen(KIND, dict(V1), gained_a_field, fallback_version=None)
    assert stored.known_hash and stored.submitted_version == 1 and stored.current_version == 2
    assert stored.submitted == V1  # exactly as stored
    assert stored.values == V1 | {"repayment_source": None}
    assert stored.added_fields == ("repayment_source",)
    html = render_form(KIND, values=stored.values, readonly=True)  # today's template renders it
    assert "经营正常，同意展期" in html and 'data-schema-version="2"' in html


def test_new_payload_reopens_as_version_2(gained_a_field) -> None:
    payload = V1 | {"repayment_source": "销售回款"}
    stored = reopen(KIND, payload, schema_hash(KIND), fallback_version=1)
    assert stored.submitted_version == 2 and stored.added_fields == ()
    assert stored.values["repayment_source"] == "销售回款"
