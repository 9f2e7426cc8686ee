"""Collection KPIs (DOMAIN §8, 003) per branch and account manager, for a period up to D: volume,
contact rate = connected / attempts, promise rate = promises / effective contacts, kept rate =
kept / settled promises. From the recorded contacts (completed collection_contact tasks: the
validated form, set once) by registration date, and the promises with the date they were settled
on — so a figure for a past D does not move when later work is done. Imports no web or Prefect
library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from cases.models import CollectionPromise
from core.identity import OrgUnit, User
from core.settings import Settings, get_settings
from forms.collection import Channel, ContactOutcome
from reports.inspections import day_start_utc, first_candidate, in_scope, rate
from statemachines.enums import TaskState
from tasks.models import HumanTask

CONTACT_KIND = "collection_contact"


@dataclass
class CollectionRow:
    """One branch (manager None: the branch's total) or one account manager in it."""

    branch: str
    branch_name: str
    manager: str | None
    manager_name: str | None
    contacts: int = 0  # 催收量: contacts recorded, every channel
    calls: int = 0  # of them by phone
    connected: int = 0  # the person was reached (有效联系)
    promises: int = 0  # contacts ending in a promise to pay
    promises_due: int = 0  # promises falling due in the period (by D)
    kept: int = 0  # of those, settled as kept by D
    broken: int = 0  # settled as broken by D; the rest are not settled yet
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def contact_rate(self) -> Decimal | None:
        return rate(self.connected, self.contacts)

    @property
    def promise_rate(self) -> Decimal | None:
        return rate(self.promises, self.connected)

    @property
    def kept_rate(self) -> Decimal | None:
        return rate(self.kept, self.kept + self.broken)


_ADDITIVE = ("contacts", "calls", "connected", "promises", "promises_due", "kept", "broken")


def collection_kpis(
    session: Session,
    *,
    on: date,
    start: date,
    org_paths: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> list[CollectionRow]:
    """Each branch's total row first, then its account managers. A contact counts for the manager
    the contact task was opened for (the case's account manager), else for who recorded it."""
    settings = settings or get_settings()
    manager = sa.func.coalesce(
        first_candidate(), col(HumanTask.on_behalf_of_id), col(HumanTask.completed_by_id)
    )
    recorded = (
        col(HumanTask.kind) == CONTACT_KIND,
        col(HumanTask.state) == TaskState.completed.value,
        in_scope(col(HumanTask.branch_path), org_paths),
        col(HumanTask.completed_at) < day_start_utc(on + timedelta(days=1), settings),
    )
    people = (
        sa.select(col(OrgUnit.code), col(OrgUnit.name), col(User.username), col(User.full_name))
        .select_from(HumanTask)
        .join(OrgUnit, col(OrgUnit.path) == col(HumanTask.branch_path))
        .outerjoin(User, col(User.id) == manager)
    )
    rows: dict[tuple[str, str], CollectionRow] = {}

    def row_of(code: str, name: str, username: str | None, full: str | None) -> CollectionRow:
        key = (code, username or "")
        if key not in rows:
            rows[key] = CollectionRow(code, name, username or "", full)
        return rows[key]

    contacts = session.connection().execute(
        people.add_columns(col(HumanTask.result)).where(
            *recorded, col(HumanTask.completed_at) >= day_start_utc(start, settings)
        )
    )
    for code, name, username, full, result in contacts:
        _count_contact(row_of(code, name, username, full), result or {})
    promises = session.connection().execute(
        people.add_columns(col(CollectionPromise.state), col(CollectionPromise.checked_on))
        .join(CollectionPromise, col(CollectionPromise.task_id) == col(HumanTask.id))
        .where(*recorded, col(CollectionPromise.promised_for).between(start, on))
    )
    for code, name, username, full, state, checked_on in promises:
        r = row_of(code, name, username, full)
        r.promises_due += 1
        settled = checked_on is not None and checked_on <= on
        r.kept += int(settled and state == "kept")
        r.broken += int(settled and state == "broken")
    return _with_totals(list(rows.values()))


def _count_contact(row: CollectionRow, result: dict[str, Any]) -> None:
    channel = str(result.get("channel") or "")
    row.contacts += 1
    row.calls += int(channel == Channel.phone.value)
    row.connected += int(result.get("reached") is True)
    row.promises += int(result.get("outcome") == ContactOutcome.promise_to_pay.value)
    row.by_channel[channel] = row.by_channel.get(channel, 0) + 1


def _with_totals(rows: list[CollectionRow]) -> list[CollectionRow]:
    out: list[CollectionRow] = []
    for code in sorted({r.branch for r in rows}):
        people = sorted((r for r in rows if r.branch == code), key=lambda r: r.manager or "")
        total = CollectionRow(code, people[0].branch_name, None, None)
        for r in people:
            for name in _ADDITIVE:
                setattr(total, name, getattr(total, name) + getattr(r, name))
            for channel, n in r.by_channel.items():
                total.by_channel[channel] = total.by_channel.get(channel, 0) + n
        out += [total, *people]
    return out
