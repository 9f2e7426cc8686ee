"""forms.parse: posted HTML fields → the nested dict validate_form expects; and a rendered form,
posted back as a browser would, gives the same form again."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from form_examples import PHOTO, VALID  # one valid submission per kind

from forms import FORMS, parse_form_fields, render_form, validate_form


class _Browser(HTMLParser):
    """What a browser posts for a form: text inputs and textareas, ticked boxes and radios,
    selected options; file inputs are left to the caller (as the real page does)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.posted: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "disabled" in a:
            return
        if tag == "input" and a.get("type") != "file":
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.posted.append((a["name"], a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a["name"], ""
        elif tag == "select":
            self._select = a["name"]
            self.posted.append((a["name"], ""))
        elif tag == "option" and self._select and "selected" in a:
            self.posted.append((self._select, a["value"]))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            self.posted.append((self._textarea, self._text))
            self._textarea = None
        elif tag == "select":
            self._select = None


def _post(html: str) -> dict[str, str | list[str]]:
    browser = _Browser()
    browser.feed(str(html))
    flat: dict[str, list[str]] = {}
    for name, value in browser.posted:
        flat.setdefault(name, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in flat.items()}


def test_parse_form_fields_customer_visit_nested_then_valid() -> None:
    flat: dict[str, str | list[str]] = {
        "_csrf": "token",
        "visited_on": "2024-03-20",
        "inspectors.0": " zhang.wei ",
        "inspectors.1": "li.na",
        "places_visited": ["borrower_office", "collateral_location"],
        "item_1_operations": "销售平稳",
        "item_2_financing_investment": "无",
        "item_3_counterparties": "无变化",
        "item_4_market_outlook": "平稳",
        "item_5_settlement_decline": "",
        "item_6_project_progress": "   ",
        "item_7_cooperation_problems": "无",
        "item_8_other": "",
        "site_observations": "正常生产",
        "photos": "",  # the file input itself: the caller's business
        "photos.0.sha256": PHOTO["sha256"],
        "photos.0.filename": PHOTO["filename"],
        "photos.0.content_type": PHOTO["content_type"],
        "photos.0.size": str(PHOTO["size"]),
        "risk_found": "false",
        "warned_superiors": "on",
    }
    parsed = parse_form_fields("customer_visit", flat)
    assert parsed == {
        "visited_on": "2024-03-20",
        "inspectors": ["zhang.wei", "li.na"],
        "places_visited": ["borrower_office", "collateral_location"],
        "item_1_operations": "销售平稳",
        "item_2_financing_investment": "无",
        "item_3_counterparties": "无变化",
        "item_4_market_outlook": "平稳",
        "item_7_cooperation_problems": "无",
        "site_observations": "正常生产",
        "photos": [{**PHOTO, "size": "512000"}],
        "risk_found": "false",
        "warned_superiors": "on",
    }
    form = validate_form("customer_visit", parsed)
    assert form.model_dump()["warned_superiors"] is True
    assert form.model_dump()["item_5_settlement_decline"] is None


def test_parse_form_fields_loan_card_blank_rows_dropped_then_valid() -> None:
    flat: dict[str, str | list[str]] = {
        "retrieved_on": "2024-03-18",
        "other_bank_credit_balance_change": "0",
        "external_guarantee_balance_change": "-20000",
        "external_guarantee_balance_change_reason": "为关联方甲公司担保到期解除",
        "other_bank_classifications.0.bank": "",
        "other_bank_classifications.0.amount": "",
        "other_bank_classifications.0.risk_class": "",
        "other_bank_classifications.0.reason": "",
        "other_bank_classifications.1.bank": "某农商行",
        "other_bank_classifications.1.amount": "2000000",
        "other_bank_classifications.1.risk_class": "substandard",
        "other_bank_classifications.1.reason": "逾期 100 天",
        "other_bank_classifications.2.bank": " ",
        "other_bank_delinquencies.0.bank": "",
        "concentrated_maturities.5.bank": "工商银行",
        "concentrated_maturities.5.amount": "8000000",
        "concentrated_maturities.5.due_date": "2024-05-20",
        "report": "",
        "conclusion": "attention",
    }
    parsed = parse_form_fields("loan_card_check", flat)
    assert parsed["other_bank_classifications"] == [
        {
            "bank": "某农商行",
            "amount": "2000000",
            "risk_class": "substandard",
            "reason": "逾期 100 天",
        }
    ]
    assert "other_bank_delinquencies" not in parsed and "report" not in parsed
    assert parsed["concentrated_maturities"] == [
        {"bank": "工商银行", "amount": "8000000", "due_date": "2024-05-20"}
    ]
    form = validate_form("loan_card_check", parsed)
    assert len(form.model_dump()["other_bank_classifications"]) == 1


def test_parse_form_fields_single_checkbox_value_becomes_list() -> None:
    parsed = parse_form_fields("warning_disposition", {"measures": "move_to_watch"})
    assert parsed == {"measures": ["move_to_watch"]}


def test_parse_form_fields_half_filled_row_kept_for_validation() -> None:
    parsed = parse_form_fields(
        "loan_card_check",
        {"other_bank_delinquencies.0.bank": "", "other_bank_delinquencies.1.bank": "乙行"},
    )
    assert parsed == {"other_bank_delinquencies": [{"bank": "乙行"}]}


def test_parse_form_fields_unknown_name_kept_so_validation_names_it() -> None:
    parsed = parse_form_fields("classification_review", {"decision": "approve", "colour": "red"})
    assert parsed == {"decision": "approve", "colour": "red"}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_parse_form_fields_blank_rendered_form_posted_back_empty(kind: str) -> None:
    parsed = parse_form_fields(kind, _post(render_form(kind)))
    assert all(v == [] for v in parsed.values()), parsed


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_parse_form_fields_filled_form_posted_back_same_form(kind: str) -> None:
    original = validate_form(kind, VALID[kind])
    html = render_form(kind, values=original.model_dump())
    again = validate_form(kind, parse_form_fields(kind, _post(html)))
    assert again == original


def test_parse_form_fields_failed_post_rerendered_keeps_input() -> None:
    flat: dict[str, str | list[str]] = {
        "called_on": "2024-03-21",
        "contact_person": "王会计",
        "reached": "true",
        "promise_to_pay_amount": "5000",
    }
    parsed = parse_form_fields("phone_follow_up", flat)
    html = render_form("phone_follow_up", values=parsed, errors={"payroll": "必填项"})
    assert _post(html)["promise_to_pay_amount"] == "5000"
    assert _post(html)["reached"] == "true"
    assert _post(html)["contact_person"] == "王会计"
