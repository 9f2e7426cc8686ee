"""forms.registry: every task kind's form validates, round-trips, publishes a bilingual JSON schema
with a stable hash, and names the field of every problem (DESIGN decision 6, DOMAIN §4–§6)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from form_examples import PHOTO, SHEET, VALID  # one valid submission per kind

from core.errors import NotFoundError, ValidationError
from forms import (
    FORMS,
    AttachmentRef,
    TaskForm,
    form_for,
    json_schema,
    schema_hash,
    validate_draft,
    validate_form,
)

KINDS = sorted(VALID)


def _valid(kind: str, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID[kind])
    data.update(changes)
    return data


def _error_fields(kind: str, data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        validate_form(kind, data)
    return [e["field"] for e in caught.value.errors]


def test_registry_examples_cover_every_kind_eighteen_forms() -> None:
    assert sorted(FORMS) == KINDS
    assert len(FORMS) == 18
    assert all(FORMS[kind].kind == kind for kind in FORMS)


@pytest.mark.parametrize("kind", KINDS)
def test_validate_form_valid_example_round_trips_equal(kind: str) -> None:
    form = validate_form(kind, VALID[kind])
    assert isinstance(form, form_for(kind))
    dumped = form.model_dump(mode="json")
    assert validate_form(kind, dumped) == form
    assert dumped == validate_form(kind, dumped).model_dump(mode="json")


@pytest.mark.parametrize("kind", KINDS)
def test_json_schema_every_field_chinese_title_and_english_label(kind: str) -> None:
    schema = json_schema(kind)
    cls = form_for(kind)
    assert schema["title"] == cls.title_zh
    assert schema["label_en"] == cls.title_en
    assert schema["kind"] == kind
    assert schema["schema_version"] == cls.schema_version
    assert list(schema["properties"]) == list(cls.model_fields)
    for name, prop in schema["properties"].items():
        assert re.search(r"[\u4e00-\u9fff]", prop["title"]), name
        assert re.search(r"[A-Za-z]", prop["label_en"]), name


def test_json_schema_enum_lists_labels_and_other_bank_class_excludes_pass() -> None:
    defs = json_schema("loan_card_check")["$defs"]
    assert defs["Conclusion"]["labels_zh"]["attention"] == "需关注"
    risk = defs["OtherBankClassification"]["properties"]["risk_class"]
    assert "pass" not in risk["enum"]
    assert risk["labels_zh"]["special_mention"] == "关注"


def test_json_schema_ref_template_for_openapi_components() -> None:
    schema = json_schema("loan_card_check", ref_template="#/components/schemas/{model}")
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(schema))
    assert refs and all(r.startswith("#/components/schemas/") for r in refs)
    assert schema_hash("loan_card_check") == schema_hash("loan_card_check")


def test_json_schema_returned_copy_mutation_does_not_leak() -> None:
    json_schema("write_off_review")["title"] = "tampered"
    assert json_schema("write_off_review")["title"] == "核销审查"


def test_schema_hash_same_twice_and_differs_between_kinds() -> None:
    hashes = {kind: schema_hash(kind) for kind in KINDS}
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes.values())
    assert all(schema_hash(kind) == hashes[kind] for kind in KINDS)
    assert len(set(hashes.values())) == len(KINDS)


def test_form_for_unknown_kind_not_found() -> None:
    with pytest.raises(NotFoundError) as caught:
        form_for("coffee_break")
    assert caught.value.context["kind"] == "coffee_break"
    with pytest.raises(NotFoundError):
        validate_form("coffee_break", {})


# (kind, changes to the valid example, the field the error must name)
BROKEN_RULES = [
    ("first_usage_check", {"diversion_found": True, "funds_used_as_contracted": False,
                           "conclusion": "risk"}, "diversion_details"),
    ("first_usage_check", {"diversion_found": True, "diversion_details": "转入股市 50 万",
                           "conclusion": "risk"}, "funds_used_as_contracted"),
    ("customer_visit", {"inspectors": ["zhang.wei"]}, "inspectors"),
    ("customer_visit", {"inspectors": ["zhang.wei", "Zhang.Wei "]}, "inspectors"),
    ("customer_visit", {"inspectors": ["a", "b", "c"]}, "inspectors"),
    ("customer_visit", {"photos": []}, "photos"),
    ("customer_visit", {"places_visited": []}, "places_visited"),
    ("customer_visit", {"risk_found": True}, "risk_description"),
    ("loan_card_check", {"other_bank_credit_balance_change_reason": None},
     "other_bank_credit_balance_change_reason"),
    ("loan_card_check", {"external_guarantee_balance_change": "120000.00"},
     "external_guarantee_balance_change_reason"),
    ("loan_card_check", {"other_bank_classifications": [
        {"bank": "某行", "amount": "1", "risk_class": "pass", "reason": "正常"}]},
     "other_bank_classifications.0.risk_class"),
    ("phone_follow_up", {"promise_to_pay_date": None}, "promise_to_pay_date"),
    ("phone_follow_up", {"promise_to_pay_amount": None}, "promise_to_pay_amount"),
    ("phone_follow_up", {"promise_to_pay_date": "2024-03-01"}, "promise_to_pay_date"),
    ("phone_follow_up", {"payroll": None}, "payroll"),
    ("collateral_check", {"seized_or_frozen": True, "notes": None}, "notes"),
    ("extension_review", {"guarantor_consent_filed": False}, "guarantor_consent_filed"),
    ("extension_review", {"approved_term_months": None}, "approved_term_months"),
    ("classification_review", {"confirmed_class": None}, "confirmed_class"),
    ("write_off_review", {"committee_meeting_ref": None}, "committee_meeting_ref"),
    ("warning_disposition", {"measures": []}, "measures"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "changes", "field"), BROKEN_RULES)
def test_validate_form_broken_rule_error_names_field(
    kind: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_form(kind, _valid(kind, **changes))
    (error,) = caught.value.errors
    assert error["field"] == field
    assert re.search(r"[\u4e00-\u9fff]", error["message"])  # Chinese for the clerk
    assert error["message_en"]


# The same rules leave alone what they are not about.
RULES_NOT_APPLYING = [
    ("extension_review", {"decision": "reject", "guarantor_consent_filed": False,
                          "approved_term_months": None}),
    ("classification_review", {"decision": "return_for_revision", "confirmed_class": None}),
    ("write_off_review", {"decision": "reject", "committee_meeting_ref": None}),
    ("phone_follow_up", {"reached": False, "controller_whereabouts": None,
                         "operating_normally": None, "sales_and_purchases": None,
                         "new_orders": None, "payroll": None, "promise_to_pay_amount": None,
                         "promise_to_pay_date": None}),
    ("phone_follow_up", {"promise_to_pay_amount": None, "promise_to_pay_date": None}),
    ("loan_card_check", {"other_bank_credit_balance_change": "0.00",
                         "other_bank_credit_balance_change_reason": None}),
    ("customer_visit", {"risk_found": True, "risk_description": "主要客户破产", "warned_superiors": True}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "changes"), RULES_NOT_APPLYING)
def test_validate_form_rule_condition_absent_accepted(kind: str, changes: dict[str, Any]) -> None:
    validate_form(kind, _valid(kind, **changes))


def test_validate_form_unknown_field_error_names_it() -> None:
    assert _error_fields("collateral_check", _valid("collateral_check", colour="red")) == ["colour"]


def test_validate_form_several_problems_all_listed() -> None:
    data = _valid(
        "customer_visit",
        visited_on="2024-02-30",
        inspectors=["zhang.wei"],
        photos=[],
        nickname="x",
    )
    del data["item_1_operations"]
    fields = _error_fields("customer_visit", data)
    assert sorted(fields) == sorted(
        ["visited_on", "item_1_operations", "nickname", "inspectors", "photos"]
    )


def test_validate_form_sub_table_cell_error_dotted_path() -> None:
    data = _valid("loan_card_check")
    data["other_bank_delinquencies"] = [
        {"bank": "甲行", "kind": "overdue", "amount": "1.00", "cause": "x"},
        {"bank": "乙行", "kind": "late", "amount": "12.345", "cause": "y"},
    ]
    fields = _error_fields("loan_card_check", data)
    assert sorted(fields) == [
        "other_bank_delinquencies.1.amount",
        "other_bank_delinquencies.1.kind",
    ]


def test_validate_form_error_message_chinese_default_english_kept() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_form("collateral_check", _valid("collateral_check", estimated_value="-1"))
    (error,) = caught.value.errors
    assert error == {
        "field": "estimated_value",
        "message": "不能小于 0",
        "message_en": "Input should be greater than or equal to 0",
        "type": "greater_than_equal",
    }
    assert caught.value.to_dict()["errors"][0]["field"] == "estimated_value"


def test_validate_form_amount_more_than_two_decimals_refused() -> None:
    data = _valid("phone_follow_up", promise_to_pay_amount="100.005")
    assert _error_fields("phone_follow_up", data) == ["promise_to_pay_amount"]


def test_validate_form_blank_text_stripped_counts_as_missing() -> None:
    data = _valid("write_off_review", opinion="   ")
    assert _error_fields("write_off_review", data) == ["opinion"]


def test_validate_form_bad_attachment_hash_names_subfield() -> None:
    data = _valid("customer_visit", photos=[{**PHOTO, "sha256": "XYZ"}])
    assert _error_fields("customer_visit", data) == ["photos.0.sha256"]


def test_attachments_every_reference_collected() -> None:
    form = validate_form("customer_visit", VALID["customer_visit"])
    assert [a.sha256 for a in form.attachments()] == [PHOTO["sha256"], SHEET["sha256"]]
    assert all(isinstance(a, AttachmentRef) for a in form.attachments())
    assert form_for("customer_visit").attachment_fields() == {
        "photos": True,
        "inspection_sheet": False,
    }
    assert validate_form("extension_review", VALID["extension_review"]).attachments() == []


def test_validate_draft_partial_form_accepted_cleaned() -> None:
    cleaned = validate_draft(
        "loan_card_check",
        {
            "retrieved_on": "2024-03-18",
            "other_bank_credit_balance_change": " -1000.5 ",
            "other_bank_classifications": [{"bank": " 某农商行 "}],
        },
    )
    assert cleaned == {
        "retrieved_on": "2024-03-18",
        "other_bank_credit_balance_change": "-1000.5",
        "other_bank_classifications": [{"bank": "某农商行"}],
    }


def test_validate_draft_empty_accepted() -> None:
    assert validate_draft("customer_visit", {}) == {}


def test_validate_draft_unknown_key_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_draft("customer_visit", {"visited_on": "2024-03-20", "mood": "good"})
    assert [e["field"] for e in caught.value.errors] == ["mood"]


def test_validate_draft_wrong_type_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_draft(
            "loan_card_check",
            {"retrieved_on": "yesterday", "concentrated_maturities": [{"amount": "many"}]},
        )
    fields = sorted(e["field"] for e in caught.value.errors)
    assert fields == ["concentrated_maturities.0.amount", "retrieved_on"]


def test_validate_draft_rules_not_applied_field_constraints_kept() -> None:
    # A draft may still lack the second inspector, but not carry a "pass" other-bank class.
    assert validate_draft("customer_visit", {"inspectors": ["zhang.wei"]}) == {
        "inspectors": ["zhang.wei"]
    }
    with pytest.raises(ValidationError) as caught:
        validate_draft("loan_card_check", {"other_bank_classifications": [{"risk_class": "pass"}]})
    assert caught.value.errors[0]["field"] == "other_bank_classifications.0.risk_class"


def test_task_form_subclasses_declare_kind_and_titles() -> None:
    for kind, cls in FORMS.items():
        assert issubclass(cls, TaskForm)
        assert cls.title_zh and cls.title_en and cls.schema_version >= 1, kind
        assert cls.__name__.endswith("Form")
