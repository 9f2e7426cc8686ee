"""StrictMachine.fire_on: a machine built once per thread and lent to one model at a time must
behave exactly like `restore(model).fire(…)` — the lent model's state read and written, a
refusal leaving it untouched, a final state not stopping the next use, a stored state checked,
a fire inside a fire and another thread each getting a machine of their own."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from core.errors import TransitionNotAllowedError
from statemachines.base import InvalidStoredStateError, _idle_machines
from statemachines.human_task import HumanTaskLifecycle, TaskFacts, TaskPermissionError

ASSIGNEE = TaskFacts(actor="u:a", is_candidate=True, is_assignee=True)
STRANGER = TaskFacts(actor="u:b")


def test_fire_on_moves_each_model_it_is_lent_and_no_other():
    first, second = SimpleNamespace(state="open"), SimpleNamespace(state="open")
    HumanTaskLifecycle.fire_on(first, "claim", facts=ASSIGNEE)
    assert (first.state, second.state) == ("claimed", "open")
    HumanTaskLifecycle.fire_on(second, "claim", facts=ASSIGNEE)
    HumanTaskLifecycle.fire_on(first, "complete", facts=ASSIGNEE)
    assert (first.state, second.state) == ("completed", "claimed")


def test_fire_on_after_a_final_state_still_fires_the_next_model():
    """A final state stops python-statemachine's engine; the reused machine gets a new one."""
    for _ in range(3):
        task = SimpleNamespace(state="open")
        HumanTaskLifecycle.fire_on(task, "claim", facts=ASSIGNEE)
        HumanTaskLifecycle.fire_on(task, "complete", facts=ASSIGNEE)
        assert task.state == "completed"
    assert len(_idle_machines(HumanTaskLifecycle, "state")) == 1  # one machine did all of it


@pytest.mark.parametrize(
    ("state", "event", "facts", "error"),
    [
        ("completed", "claim", ASSIGNEE, TransitionNotAllowedError),
        ("open", "complete", ASSIGNEE, TransitionNotAllowedError),
        ("open", "claim", STRANGER, TaskPermissionError),
        ("claimed", "release", STRANGER, TaskPermissionError),
        ("nonsense", "claim", ASSIGNEE, InvalidStoredStateError),
    ],
)
def test_fire_on_refuses_as_restore_does_and_leaves_the_model(state, event, facts, error):
    for fire in (
        lambda m: HumanTaskLifecycle.restore(m).fire(event, facts=facts),
        lambda m: HumanTaskLifecycle.fire_on(m, event, facts=facts),
    ):
        model = SimpleNamespace(state=state)
        with pytest.raises(error):
            fire(model)
        assert model.state == state
    ok = SimpleNamespace(state="open")  # and the machine is fine afterwards
    HumanTaskLifecycle.fire_on(ok, "claim", facts=ASSIGNEE)
    assert ok.state == "claimed"


def test_fire_on_inside_a_fire_gets_a_machine_of_its_own():
    """The machine in use is not idle: a fire of the same machine class from inside its own
    transition builds a second one (sharing it would queue the event and return nothing)."""
    outer, inner = SimpleNamespace(state="open"), SimpleNamespace(state="open")
    calls: list[str] = []

    class Nested(HumanTaskLifecycle):
        def on_claim(self) -> None:
            calls.append("claim")
            if len(calls) == 1:
                Nested.fire_on(inner, "claim", facts=ASSIGNEE)
                assert inner.state == "claimed"

    Nested.fire_on(outer, "claim", facts=ASSIGNEE)
    assert (outer.state, inner.state) == ("claimed", "claimed")
    assert calls == ["claim", "claim"]
    assert len(_idle_machines(Nested, "state")) == 2


def test_fire_on_in_two_threads_uses_two_machines():
    seen: list[int] = []

    def work() -> None:
        task = SimpleNamespace(state="open")
        HumanTaskLifecycle.fire_on(task, "claim", facts=ASSIGNEE)
        seen.append(id(_idle_machines(HumanTaskLifecycle, "state")[0]))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 2
