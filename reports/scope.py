"""Who reads the bank's reports, over which part of the bank, and for which dates — shared by the
operations report and the portfolio report."""

from __future__ import annotations

from datetime import date

from core.errors import PermissionDeniedError, ValidationError
from core.identity import Role
from tasks.access import Actor

# Who reads reports: those who do or supervise post-loan work, and auditors. Asset disposal takes
# over non-performing loans and is not assessed on the book's figures.
READERS = frozenset(Role) - {Role.asset_disposal}


def report_scope(actor: Actor) -> list[str] | None:
    """The org subtrees the actor's report covers (None: the whole bank, for auditors): a head,
    risk manager, the committee or an administrator their unit's subtree; an account manager
    their own branch (peers' figures included: the branch is assessed as a whole), plus the
    branch of whoever they stand in for today."""
    if not READERS & actor.me.roles:
        raise PermissionDeniedError(
            "报表仅供客户经理、风险经理、负责人、评审委员会、审计和管理员查看 "
            "(reports are for managers, heads, the committee, auditors and admins)"
        )
    return None if actor.read_only else sorted({p.org_path for p in actor.principals})


def check_report_date(on: date, today: date, field: str = "on") -> None:
    """A report is of a day that has happened: after today nothing is known yet."""
    if on > today:
        raise ValidationError(
            f"报表日期 {on} 不能晚于今天 {today} (the report date cannot be after today)",
            errors=[{"field": field, "message": f"不能晚于 {today} (not after {today})"}],
            on=on.isoformat(),
            today=today.isoformat(),
        )
