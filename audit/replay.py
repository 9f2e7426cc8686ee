"""Replay: rebuild an aggregate's machine states on any business date by folding its journal
through the machines' own transition tables (an entry the machine could not have made is a finding)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session

from audit.journal import JournalEntry, chain
from statemachines.approval_request import ApprovalRequestMachine
from statemachines.base import StrictMachine
from statemachines.loan_lifecycle import LoanLifecycle
from statemachines.risk_classification import RiskClassification
from statemachines.warning_case import WarningCaseLifecycle

OPEN_EVENT = "open"  # the first entry of each machine: from nothing to the opening state

MACHINES: dict[str, type[StrictMachine]] = {
    "loan_lifecycle": LoanLifecycle,
    "risk_classification": RiskClassification,
    "approval_request": ApprovalRequestMachine,  # aggregate "approval"
    "warning_case": WarningCaseLifecycle,  # aggregate "warning"
}


@dataclass
class ReplayResult:
    aggregate_type: str
    aggregate_id: str
    as_of: date | None
    states: dict[str, str] = field(default_factory=dict)  # machine → state on `as_of`
    applied: list[JournalEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def last_entry(self) -> JournalEntry | None:
        return self.applied[-1] if self.applied else None


def fold(
    entries: list[JournalEntry],
    machines: dict[str, type[StrictMachine]] = MACHINES,
) -> tuple[dict[str, str], list[str]]:
    """Fold entries (in chain order) into machine states, checking each against the machine."""
    states: dict[str, str] = {}
    problems: list[str] = []
    tables = {name: cls.transition_table() for name, cls in machines.items()}
    for entry in entries:
        label = f"entry #{entry.chain_seq} ({entry.event} on {entry.business_date})"
        if entry.machine not in tables:
            continue  # an entry about something else of the aggregate (e.g. a recorded document)
        current = states.get(entry.machine)
        if entry.event == OPEN_EVENT:
            if current is not None:
                problems.append(f"{label}: {entry.machine} opened twice")
            if entry.to_state not in machines[entry.machine].state_values():
                problems.append(f"{label}: unknown opening state {entry.to_state!r}")
        elif current is None:
            problems.append(f"{label}: {entry.machine} moved before it was opened")
        elif entry.from_state != current:
            problems.append(
                f"{label}: recorded from {entry.from_state!r} but the replayed "
                f"{entry.machine} state is {current!r}"
            )
        elif entry.to_state not in tables[entry.machine].get((current, entry.event), set()):
            problems.append(
                f"{label}: {entry.machine} does not allow {entry.event!r} from "
                f"{current!r} to {entry.to_state!r}"
            )
        if entry.to_state is not None:
            states[entry.machine] = entry.to_state
    return states, problems


def replay(
    session: Session, aggregate_type: str, aggregate_id: str, as_of: date | None = None
) -> ReplayResult:
    entries = chain(session, aggregate_type, aggregate_id, as_of=as_of)
    states, problems = fold(entries)
    return ReplayResult(aggregate_type, aggregate_id, as_of, states, entries, problems)
