"""Collection notices as documents to issue and file (DOMAIN §7, 000 附件二/三): 贷款到期通知书 and
贷款逾期通知书, rendered from `tasks/templates/<kind>.html.j2`. Pure: no DB, web or Prefect library;
the same data always renders the same bytes, so the stored document's hash is reproducible."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from jinja2 import Environment, PackageLoader, StrictUndefined

NOTICE_TITLES = {"maturity_notice": "贷款到期通知书", "overdue_notice": "贷款逾期通知书"}
_NUMBER_PREFIX = {"maturity_notice": "DQ", "overdue_notice": "YQ"}  # 到期 / 逾期

_ENV = Environment(
    loader=PackageLoader("tasks", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Notice:
    """What a notice says; amounts in cents (分)."""

    kind: str  # maturity_notice | overdue_notice
    issued_on: date
    bank_name: str  # the lending branch (贷款人)
    branch_code: str
    borrower_name: str
    customer_no: str
    loan_no: str
    principal_cents: int  # as disbursed
    outstanding_principal_cents: int
    interest_due_cents: int  # interest due by the issue date and unpaid
    disbursement_date: date
    maturity_date: date
    manager_name: str  # 经办客户经理
    extension_deadline: date | None = None  # last day to apply for 展期, if still open
    days_overdue: int = 0

    @property
    def title(self) -> str:
        return NOTICE_TITLES[self.kind]

    @property
    def number(self) -> str:
        """编号: kind, branch, loan and maturity — one notice per loan and maturity date."""
        prefix = _NUMBER_PREFIX[self.kind]
        return f"{prefix}-{self.branch_code}-{self.loan_no}-{self.maturity_date:%Y%m%d}"

    @property
    def filename(self) -> str:
        return f"{self.kind}_{self.loan_no}_{self.maturity_date:%Y%m%d}.html"


def render_notice(notice: Notice) -> str:
    """The notice as a printable HTML page (Chinese; the borrower signs the receipt part)."""
    if notice.kind not in NOTICE_TITLES:
        raise ValueError(f"unknown notice kind {notice.kind!r}")
    return _ENV.get_template(f"{notice.kind}.html.j2").render(n=notice)


def yuan(cents: int) -> str:
    """1234567 → "12,345.67" (元, two decimals)."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{whole:,}.{fraction:02d}"


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")


def _section(n: int) -> str:
    """0 < n < 10000 in capital numerals, inner zeros written once (壹仟零伍)."""
    out, zero = "", False
    for place in range(3, -1, -1):
        digit = n // 10**place % 10
        if digit == 0:
            zero = zero or bool(out)
        else:
            out += ("零" if zero else "") + _DIGITS[digit] + _PLACES[place]
            zero = False
    return out


def rmb_upper(cents: int) -> str:
    """人民币大写 as 《支付结算办法》 writes it: 1200000.00 → 壹佰贰拾万元整; 1005.06 → 壹仟零伍元零陆分."""
    if cents < 0:
        return "负" + rmb_upper(-cents)
    whole, fraction = divmod(cents, 100)
    jiao, fen = divmod(fraction, 10)
    groups: list[int] = []
    rest = whole
    while rest:
        rest, group = divmod(rest, 10000)
        groups.append(group)
    if len(groups) > len(_SECTIONS):
        raise ValueError(f"amount too large to write out: {cents} cents")
    text, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = gap or bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text, gap = text + _section(group) + _SECTIONS[index], False
    if not text and not fraction:
        return "零元整"
    if text:
        text += "元"
    if not fraction:
        return text + "整"  # 到"元"为止的，在"元"之后写"整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif text:
        text += "零"
    return text + (_DIGITS[fen] + "分" if fen else "")


_ENV.filters["yuan"] = yuan
_ENV.filters["rmb_upper"] = rmb_upper


def cn_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


_ENV.filters["cn_date"] = cn_date
