"""The student-loan forms' own rules (forms/student.py): a graduation confirmation says when the
student left school or until when they stay, and who employs them; a contact that did not reach
the student records no school status."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from core.errors import ValidationError
from forms import validate_form
from tests.forms.form_examples import VALID


def _fields(kind: str, **changes: Any) -> list[str]:
    data = copy.deepcopy(VALID[kind]) | changes
    with pytest.raises(ValidationError) as caught:
        validate_form(kind, data)
    return sorted({e["field"] for e in caught.value.errors})


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"graduation_date": None}, ["graduation_date"]),
        ({"status": "left_school", "graduation_date": None}, ["graduation_date"]),
        ({"new_expected_graduation_date": "2030-07-01"}, ["new_expected_graduation_date"]),
        ({"employment": None, "employer": None}, ["employment"]),
        (
            {"status": "in_school", "employment": None},
            ["graduation_date", "new_expected_graduation_date"],
        ),
        ({"employer": None}, ["employer"]),
        ({"phone": "call me"}, ["phone"]),
        ({"email": "not-an-address"}, ["email"]),
    ],
)
def test_graduation_confirmation_rules_name_the_field(changes, fields):
    assert _fields("graduation_confirmation", **changes) == fields


def test_graduation_confirmation_still_in_school_needs_only_the_new_date():
    data = VALID["graduation_confirmation"] | {
        "status": "in_school", "graduation_date": None, "employment": None, "employer": None,
        "new_expected_graduation_date": "2030-07-01",
    }  # fmt: skip
    assert validate_form("graduation_confirmation", data).status == "in_school"


def test_student_contact_not_reached_records_no_school_status():
    assert _fields("student_contact", reached=False) == ["school_status"]
    data = VALID["student_contact"] | {"reached": False, "school_status": None}
    assert validate_form("student_contact", data).reached is False
    assert _fields("student_contact", channel="telegram") == ["channel"]
