"""RiskClassification (DOMAIN §3): every (from, to) class pair over floor and approval facts.

Downgrades need no approver; upgrades need an approver other than the proposer; no class may be
better than the regulatory floor, approved or not.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from core.errors import TransitionNotAllowedError
from statemachines.base import InvalidStoredStateError
from statemachines.enums import RiskClass
from statemachines.risk_classification import (
    ClassBelowFloorError,
    ClassificationFacts,
    RiskClassification,
    UpgradeNotApprovedError,
    event_for,
)

P, SM, SS, D, L = (
    RiskClass.pass_,
    RiskClass.special_mention,
    RiskClass.substandard,
    RiskClass.doubtful,
    RiskClass.loss,
)
CLASSES = (P, SM, SS, D, L)  # best → worst, written out so a reordering of the enum shows up
PROPOSER = "am-zhang"  # 客户经理 proposes
APPROVER = "committee-li"  # 信贷评审委员会 confirms

EVENT_NAMES = {
    P: "classify_pass",
    SM: "classify_special_mention",
    SS: "classify_substandard",
    D: "classify_doubtful",
    L: "classify_loss",
}


def _kind(current: RiskClass, wanted: RiskClass) -> str:
    a, b = CLASSES.index(current), CLASSES.index(wanted)
    return "same" if a == b else "downgrade" if b > a else "upgrade"


def _pairs(kind: str) -> list[Any]:
    """(from, to) pairs: "same", "downgrade" (to worse) or "upgrade" (to better)."""
    return [
        pytest.param(a, b, id=f"{a}-to-{b}")
        for a in CLASSES
        for b in CLASSES
        if _kind(a, b) == kind
    ]


def _machine(stored: str | None) -> tuple[SimpleNamespace, RiskClassification]:
    model = SimpleNamespace(risk_class=stored)
    machine = RiskClassification.restore(model, state_field="risk_class")
    assert isinstance(machine, RiskClassification)
    return model, machine


def test_pairs_cover_all_25_exactly_once() -> None:
    assert len(_pairs("same")) == 5
    assert len(_pairs("downgrade")) == 10
    assert len(_pairs("upgrade")) == 10
    assert set(CLASSES) == set(RiskClass)


def test_transition_table_every_class_to_every_other_class() -> None:
    expected = {(str(a), EVENT_NAMES[b]): {str(b)} for a in CLASSES for b in CLASSES if a != b}
    assert RiskClassification.transition_table() == expected


# -- same class ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "wanted"), _pairs("same"))
def test_classify_same_class_raises_transition_not_allowed_and_keeps_class(
    current: RiskClass, wanted: RiskClass
) -> None:
    model, machine = _machine(current)
    facts = ClassificationFacts(proposed_by=PROPOSER, approved_by=APPROVER, npl_exit_checked=True)
    with pytest.raises(TransitionNotAllowedError):
        machine.fire(event_for(wanted), facts=facts)
    assert model.risk_class == current


# -- downgrades ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "facts",
    [
        ClassificationFacts(),
        ClassificationFacts(proposed_by=PROPOSER),
        ClassificationFacts(proposed_by=PROPOSER, approved_by=PROPOSER),
    ],
    ids=["no_one", "proposed_only", "self_approved"],
)
@pytest.mark.parametrize(("current", "wanted"), _pairs("downgrade"))
def test_classify_downgrade_floor_pass_without_approver_moves(
    current: RiskClass, wanted: RiskClass, facts: ClassificationFacts
) -> None:
    model, machine = _machine(current)
    machine.fire(event_for(wanted), facts=facts)
    assert model.risk_class == wanted
    assert machine.current_state_value == wanted


# -- upgrades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "wanted"), _pairs("upgrade"))
def test_classify_upgrade_without_approver_raises_upgrade_not_approved(
    current: RiskClass, wanted: RiskClass
) -> None:
    model, machine = _machine(current)
    with pytest.raises(UpgradeNotApprovedError, match="needs an approval"):
        machine.fire(event_for(wanted), facts=ClassificationFacts(proposed_by=PROPOSER))
    assert model.risk_class == current


@pytest.mark.parametrize(("current", "wanted"), _pairs("upgrade"))
def test_classify_upgrade_self_approved_raises_upgrade_not_approved(
    current: RiskClass, wanted: RiskClass
) -> None:
    model, machine = _machine(current)
    facts = ClassificationFacts(proposed_by=PROPOSER, approved_by=PROPOSER)
    with pytest.raises(UpgradeNotApprovedError, match="four eyes"):
        machine.fire(event_for(wanted), facts=facts)
    assert model.risk_class == current


@pytest.mark.parametrize(("current", "wanted"), _pairs("upgrade"))
def test_classify_upgrade_other_approver_moves(current: RiskClass, wanted: RiskClass) -> None:
    model, machine = _machine(current)
    facts = ClassificationFacts(proposed_by=PROPOSER, approved_by=APPROVER, npl_exit_checked=True)
    machine.fire(event_for(wanted), facts=facts)
    assert model.risk_class == wanted
    assert machine.current_state_value == wanted


# -- the regulatory floor -----------------------------------------------------------------------


def _floor_cases(relation: str) -> list[Any]:
    """(from, to, floor) with from != to and `to` either better than or equal to the floor."""
    rank = {c: i for i, c in enumerate(CLASSES)}
    cases = []
    for a in CLASSES:
        for b in CLASSES:
            for floor in CLASSES:
                if a == b:
                    continue
                if (relation == "better" and rank[b] < rank[floor]) or (
                    relation == "equal" and b == floor
                ):
                    cases.append(pytest.param(a, b, floor, id=f"{a}-to-{b}-floor-{floor}"))
    return cases


@pytest.mark.parametrize(("current", "wanted", "floor"), _floor_cases("better"))
def test_classify_better_than_floor_even_approved_raises_class_below_floor(
    current: RiskClass, wanted: RiskClass, floor: RiskClass
) -> None:
    model, machine = _machine(current)
    reasons = ("dpd_over_90", "restructured_in_observation")
    facts = ClassificationFacts(
        floor=floor,
        floor_reasons=reasons,
        proposed_by=PROPOSER,
        approved_by=APPROVER,
        npl_exit_checked=True,
    )
    with pytest.raises(ClassBelowFloorError) as err:
        machine.fire(event_for(wanted), facts=facts)
    message = str(err.value)
    assert message.startswith(f"不能分为{wanted.label_zh}类：监管底线为{floor.label_zh}类")
    assert f"the regulatory floor is {floor.value}" in message
    assert all(reason in message for reason in reasons)
    assert err.value.context["floor"] == floor
    assert err.value.context["reasons"] == list(reasons)
    assert model.risk_class == current


@pytest.mark.parametrize(("current", "wanted", "floor"), _floor_cases("equal"))
def test_classify_to_exactly_the_floor_approved_moves(
    current: RiskClass, wanted: RiskClass, floor: RiskClass
) -> None:
    model, machine = _machine(current)
    facts = ClassificationFacts(
        floor=floor,
        floor_reasons=("rule",),
        proposed_by=PROPOSER,
        approved_by=APPROVER,
        npl_exit_checked=True,
    )
    machine.fire(event_for(wanted), facts=facts)
    assert model.risk_class == wanted


def test_classify_better_than_floor_without_reasons_message_names_floor() -> None:
    _, machine = _machine(L)
    expected = (
        r"^不能分为关注类：监管底线为次级类 "
        r"\(cannot classify special_mention: the regulatory floor is substandard\)$"
    )
    with pytest.raises(ClassBelowFloorError, match=expected):
        machine.fire(
            event_for(SM),
            facts=ClassificationFacts(
                floor=SS, proposed_by=PROPOSER, approved_by=APPROVER, npl_exit_checked=True
            ),
        )


# -- restore and events -------------------------------------------------------------------------


@pytest.mark.parametrize("stored", [c.value for c in RiskClass])
def test_restore_stored_value_gives_same_class(stored: str) -> None:
    model, machine = _machine(stored)
    assert machine.current_state_value == stored
    assert model.risk_class == stored


@pytest.mark.parametrize(
    "stored",
    [None, "", "pass_", "PASS", "normal", "special mention"],
    ids=["none", "empty", "member_name", "wrong_case", "loan_state_value", "space"],
)
def test_restore_unknown_value_raises_invalid_stored_state(stored: str | None) -> None:
    with pytest.raises(InvalidStoredStateError):
        RiskClassification.restore(SimpleNamespace(risk_class=stored), state_field="risk_class")


@pytest.mark.parametrize(
    ("target", "event"), list(EVENT_NAMES.items()), ids=[str(c) for c in EVENT_NAMES]
)
def test_event_for_class_returns_its_event_name(target: RiskClass, event: str) -> None:
    assert event_for(target) == event


def test_event_for_every_class_is_a_machine_event() -> None:
    _, machine = _machine(P)
    assert {event_for(c) for c in RiskClass} == {e.id for e in machine.events}


@pytest.mark.parametrize("with_reload", [False, True], ids=["straight", "reload_each_step"])
def test_classify_down_then_approved_up_with_or_without_reload_same_classes(
    with_reload: bool,
) -> None:
    steps = [
        (SM, ClassificationFacts(floor=SM, floor_reasons=("dpd_over_grace",))),
        (SS, ClassificationFacts(floor=SS, floor_reasons=("dpd_over_90",))),
        (D, ClassificationFacts(floor=SS)),
        (
            SS,
            ClassificationFacts(
                floor=SS, proposed_by=PROPOSER, approved_by=APPROVER, npl_exit_checked=True
            ),
        ),
        (P, ClassificationFacts(proposed_by=PROPOSER, approved_by=APPROVER, npl_exit_checked=True)),
    ]
    model, machine = _machine(P)
    for wanted, facts in steps:
        if with_reload:
            model, machine = _machine(str(model.risk_class))  # as read back from the DB
        machine.fire(event_for(wanted), facts=facts)
        assert model.risk_class == wanted


# -- behaviour once missing (found by this test, now enforced) ----------------------------------


@pytest.mark.parametrize(("current", "wanted"), _pairs("upgrade"))
def test_classify_upgrade_without_proposer_raises_upgrade_not_approved(
    current: RiskClass, wanted: RiskClass
) -> None:
    model, machine = _machine(current)
    with pytest.raises(UpgradeNotApprovedError):
        machine.fire(event_for(wanted), facts=ClassificationFacts(approved_by=APPROVER))
    assert model.risk_class == current
