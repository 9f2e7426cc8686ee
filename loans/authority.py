"""Decision authority (授权): which roles may decide which kind of request, up to what exposure.

One table, read by the loan services (an extension, a class, a write-off is applied only with an
approver who holds the authority) and by the approval chains (whether a level's approval ends the
chain or goes on to the next level). Amounts come from Settings (documented defaults there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from core.errors import InsufficientAuthorityError
from core.identity import Role
from core.settings import Settings, get_settings
from statemachines.enums import RequestKind

UNLIMITED: None = None  # the role decides any amount

# kind → role → limit in cents (None: any amount; 0: may give an opinion, never the last word)
Limits = Mapping[RequestKind, Mapping[Role, int | None]]


def limits(settings: Settings | None = None) -> Limits:
    s = settings or get_settings()
    return {
        # 展期: the branch head within their authority, the committee above it (DOMAIN §6)
        RequestKind.extension: {
            Role.branch_head: s.extension_authority_branch_head_cents,
            Role.department_head: s.extension_authority_department_head_cents,
            Role.credit_committee: UNLIMITED,
        },
        # 五级分类: department/branch head confirm initially, the committee finally (000 第三/四条)
        RequestKind.classification: {
            Role.branch_head: 0,
            Role.department_head: 0,
            Role.credit_committee: UNLIMITED,
        },
        # 核销: the committee only (001)
        RequestKind.write_off: {Role.credit_committee: UNLIMITED},
        # 移交资产处置: the department head
        RequestKind.handover: {Role.department_head: UNLIMITED},
        # 预警处置: department/branch head grade and plan, the committee decides (DOMAIN §6)
        RequestKind.warning: {
            Role.branch_head: 0,
            Role.department_head: 0,
            Role.credit_committee: UNLIMITED,
        },
    }


def covers(
    roles: Iterable[Role], kind: RequestKind, amount_cents: int, settings: Settings | None = None
) -> bool:
    """Whether someone with these roles may take the final decision on `amount_cents`."""
    table = limits(settings)[RequestKind(kind)]
    for role in roles:
        if role not in table:
            continue
        limit = table[role]
        if limit is UNLIMITED or (limit > 0 and amount_cents <= limit):
            return True
    return False


def require_authority(
    roles: Iterable[Role],
    kind: RequestKind,
    amount_cents: int,
    *,
    who: str,
    settings: Settings | None = None,
) -> None:
    """Refuse a final decision by someone whose authority does not cover the amount."""
    roles = list(roles)
    if not covers(roles, kind, amount_cents, settings):
        raise InsufficientAuthorityError(
            f"{who} 无权审批金额 {amount_cents / 100:,.2f} 的{RequestKind(kind).label_zh} "
            f"({who} has no authority to decide a {RequestKind(kind).value} of "
            f"{amount_cents / 100:,.2f})",
            user=who,
            kind=RequestKind(kind),
            amount_cents=amount_cents,
            roles=sorted(str(r) for r in roles),
        )
