"""Strict machine base: illegal events raise, stored states are validated on load, and the
transition table can be read as data (for replay and for set-based batch updates)."""

from __future__ import annotations

from typing import Any, ClassVar

from statemachine import StateMachine
from statemachine.exceptions import TransitionNotAllowed

from core.errors import PostloanError, TransitionNotAllowedError


class InvalidStoredStateError(PostloanError):
    code = "invalid_stored_state"


class MachineUsageError(PostloanError):
    """A programming error: an event fired without the facts its guards read."""

    code = "machine_usage"


class StrictMachine(StateMachine):
    """Subclass of `StateMachine` (not `StateChart`): action errors reach the caller."""

    allow_event_without_transition = False
    facts_type: ClassVar[type | None] = None  # every event must carry `facts` of this type

    @classmethod
    def state_values(cls) -> set[str]:
        return {str(s.value) for s in cls.states}

    @classmethod
    def restore(cls, model: Any, state_field: str = "state", **kwargs: Any) -> StrictMachine:
        """Bind a machine to a model whose state came from the DB, refusing unknown values."""
        value = getattr(model, state_field)
        if value is None or str(value) not in cls.state_values():
            raise InvalidStoredStateError(
                f"{cls.__name__} 存储的状态 {value!r} 无效 "
                f"({cls.__name__}: stored state {value!r} is not one of {sorted(cls.state_values())})",
                machine=cls.__name__,
                value=value,
            )
        return cls(model=model, state_field=state_field, **kwargs)

    def fire(self, event: str, **kwargs: Any) -> Any:
        """Send `event`; an event not allowed from the current state raises a domain error."""
        if self.facts_type is not None and not isinstance(kwargs.get("facts"), self.facts_type):
            raise MachineUsageError(
                f"缺少业务事实：{type(self).__name__}.fire({event!r}) "
                f"({type(self).__name__}.fire({event!r}) needs facts={self.facts_type.__name__}(…))",
                event=event,
            )
        if event not in {e.id for e in self.events}:
            raise TransitionNotAllowedError(
                f"{type(self).__name__} 没有事件 {event!r} ({type(self).__name__} has no event {event!r})",
                event=event,
            )
        try:
            return self.send(event, **kwargs)
        except TransitionNotAllowed as exc:
            raise TransitionNotAllowedError(
                f"当前状态 {str(self.current_state_value)!r} 下不能执行 {event!r} "
                f"({event!r} is not allowed when {type(self).__name__} is in "
                f"{str(self.current_state_value)!r})",
                event=event,
                state=str(self.current_state_value),
            ) from exc

    @classmethod
    def transition_table(cls) -> dict[tuple[str, str], set[str]]:
        """(source value, event) → possible target values, read from the class definition."""
        table: dict[tuple[str, str], set[str]] = {}
        for state in cls.states:
            for transition in state.transitions:
                for event in transition.events:
                    key = (str(state.value), str(event))
                    table.setdefault(key, set()).add(str(transition.target.value))
        return table

    @classmethod
    def sources_of(cls, event: str) -> set[str]:
        return {src for (src, ev) in cls.transition_table() if ev == event}
