"""forms.render: the HTML fragment of each task form — every field an input, Chinese labels first
(English on request), values kept after an error, the error at its field, everything escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from form_examples import PHOTO
from markupsafe import Markup, escape

from core.errors import ValidationError
from forms import FORMS, error_messages, render_form, validate_form
from forms.fields import field_specs

KINDS = sorted(FORMS)


def _field_block(html: str, name: str) -> str:
    """The HTML of one top-level field wrapper, up to the next field wrapper."""
    start = html.index(f'data-field="{name}"')
    start = html.rindex("<div", 0, start)
    nxt = html.find('<div class="form-field', start + 1)
    return html[start : nxt if nxt != -1 else len(html)]


def _tags(html: str, name: str) -> list[str]:
    """Every input/select/textarea tag named `name`."""
    return re.findall(rf'<(?:input|select|textarea)\b[^>]*\bname="{re.escape(name)}"[^>]*>', html)


def _value(html: str, name: str) -> str:
    (tag,) = _tags(html, name)
    found = re.search(r'\bvalue="([^"]*)"', tag)
    assert found, tag
    return found.group(1)


def _checked(html: str, name: str) -> list[str]:
    """Values of the ticked boxes / chosen radio buttons named `name`."""
    tags = [t for t in _tags(html, name) if re.search(r"\schecked\b", t)]
    return [re.search(r'\bvalue="([^"]*)"', t).group(1) for t in tags]  # type: ignore[union-attr]


def _has_input(html: str, name: str) -> bool:
    return f'name="{name}"' in html or f'name="{name}.' in html


@pytest.mark.parametrize("kind", KINDS)
def test_render_form_zh_every_field_input_chinese_label_first(kind: str) -> None:
    cls = FORMS[kind]
    html = render_form(kind)
    assert isinstance(html, Markup)
    assert "<html" not in html and "<form" not in html  # a fragment for the page to embed
    assert escape(cls.title_zh) in html
    for name, spec in field_specs(cls).items():
        assert _has_input(html, name), name
        block = _field_block(html, name)
        zh, en = str(escape(spec.zh)), str(escape(spec.en))
        assert zh in block and f'<small class="hint" lang="en">{en}</small>' in block, name
        assert block.index(zh) < block.index(en), name


@pytest.mark.parametrize("kind", KINDS)
def test_render_form_en_english_label_chinese_hint(kind: str) -> None:
    cls = FORMS[kind]
    html = render_form(kind, lang="en")
    assert escape(cls.title_en) in html
    for name, spec in field_specs(cls).items():
        assert _has_input(html, name), name
        block = _field_block(html, name)
        zh, en = str(escape(spec.zh)), str(escape(spec.en))
        assert f'<small class="hint" lang="zh">{zh}</small>' in block, name
        assert block.index(en) < block.index(zh), name


@pytest.mark.parametrize("kind", KINDS)
def test_render_form_error_shown_next_to_its_field(kind: str) -> None:
    names = list(FORMS[kind].model_fields)
    target, other = names[0], names[-1]
    html = render_form(kind, errors={target: "请核对<此项>"})
    block = _field_block(html, target)
    assert "has-error" in block[: block.index(">")]
    assert '<div class="field-error"' in block and "请核对&lt;此项&gt;" in block
    assert "has-error" not in _field_block(html, other)


def test_render_form_values_kept_escaped() -> None:
    values = {
        "visited_on": "2024-03-20",
        "inspectors": ["zhang.wei", "li.na"],
        "places_visited": ["production_site"],
        "item_1_operations": 'Sales "up" & <b>margins</b> flat',
        "photos": [PHOTO],
        "risk_found": False,
        "warned_superiors": True,
    }
    html = render_form("customer_visit", values=values)
    assert _value(html, "visited_on") == "2024-03-20"
    assert _value(html, "inspectors.0") == "zhang.wei"
    assert _value(html, "inspectors.1") == "li.na"
    assert _checked(html, "places_visited") == ["production_site"]
    assert "Sales &#34;up&#34; &amp; &lt;b&gt;margins&lt;/b&gt; flat</textarea>" in html
    assert _checked(html, "risk_found") == ["false"]
    assert _checked(html, "warned_superiors") == ["on"]
    assert "厂区.jpg" in html and _value(html, "photos.0.sha256") == PHOTO["sha256"]


def test_render_form_typed_values_from_model_dump_kept() -> None:
    form = validate_form(
        "phone_follow_up",
        {
            "called_on": "2024-03-21",
            "contact_person": "王会计",
            "reached": True,
            "controller_whereabouts": "在厂",
            "operating_normally": True,
            "sales_and_purchases": "平稳",
            "new_orders": "无",
            "payroll": "正常",
            "promise_to_pay_amount": "50000.50",
            "promise_to_pay_date": "2024-03-31",
        },
    )
    html = render_form("phone_follow_up", values=form.model_dump())
    assert _value(html, "promise_to_pay_amount") == "50000.50"
    assert _value(html, "promise_to_pay_date") == "2024-03-31"
    assert _checked(html, "operating_normally") == ["true"]


def test_render_form_script_value_escaped_everywhere() -> None:
    evil = "<script>alert('x')</script>"
    values: dict[str, Any] = {
        "retrieved_on": evil,
        "other_bank_credit_balance_change_reason": evil,
        "other_bank_classifications": [{"bank": evil, "risk_class": evil}],
        "report": {**PHOTO, "filename": evil},
    }
    html = render_form("loan_card_check", values=values, errors={"retrieved_on": evil, "x": evil})
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_render_form_sub_table_three_blank_rows_and_cell_error() -> None:
    html = render_form("loan_card_check")
    for i in range(3):
        assert f'name="other_bank_classifications.{i}.bank"' in html
    assert 'name="other_bank_classifications.3.bank"' not in html
    assert 'value="pass"' not in html  # only 关注 or worse is registered at other banks

    rows = [{"bank": "甲行", "amount": "abc", "risk_class": "doubtful", "reason": "r"}] * 3
    html = render_form(
        "loan_card_check",
        lang="en",
        values={"other_bank_classifications": rows},
        errors={"other_bank_classifications.2.amount": "enter a number"},
    )
    assert _value(html, "other_bank_classifications.3.bank") == ""  # one more blank row
    block = _field_block(html, "other_bank_classifications")
    assert "has-error" in block[: block.index(">")]
    cell = block[block.index('name="other_bank_classifications.2.amount"') :]
    assert cell.index("enter a number") < cell.index("</td>")


def test_render_form_row_level_error_shown_at_table_with_row_number() -> None:
    html = render_form("loan_card_check", errors={"concentrated_maturities.4.due_date": "必填项"})
    block = _field_block(html, "concentrated_maturities")
    assert "第 5 行 到期日：必填项" in block


def test_render_form_unknown_field_error_listed_at_top() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_form("classification_review", {"decision": "approve", "bogus": 1})
    html = render_form("classification_review", errors=error_messages(caught.value))
    top = html[: html.index("<fieldset")]
    assert 'class="form-errors"' in top and "<code>bogus</code>" in top
    assert "表单有 3 处需要修改" in top  # bogus, opinion, and the class an approval needs


def test_error_messages_english_on_request() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_form("write_off_review", {"decision": "approve"})
    zh, en = error_messages(caught.value), error_messages(caught.value, lang="en")
    assert zh["opinion"] == "必填项" and en["opinion"] == "Field required"
    assert set(zh) == {"recovery_prospects", "opinion", "committee_meeting_ref"}


def test_render_form_readonly_inputs_disabled_no_uploads() -> None:
    html = render_form("collateral_check", values={"photos": [PHOTO]}, readonly=True)
    assert 'type="file"' not in html and 'type="hidden"' not in html
    assert "厂区.jpg" in html
    inputs = re.findall(r"<(?:input|select|textarea)\b[^>]*>", html)
    assert inputs and all(" disabled" in tag for tag in inputs)


def test_render_form_optional_text_keeps_length_limit() -> None:
    html = render_form("extension_review")
    (conditions,) = _tags(html, "conditions")
    assert "<textarea" in conditions and 'maxlength="4000"' in conditions


def test_render_form_attachment_inputs_named_by_field() -> None:
    html = render_form("customer_visit")
    assert '<input type="file" id="pf-customer_visit-photos" name="photos" multiple>' in html
    assert 'name="inspection_sheet">' in html
    assert 'name="inspection_sheet" multiple' not in html


def test_render_form_review_decision_radios_with_labels() -> None:
    html = render_form("extension_review", values={"decision": "return_for_revision"})
    assert _checked(html, "decision") == ["return_for_revision"]
    assert 'value="return_for_revision" checked> 退回补充' in html
    assert "同意" in html and "不同意" in html
    (term,) = _tags(html, "approved_term_months")
    assert 'type="number"' in term and 'min="1"' in term
