"""Regulatory floor of the five-tier class (DOMAIN §3): table-driven over facts → floor."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from core.errors import ValidationError
from core.settings import Settings, get_settings
from loans.regulation import (
    ClassificationRule,
    FloorFacts,
    RuleBook,
    classification_floor,
    in_observation,
)
from statemachines.enums import RiskClass

ON = date(2025, 3, 31)  # fixed business date
SOURCE = "商业银行金融资产风险分类办法"
P, SM, SS, D, L = (
    RiskClass.pass_,
    RiskClass.special_mention,
    RiskClass.substandard,
    RiskClass.doubtful,
    RiskClass.loss,
)


def _settings(**overrides: Any) -> Settings:
    """The documented defaults, explicit so that no environment or .env file changes them."""
    values: dict[str, Any] = {
        "_env_file": None,
        "classification_grace_days": 7,
        "substandard_after_days": 90,
        "doubtful_after_days": 270,
        "loss_after_days": 360,
        "contagion_npl_share": "0.10",
        "restructure_observation_min_periods": 2,
        "restructure_observation_min_months": 12,
        "restructure_again_floor_doubtful": True,
    }
    values.update(overrides)
    return Settings(**values)


BOOK = RuleBook.from_settings(_settings())


def _restructured(**facts: Any) -> FloorFacts:
    """Restructured 2024-06-15, observation from the first repayment 2024-07-15."""
    base: dict[str, Any] = {
        "restructured_on": date(2024, 6, 15),
        "observation_start": date(2024, 7, 15),
        "on_time_periods_since_start": 1,
    }
    base.update(facts)
    return FloorFacts(**base)


def _rule(code: str, floor: RiskClass | None, **kw: Any) -> ClassificationRule:
    kw.setdefault("effective_from", date(2023, 7, 1))
    return ClassificationRule(code=code, floor=floor, source=SOURCE, article="第十条", **kw)


@pytest.mark.parametrize(
    ("dpd", "expected", "reasons"),
    [
        (0, P, ()),
        (1, P, ()),
        (7, P, ()),
        (8, SM, ("dpd_grace_special_mention",)),
        (90, SM, ("dpd_grace_special_mention",)),
        (91, SS, ("dpd_90_substandard",)),
        (270, SS, ("dpd_90_substandard",)),
        (271, D, ("dpd_270_doubtful",)),
        (360, D, ("dpd_270_doubtful",)),
        (361, L, ("dpd_360_loss",)),
    ],
)
def test_floor_days_past_due_at_boundary_forces_class(
    dpd: int, expected: RiskClass, reasons: tuple[str, ...]
) -> None:
    floor = classification_floor(FloorFacts(days_past_due=dpd), ON, BOOK)
    assert floor.risk_class is expected
    assert floor.reasons == reasons


@pytest.mark.parametrize(
    ("overrides", "dpd", "expected"),
    [
        ({"classification_grace_days": 0}, 0, P),
        ({"classification_grace_days": 0}, 1, SM),
        ({"classification_grace_days": 30}, 30, P),
        ({"classification_grace_days": 30}, 31, SM),
        ({"substandard_after_days": 60}, 61, SS),
        ({"doubtful_after_days": 180}, 181, D),
        ({"loss_after_days": 300}, 301, L),
    ],
)
def test_floor_custom_settings_moves_boundary(
    overrides: dict[str, Any], dpd: int, expected: RiskClass
) -> None:
    book = RuleBook.from_settings(_settings(**overrides))
    assert classification_floor(FloorFacts(days_past_due=dpd), ON, book).risk_class is expected


def test_floor_without_rule_book_uses_get_settings() -> None:
    facts = FloorFacts(days_past_due=91)
    expected = classification_floor(facts, ON, RuleBook.from_settings(get_settings()))
    assert classification_floor(facts, ON) == expected


@pytest.mark.parametrize(
    ("facts", "on", "expected"),
    [
        (FloorFacts(), ON, False),  # never restructured
        (_restructured(observation_start=None), ON, True),  # first repayment not reached yet
        (_restructured(), date(2024, 7, 1), True),  # before the first repayment date
        (_restructured(), date(2024, 6, 1), False),  # restructured after `on`
        (_restructured(on_time_periods_since_start=2), date(2025, 7, 14), True),  # < 12 months
        (_restructured(on_time_periods_since_start=1), date(2025, 7, 15), True),  # 1 period
        (_restructured(on_time_periods_since_start=2), date(2025, 7, 15), False),  # both met
        (_restructured(on_time_periods_since_start=12), date(2026, 1, 1), False),
        # month-end clamp: 2024-02-29 + 12 months = 2025-02-28
        (
            _restructured(observation_start=date(2024, 2, 29), on_time_periods_since_start=2),
            date(2025, 2, 27),
            True,
        ),
        (
            _restructured(observation_start=date(2024, 2, 29), on_time_periods_since_start=2),
            date(2025, 2, 28),
            False,
        ),
    ],
)
def test_in_observation_periods_and_months_decide_end(
    facts: FloorFacts, on: date, expected: bool
) -> None:
    assert in_observation(facts, on, BOOK) is expected


def test_in_observation_custom_settings_shortens_window() -> None:
    book = RuleBook.from_settings(
        _settings(restructure_observation_min_periods=3, restructure_observation_min_months=6)
    )
    facts = _restructured(on_time_periods_since_start=3)
    assert in_observation(facts, date(2025, 1, 14), book) is True
    assert in_observation(facts, date(2025, 1, 15), book) is False


def test_in_observation_no_rule_in_force_is_false() -> None:
    assert in_observation(_restructured(), date(2024, 9, 1), RuleBook(())) is False


@pytest.mark.parametrize(
    ("before", "again", "flag", "expected", "reasons"),
    [
        (None, False, True, SM, ("restructured_observation",)),
        (P, False, True, SM, ("restructured_observation",)),
        (SM, False, True, SM, ("restructured_observation",)),
        (SS, False, True, SS, ("restructured_npl_no_upgrade",)),
        (D, False, True, D, ("restructured_npl_no_upgrade",)),
        (L, False, True, L, ("restructured_npl_no_upgrade",)),
        (P, True, True, D, ("restructured_again_doubtful",)),
        (P, True, False, SM, ("restructured_observation",)),
        (SS, True, True, D, ("restructured_again_doubtful",)),
        (D, True, True, D, ("restructured_npl_no_upgrade", "restructured_again_doubtful")),
        (L, True, True, L, ("restructured_npl_no_upgrade",)),
    ],
)
def test_floor_restructured_in_observation_keeps_or_forces_class(
    before: RiskClass | None,
    again: bool,
    flag: bool,
    expected: RiskClass,
    reasons: tuple[str, ...],
) -> None:
    book = RuleBook.from_settings(_settings(restructure_again_floor_doubtful=flag))
    facts = _restructured(class_before_restructure=before, restructured_again_in_observation=again)
    floor = classification_floor(facts, date(2024, 9, 1), book)
    assert floor.risk_class is expected
    assert floor.reasons == reasons


@pytest.mark.parametrize("before", [None, P, SS, L])
def test_floor_restructured_after_observation_lifts_restructuring_floor(
    before: RiskClass | None,
) -> None:
    facts = _restructured(
        class_before_restructure=before,
        on_time_periods_since_start=2,
        restructured_again_in_observation=True,
    )
    floor = classification_floor(facts, date(2025, 7, 15), BOOK)
    assert (floor.risk_class, floor.reasons) == (P, ())


def test_rule_book_flag_off_omits_restructured_again_rule() -> None:
    book = RuleBook.from_settings(_settings(restructure_again_floor_doubtful=False))
    assert "restructured_again_doubtful" not in {rule.code for rule in book.rules}


@pytest.mark.parametrize(
    ("share", "retail", "expected"),
    [
        (Decimal("0"), False, P),
        (Decimal("0.0999"), False, P),
        (Decimal("0.10"), False, P),  # exactly 10 % is not "more than 10 %"
        (Decimal("0.1001"), False, SS),
        (Decimal("1"), False, SS),
        (Decimal("0.1001"), True, P),  # retail: no contagion
        (Decimal("1"), True, P),
    ],
)
def test_floor_contagion_share_above_threshold_forces_substandard(
    share: Decimal, retail: bool, expected: RiskClass
) -> None:
    floor = classification_floor(FloorFacts(borrower_npl_share=share, is_retail=retail), ON, BOOK)
    assert floor.risk_class is expected
    assert floor.reasons == (("contagion_npl_share",) if expected is SS else ())


def test_floor_contagion_custom_threshold_from_settings() -> None:
    book = RuleBook.from_settings(_settings(contagion_npl_share="0.20"))
    assert classification_floor(FloorFacts(borrower_npl_share=Decimal("0.15")), ON, book) == (
        classification_floor(FloorFacts(), ON, book)
    )
    facts = FloorFacts(borrower_npl_share=Decimal("0.2001"))
    assert classification_floor(facts, ON, book).risk_class is SS


@pytest.mark.parametrize(
    ("facts", "expected", "reasons"),
    [
        (
            FloorFacts(days_past_due=8, borrower_npl_share=Decimal("0.5")),
            SS,
            ("contagion_npl_share",),
        ),
        (
            FloorFacts(days_past_due=100, borrower_npl_share=Decimal("0.5")),
            SS,
            ("dpd_90_substandard", "contagion_npl_share"),
        ),
        (_restructured(days_past_due=300, class_before_restructure=SS), D, ("dpd_270_doubtful",)),
        (
            _restructured(days_past_due=10, class_before_restructure=P),
            SM,
            ("dpd_grace_special_mention", "restructured_observation"),
        ),
    ],
)
def test_floor_several_rules_apply_worst_wins(
    facts: FloorFacts, expected: RiskClass, reasons: tuple[str, ...]
) -> None:
    floor = classification_floor(facts, date(2024, 9, 1), BOOK)
    assert floor.risk_class is expected
    assert floor.reasons == reasons


@pytest.mark.parametrize(
    ("facts", "code", "article"),
    [
        (FloorFacts(days_past_due=8), "dpd_grace_special_mention", "第九条"),
        (FloorFacts(days_past_due=91), "dpd_90_substandard", "第十条"),
        (FloorFacts(days_past_due=271), "dpd_270_doubtful", "第十一条"),
        (FloorFacts(days_past_due=361), "dpd_360_loss", "第十二条"),
        (_restructured(), "restructured_observation", "第十九条"),
        (_restructured(class_before_restructure=SS), "restructured_npl_no_upgrade", "第十九条"),
        (
            _restructured(restructured_again_in_observation=True),
            "restructured_again_doubtful",
            "第二十条",
        ),
        (FloorFacts(borrower_npl_share=Decimal("0.2")), "contagion_npl_share", "第七条"),
    ],
)
def test_floor_binding_rule_names_code_source_and_article(
    facts: FloorFacts, code: str, article: str
) -> None:
    floor = classification_floor(facts, date(2024, 9, 1), BOOK)
    assert floor.reasons == (code,)
    assert floor.rule_refs == (f"{SOURCE} {article} (2023-07-01)",)


@pytest.mark.parametrize(
    ("effective_from", "effective_to", "on", "expected"),
    [
        (date(2026, 1, 1), None, ON, P),  # not yet in force
        (date(2025, 3, 31), None, ON, SS),  # in force from its first day
        (date(2023, 7, 1), date(2024, 1, 1), ON, P),  # expired
        (date(2023, 7, 1), date(2025, 3, 31), ON, P),  # effective_to is exclusive
        (date(2023, 7, 1), date(2025, 4, 1), ON, SS),
    ],
)
def test_floor_rule_outside_effective_dates_is_ignored(
    effective_from: date, effective_to: date | None, on: date, expected: RiskClass
) -> None:
    rule = _rule(
        "dpd_90_substandard",
        SS,
        effective_from=effective_from,
        effective_to=effective_to,
        params={"days": 90},
    )
    book = RuleBook((rule,))
    assert classification_floor(FloorFacts(days_past_due=100), on, book).risk_class is expected


@pytest.mark.parametrize(
    ("on", "expected", "ref"),
    [
        (date(2024, 12, 31), P, ()),
        (date(2025, 1, 1), SS, (f"{SOURCE} 第十条 (2025-01-01)",)),
    ],
)
def test_floor_replay_uses_rule_version_in_force_on_date(
    on: date, expected: RiskClass, ref: tuple[str, ...]
) -> None:
    old = _rule("dpd_90_substandard", SS, effective_to=date(2025, 1, 1), params={"days": 90})
    new = _rule("dpd_90_substandard", SS, effective_from=date(2025, 1, 1), params={"days": 60})
    floor = classification_floor(FloorFacts(days_past_due=70), on, RuleBook((old, new)))
    assert (floor.risk_class, floor.rule_refs) == (expected, ref)


def test_floor_before_2023_rules_in_force_has_no_floor() -> None:
    facts = FloorFacts(days_past_due=400, borrower_npl_share=Decimal("1"))
    assert classification_floor(facts, date(2023, 6, 30), BOOK).risk_class is P
    assert BOOK.in_force(date(2023, 6, 30)) == []
    assert BOOK.in_force(date(2023, 7, 1)) == list(BOOK.rules)


@pytest.mark.parametrize(
    "build",
    [
        lambda: RuleBook((_rule("made_up_rule", SS),)),
        lambda: RuleBook((_rule("dpd_90_substandard", None, params={"days": 90}),)),
        lambda: _rule("dpd_90_substandard", SS, effective_to=date(2023, 7, 1)),
    ],
    ids=["unknown_code", "missing_floor", "empty_validity"],
)
def test_rule_book_invalid_rule_raises_validation_error(build: Any) -> None:
    with pytest.raises(ValidationError):
        build()


def test_rule_params_mutation_raises_type_error() -> None:
    rule = BOOK.rules[0]
    with pytest.raises(TypeError):
        rule.params["days"] = 0  # type: ignore[index]
