"""The portfolio report as a download: one table per figure, bilingual headers, amounts in yuan
(two decimals), rates in percent. CSV (UTF-8 with a BOM, so spreadsheet programs read Chinese)
and Excel (one sheet per figure, numbers as numbers). Imports no web or Prefect library."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from openpyxl import Workbook

from reports.book_on import Cell
from reports.portfolio import PortfolioReport
from statemachines.enums import LoanState, RiskClass

Row = list[object]


def label(value: str) -> str:
    """A class or an off-book state, Chinese then English."""
    if value in RiskClass._value2member_map_:
        return f"{RiskClass(value).label_zh} {value}"
    return f"{LoanState(value).label_zh} {value}"


def _yuan(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def _pct(value: Decimal | None) -> Decimal | str:
    return "" if value is None else (value * 100).quantize(Decimal("0.01"))


def sections(r: PortfolioReport) -> Iterator[tuple[str, list[Row]]]:
    """(sheet title, rows with the header first) for each figure."""
    yield "五级分类 five tiers", [
        ["分类 class", "笔数 count", "余额(元) balance", "笔数占比% count share",
         "余额占比% balance share"],
        *([label(t.risk_class), t.count, _yuan(t.balance_cents), _pct(t.count_share),
           _pct(t.balance_share)] for t in r.tiers),
        ["合计 total", r.total.count, _yuan(r.total.balance_cents), "", ""],
        ["不良 NPL", r.npl.count, _yuan(r.npl.balance_cents), _pct(r.npl_count_ratio),
         _pct(r.npl_ratio)],
    ]  # fmt: skip
    yield "逾期矩阵 overdue matrix", [
        ["逾期档 bucket", *(f"{p} 笔数 count" for p in r.products),
         *(f"{p} 余额(元) balance" for p in r.products), "合计笔数 total count",
         "合计余额(元) total balance"],
        *([b, *(r.overdue[b].get(p, _ZERO).count for p in r.products),
           *(_yuan(r.overdue[b].get(p, _ZERO).balance_cents) for p in r.products),
           r.overdue_total[b].count, _yuan(r.overdue_total[b].balance_cents)] for b in r.buckets),
    ]  # fmt: skip
    yield "迁徙率 roll rates", [
        ["期初 start", "期末 end", "从 from", "至 to (或更差 or worse)", "期初笔数 count",
         "期初余额(元) balance", "迁徙笔数 rolled", "迁徙余额(元) rolled balance",
         "笔数迁徙率% count rate", "余额迁徙率% balance rate"],
        *([p.start.isoformat(), p.end.isoformat(), c.bucket, c.next_bucket, c.count,
           _yuan(c.balance_cents), c.rolled_count, _yuan(c.rolled_balance_cents),
           _pct(c.count_rate), _pct(c.balance_rate)] for p in r.roll for c in p.cells),
    ]  # fmt: skip
    yield "坏账预估 expected bad debt", [
        ["逾期档 bucket", "余额(元) Mi", "成为坏账 bad", "已回收 cured", "未结 unresolved",
         "Pi%", "Pi 来源 source", "预估坏账(元) Mi·Pi"],
        *([b.bucket, _yuan(b.balance_cents), b.bad, b.cured, b.unresolved, _pct(b.rate),
           "历史 history" if b.from_history else "配置 configured", _yuan(b.expected_cents)]
          for b in r.bad_debt),
        ["合计 M", "", "", "", "", "", "", _yuan(r.expected_bad_debt_cents)],
    ]  # fmt: skip
    yield "分类迁徙 migration", [
        [f"{r.since.isoformat()} → {r.on.isoformat()}", *(label(c) for c in r.migration_columns),
         "合计 total", "下迁余额(元) downgraded", "下迁率% downgrade rate"],
        *([label(m.from_class), *(m.cells[c].count for c in r.migration_columns), m.total.count,
           _yuan(m.downgraded.balance_cents), _pct(m.downgrade_rate)] for m in r.migration),
    ]  # fmt: skip


_ZERO = Cell()  # an empty cell of the matrix (read, never added to)


def _title(r: PortfolioReport) -> Row:
    return ["资产质量报表 portfolio report", "报表日期 report date", r.on.isoformat()]


def report_csv(r: PortfolioReport) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow(_title(r))
    for title, rows in sections(r):
        w.writerow([])
        w.writerow([title])
        w.writerows(rows)
    return out.getvalue()


def report_xlsx(r: PortfolioReport) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for title, rows in sections(r):
        sheet = book.create_sheet(title[:31])  # Excel's limit on a sheet's name
        sheet.append(_title(r))
        for row in rows:
            sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
