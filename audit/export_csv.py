"""The journal as CSV (one row per entry of a loan case), for Excel: UTF-8 with a byte-order mark
(Excel on a Chinese Windows otherwise reads GBK), headers Chinese first, times in UTC ISO 8601."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from audit.event_log import ExportStats, LoanCase

BOM = "\ufeff"
HEADER = (
    "贷款编号 loan_no", "日志序号 journal_id", "对象类型 aggregate", "对象编号 aggregate_id",
    "链序号 chain_seq", "状态机 machine", "事件 event", "原状态 from", "新状态 to",
    "业务日期 business_date", "记录时间(UTC) wall_time", "操作人 actor", "代理 on_behalf_of",
    "理由 reason", "表单 form_kind", "哈希 hash",
)  # fmt: skip
# A cell Excel would run as a formula (CSV injection, OWASP): shown as text with a leading "'".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunks(cases: Iterable[LoanCase], stats: ExportStats) -> Iterator[str]:
    """The file in pieces (one per loan case): streamed to a response or written to a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    yield BOM + buffer.getvalue()
    for case in cases:
        buffer.seek(0)
        buffer.truncate()
        stats.cases += 1
        stats.objects += len(case.objects)
        for e in case.events:
            stats.events += 1
            writer.writerow(
                [
                    _cell(case.loan_no), e.id, e.aggregate_type, _cell(e.aggregate_id),
                    e.chain_seq, e.machine, e.event, e.from_state or "", e.to_state or "",
                    e.business_date.isoformat(), e.wall_time.isoformat(), _cell(e.actor),
                    _cell(e.on_behalf_of), _cell(e.reason), e.form_kind or "", e.hash,
                ]
            )  # fmt: skip
        yield buffer.getvalue()
