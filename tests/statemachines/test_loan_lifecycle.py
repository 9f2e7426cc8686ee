"""LoanLifecycle (DOMAIN §2): a hand-written (state, event, facts) → target-or-error table.

The expected table is written out by hand, never read from the machine, so a change to the
machine's graph or guards makes a test fail; `test_expected_table_*` then forces a new row.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from core.errors import PostloanError, RuleViolationError, TransitionNotAllowedError
from statemachines.base import InvalidStoredStateError, MachineUsageError
from statemachines.enums import LoanState, RiskClass
from statemachines.loan_lifecycle import LoanFacts, LoanLifecycle

S = LoanState
P, SM, SS, D, L = (
    RiskClass.pass_,
    RiskClass.special_mention,
    RiskClass.substandard,
    RiskClass.doubtful,
    RiskClass.loss,
)
REQUESTER = "am-zhang"  # 客户经理
APPROVER = "committee-li"  # 信贷评审委员会

EVENTS = (
    "flag_risk",
    "clear_risk",
    "mark_overdue",
    "cure",
    "approve_extension",
    "classify_npl",
    "hand_over",
    "reinstate",
    "write_off",
    "settle",
    "record_recovery",
)

# Facts that satisfy every guard of the event; refused pairs are fired with these too, so that
# a refusal can only come from the graph, not from a validator.
GOOD: dict[str, LoanFacts] = {
    "flag_risk": LoanFacts(risk_class=SM),
    "clear_risk": LoanFacts(risk_class=P),
    "mark_overdue": LoanFacts(days_past_due=1, outstanding_cents=100_000),
    "cure": LoanFacts(risk_class=P, days_past_due=0, outstanding_cents=100_000),
    "approve_extension": LoanFacts(
        approved_extension=True,
        outstanding_cents=100_000,
        approved_by=APPROVER,
        requested_by=REQUESTER,
    ),
    "classify_npl": LoanFacts(risk_class=SS, days_past_due=91),
    "hand_over": LoanFacts(risk_class=D, approved_by=APPROVER, requested_by=REQUESTER),
    "reinstate": LoanFacts(risk_class=P, approved_by=APPROVER, requested_by=REQUESTER),
    "write_off": LoanFacts(risk_class=L, approved_by=APPROVER, requested_by=REQUESTER),
    "settle": LoanFacts(outstanding_cents=0),
    "record_recovery": LoanFacts(risk_class=L),
}

NO = TransitionNotAllowedError  # the cell's event is refused from the row's state
Cases = list[tuple[LoanFacts | None, LoanState]]  # (facts, or None for GOOD[event]) → target


def to(target: LoanState, facts: LoanFacts | None = None) -> tuple[LoanFacts | None, LoanState]:
    return (facts, target)


CURE_CLASS_PASS = LoanFacts(risk_class=P, days_past_due=0)
CURE_CLASS_SM = LoanFacts(risk_class=SM, days_past_due=0)
REINSTATE_CLASS_PASS = LoanFacts(risk_class=P, approved_by=APPROVER, requested_by=REQUESTER)
REINSTATE_CLASS_SM = LoanFacts(risk_class=SM, approved_by=APPROVER, requested_by=REQUESTER)

# fmt: off
EXPECTED: dict[LoanState, dict[str, type[TransitionNotAllowedError] | Cases]] = {
    S.normal: {
        "flag_risk": [to(S.watched)],
        "clear_risk": NO,
        "mark_overdue": [to(S.overdue)],
        "cure": NO,
        "approve_extension": [to(S.extended)],
        "classify_npl": [to(S.non_performing)],  # contagion (分类办法 第七条)
        "hand_over": NO,
        "reinstate": NO,
        "write_off": NO,
        "settle": [to(S.settled)],
        "record_recovery": NO,
    },
    S.watched: {
        "flag_risk": NO,
        "clear_risk": [to(S.normal)],
        "mark_overdue": [to(S.overdue)],
        "cure": NO,
        "approve_extension": [to(S.extended)],
        "classify_npl": [to(S.non_performing)],
        "hand_over": NO,
        "reinstate": NO,
        "write_off": NO,
        "settle": [to(S.settled)],
        "record_recovery": NO,
    },
    S.overdue: {
        "flag_risk": NO,
        "clear_risk": NO,
        "mark_overdue": NO,
        "cure": [to(S.normal, CURE_CLASS_PASS), to(S.watched, CURE_CLASS_SM)],
        "approve_extension": NO,
        "classify_npl": [to(S.non_performing)],
        "hand_over": NO,
        "reinstate": NO,
        "write_off": NO,
        "settle": [to(S.settled)],
        "record_recovery": NO,
    },
    S.extended: {
        "flag_risk": NO,
        "clear_risk": NO,
        "mark_overdue": [to(S.overdue)],
        "cure": NO,
        "approve_extension": NO,
        "classify_npl": [to(S.non_performing)],
        "hand_over": NO,
        "reinstate": NO,
        "write_off": NO,
        "settle": [to(S.settled)],
        "record_recovery": NO,
    },
    S.non_performing: {
        "flag_risk": NO,
        "clear_risk": NO,
        "mark_overdue": NO,
        "cure": NO,
        "approve_extension": NO,
        "classify_npl": NO,
        "hand_over": [to(S.non_performing)],
        "reinstate": [to(S.normal, REINSTATE_CLASS_PASS), to(S.watched, REINSTATE_CLASS_SM)],
        "write_off": [to(S.written_off)],
        "settle": [to(S.settled)],
        "record_recovery": NO,
    },
    S.written_off: {
        "flag_risk": NO,
        "clear_risk": NO,
        "mark_overdue": NO,
        "cure": NO,
        "approve_extension": NO,
        "classify_npl": NO,
        "hand_over": NO,
        "reinstate": NO,
        "write_off": NO,
        "settle": NO,
        "record_recovery": [to(S.written_off)],
    },
    S.settled: {event: NO for event in EVENTS},
}
# fmt: on

# Allowed pairs without any guard; every other allowed pair has a validator and a violation row.
UNGUARDED = {(S.normal, "flag_risk"), (S.written_off, "record_recovery")}


def _allowed_cases() -> list[Any]:
    cases = []
    for state, row in EXPECTED.items():
        for event, outcome in row.items():
            if outcome is NO:
                continue
            assert isinstance(outcome, list)
            for facts, target in outcome:
                cases.append(
                    pytest.param(
                        state,
                        event,
                        facts or GOOD[event],
                        target,
                        id=f"{state}-{event}-to-{target}",
                    )
                )
    return cases


def _refused_cases() -> list[Any]:
    return [
        pytest.param(state, event, id=f"{state}-{event}")
        for state, row in EXPECTED.items()
        for event, outcome in row.items()
        if outcome is NO
    ]


def _allowed_pairs() -> set[tuple[str, str]]:
    return {(str(s), e) for s, row in EXPECTED.items() for e, out in row.items() if out is not NO}


def _machine(state: str | None) -> tuple[SimpleNamespace, LoanLifecycle]:
    model = SimpleNamespace(state=state)
    machine = LoanLifecycle.restore(model)
    assert isinstance(machine, LoanLifecycle)
    return model, machine


# (state, event, facts, fragment of the error message saying why)
VIOLATIONS = [
    # clear_risk: the class must be 正常 again
    pytest.param(
        S.watched,
        "clear_risk",
        LoanFacts(risk_class=SM),
        "贷款仍为关注类，须先调为正常类",
        id="watched-clear_risk-class_special_mention",
    ),
    pytest.param(
        S.watched,
        "clear_risk",
        LoanFacts(risk_class=SS),
        "贷款仍为次级类，须先调为正常类",
        id="watched-clear_risk-class_substandard",
    ),
    # mark_overdue: something must actually be past due
    *[
        pytest.param(
            state,
            "mark_overdue",
            LoanFacts(days_past_due=0),
            "no installment is past due",
            id=f"{state}-mark_overdue-dpd_0",
        )
        for state in (S.normal, S.watched, S.extended)
    ],
    # cure: arrears fully paid (both branches)
    pytest.param(
        S.overdue,
        "cure",
        LoanFacts(risk_class=P, days_past_due=5),
        "逾期未清偿：已逾期 5 天",
        id="overdue-cure-class_pass-dpd_5",
    ),
    pytest.param(
        S.overdue,
        "cure",
        LoanFacts(risk_class=SM, days_past_due=1),
        "逾期未清偿：已逾期 1 天",
        id="overdue-cure-class_sm-dpd_1",
    ),
    # approve_extension: an approved 展期 request must exist
    *[
        pytest.param(
            state,
            "approve_extension",
            LoanFacts(approved_extension=False),
            "no approved extension request",
            id=f"{state}-approve_extension-not_approved",
        )
        for state in (S.normal, S.watched)
    ],
    # classify_npl: only 次级/可疑/损失
    *[
        pytest.param(
            state,
            "classify_npl",
            LoanFacts(risk_class=cls),
            f"{cls.label_zh}类不属于不良",
            id=f"{state}-classify_npl-class_{cls}",
        )
        for state in (S.normal, S.watched, S.overdue, S.extended)
        for cls in (P, SM)
    ],
    # hand_over: approved by someone other than the requester
    pytest.param(
        S.non_performing,
        "hand_over",
        LoanFacts(risk_class=D, requested_by=REQUESTER),
        "needs an approver",
        id="non_performing-hand_over-no_approver",
    ),
    pytest.param(
        S.non_performing,
        "hand_over",
        LoanFacts(risk_class=D, approved_by=REQUESTER, requested_by=REQUESTER),
        "four eyes",
        id="non_performing-hand_over-self_approved",
    ),
    # reinstate: arrears cleared, class upgraded out of 不良 first, approved (four eyes)
    pytest.param(
        S.non_performing,
        "reinstate",
        LoanFacts(risk_class=P, days_past_due=3, approved_by=APPROVER, requested_by=REQUESTER),
        "arrears are not cleared",
        id="non_performing-reinstate-arrears",
    ),
    *[
        pytest.param(
            S.non_performing,
            "reinstate",
            LoanFacts(risk_class=cls, approved_by=APPROVER, requested_by=REQUESTER),
            f"分类仍为{cls.label_zh}类",
            id=f"non_performing-reinstate-class_{cls}",
        )
        for cls in (SS, D, L)
    ],
    pytest.param(
        S.non_performing,
        "reinstate",
        LoanFacts(risk_class=P, requested_by=REQUESTER),
        "needs an approver",
        id="non_performing-reinstate-no_approver",
    ),
    pytest.param(
        S.non_performing,
        "reinstate",
        LoanFacts(risk_class=P, approved_by=REQUESTER, requested_by=REQUESTER),
        "four eyes",
        id="non_performing-reinstate-self_approved",
    ),
    # write_off: only 损失, committee approval, four eyes
    *[
        pytest.param(
            S.non_performing,
            "write_off",
            LoanFacts(risk_class=cls, approved_by=APPROVER, requested_by=REQUESTER),
            f"核销须为损失类，贷款为{cls.label_zh}类",
            id=f"non_performing-write_off-class_{cls}",
        )
        for cls in (P, SM, SS, D)
    ],
    pytest.param(
        S.non_performing,
        "write_off",
        LoanFacts(risk_class=L, requested_by=REQUESTER),
        "needs an approver",
        id="non_performing-write_off-no_approver",
    ),
    pytest.param(
        S.non_performing,
        "write_off",
        LoanFacts(risk_class=L, approved_by=REQUESTER, requested_by=REQUESTER),
        "four eyes",
        id="non_performing-write_off-self_approved",
    ),
    # settle: nothing may be outstanding
    *[
        pytest.param(
            state,
            "settle",
            LoanFacts(outstanding_cents=12_345),
            "123.45 is still outstanding",
            id=f"{state}-settle-outstanding",
        )
        for state in (S.normal, S.watched, S.overdue, S.extended, S.non_performing)
    ],
]


# -- the table itself ---------------------------------------------------------------------------


def test_expected_table_every_state_and_event_has_a_cell() -> None:
    assert set(EXPECTED) == set(LoanState)
    _, machine = _machine(S.normal)
    assert {e.id for e in machine.events} == set(EVENTS)
    for state, row in EXPECTED.items():
        assert set(row) == set(EVENTS), state


def test_expected_table_allowed_pairs_match_transition_table_exactly() -> None:
    expected: dict[tuple[str, str], set[str]] = {}
    for state, row in EXPECTED.items():
        for event, outcome in row.items():
            if outcome is not NO:
                assert isinstance(outcome, list)
                expected[(str(state), event)] = {str(target) for _, target in outcome}
    assert LoanLifecycle.transition_table() == expected


def test_violation_table_every_guarded_pair_has_a_violation_case() -> None:
    violated = {(str(p.values[0]), str(p.values[1])) for p in VIOLATIONS}
    unguarded = {(str(s), e) for s, e in UNGUARDED}
    assert violated == _allowed_pairs() - unguarded


# -- firing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "event", "facts", "target"), _allowed_cases())
def test_fire_allowed_pair_with_good_facts_moves_to_target(
    state: LoanState, event: str, facts: LoanFacts, target: LoanState
) -> None:
    model, machine = _machine(state)
    machine.fire(event, facts=facts)
    assert machine.current_state_value == target
    assert model.state == target


@pytest.mark.parametrize(("state", "event"), _refused_cases())
def test_fire_refused_pair_raises_transition_not_allowed_and_keeps_state(
    state: LoanState, event: str
) -> None:
    model, machine = _machine(state)
    with pytest.raises(TransitionNotAllowedError) as err:
        machine.fire(event, facts=GOOD[event])
    assert err.value.context == {"event": event, "state": str(state)}
    assert model.state == state
    assert machine.current_state_value == state


@pytest.mark.parametrize(("state", "event", "facts", "why"), VIOLATIONS)
def test_fire_guard_violated_raises_rule_violation_and_keeps_state(
    state: LoanState, event: str, facts: LoanFacts, why: str
) -> None:
    model, machine = _machine(state)
    with pytest.raises(RuleViolationError) as err:
        machine.fire(event, facts=facts)
    assert why in str(err.value)
    assert model.state == state
    assert machine.current_state_value == state


@pytest.mark.parametrize(
    ("state", "event"), sorted(UNGUARDED), ids=[f"{s}-{e}" for s, e in sorted(UNGUARDED)]
)
def test_fire_unguarded_event_without_facts_refused_state_kept(
    state: LoanState, event: str
) -> None:
    """Even events with no validator need facts: the service always gathers them first."""
    model, machine = _machine(state)
    with pytest.raises(MachineUsageError, match="needs facts=LoanFacts"):
        machine.fire(event)
    assert model.state == state


@pytest.mark.parametrize("event", EVENTS)
def test_fire_from_written_off_only_record_recovery_allowed(event: str) -> None:
    model, machine = _machine(S.written_off)
    if event == "record_recovery":
        machine.fire(event, facts=GOOD[event])
    else:
        with pytest.raises(TransitionNotAllowedError):
            machine.fire(event, facts=GOOD[event])
    assert model.state == S.written_off


@pytest.mark.parametrize("event", EVENTS)
def test_fire_from_settled_any_event_raises_transition_not_allowed(event: str) -> None:
    model, machine = _machine(S.settled)
    with pytest.raises(TransitionNotAllowedError):
        machine.fire(event, facts=GOOD[event])
    assert model.state == S.settled


@pytest.mark.parametrize(
    "event",
    ["nope", "", "classify_loss", "Settle", "cure "],
    ids=["unknown", "empty", "other_machines_event", "wrong_case", "trailing_space"],
)
def test_fire_unknown_event_raises_transition_not_allowed_and_keeps_state(event: str) -> None:
    model, machine = _machine(S.overdue)
    with pytest.raises(TransitionNotAllowedError, match="has no event"):
        machine.fire(event, facts=LoanFacts())
    assert model.state == S.overdue


@pytest.mark.parametrize("with_reload", [False, True], ids=["straight", "reload_each_step"])
def test_fire_npl_path_to_recovery_with_or_without_reload_same_states(with_reload: bool) -> None:
    path = [
        ("flag_risk", S.watched),
        ("mark_overdue", S.overdue),
        ("classify_npl", S.non_performing),
        ("hand_over", S.non_performing),
        ("write_off", S.written_off),
        ("record_recovery", S.written_off),
    ]
    model, machine = _machine(S.normal)
    for event, target in path:
        if with_reload:
            model, machine = _machine(str(model.state))  # as read back from the DB
        machine.fire(event, facts=GOOD[event])
        assert model.state == target, event


# -- restore ------------------------------------------------------------------------------------


@pytest.mark.parametrize("stored", [s.value for s in LoanState])
def test_restore_stored_value_gives_same_state(stored: str) -> None:
    model, machine = _machine(stored)
    assert machine.current_state_value == stored
    assert model.state == stored


@pytest.mark.parametrize("stored", list(LoanState), ids=[s.value for s in LoanState])
def test_restore_stored_enum_gives_same_state(stored: LoanState) -> None:
    _, machine = _machine(stored)
    assert machine.current_state_value == stored


@pytest.mark.parametrize(
    "stored",
    [None, "", "bogus", "NORMAL", "written off", "pass"],
    ids=["none", "empty", "bogus", "wrong_case", "space", "risk_class_value"],
)
def test_restore_unknown_value_raises_invalid_stored_state(stored: str | None) -> None:
    with pytest.raises(InvalidStoredStateError):
        LoanLifecycle.restore(SimpleNamespace(state=stored))


# -- behaviours once missing (found by these tests, now enforced) --------------------------------


@pytest.mark.parametrize("cls", [SS, D, L], ids=[str(c) for c in (SS, D, L)])
def test_cure_class_npl_raises_rule_violation(cls: RiskClass) -> None:
    model, machine = _machine(S.overdue)
    with pytest.raises(RuleViolationError):
        machine.fire("cure", facts=LoanFacts(risk_class=cls, days_past_due=0))
    assert model.state == S.overdue


@pytest.mark.parametrize(
    ("event", "risk_class"),
    [("write_off", L), ("hand_over", D), ("reinstate", P)],
    ids=["write_off", "hand_over", "reinstate"],
)
def test_fire_approved_event_without_requester_raises_rule_violation(
    event: str, risk_class: RiskClass
) -> None:
    model, machine = _machine(S.non_performing)
    with pytest.raises(RuleViolationError):
        machine.fire(event, facts=LoanFacts(risk_class=risk_class, approved_by=APPROVER))
    assert model.state == S.non_performing


def test_fire_guarded_event_without_facts_raises_domain_error() -> None:
    model, machine = _machine(S.normal)
    with pytest.raises(PostloanError):
        machine.fire("settle")
    assert model.state == S.normal
