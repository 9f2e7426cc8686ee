"""Reading CSV rows for the importers: line-numbered records, cell parsers that never use floats,
and chunked IN lookups. Imports no web or Prefect library."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlmodel import Session, col

from loans.schedule import MAX_ANNUAL_RATE

IN_CHUNK = 1000  # keys per IN (...) list: well under SQLite's and Postgres' bind-parameter limits
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CENT, _RATE_STEP = Decimal("0.01"), Decimal("0.000001")  # loans.annual_rate is NUMERIC(9, 6)
_FLAGS = {
    "yes": True,
    "true": True,
    "1": True,
    "是": True,
    "no": False,
    "false": False,
    "0": False,
    "否": False,
}
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


@dataclass
class LineError:
    line: int  # 1 is the header, so the first data row is line 2
    column: str | None
    message: str


Rows = Iterable[Mapping[str, str | None]] | io.TextIOBase  # dicts, or CSV text with a header


def read_records(
    rows: Rows,
    errors: list[LineError],
) -> tuple[list[str] | None, list[tuple[int, dict[str, str | None]]]]:
    """The header (None when no dict rows came) and (line, cells) pairs, names normalized."""
    if isinstance(rows, io.TextIOBase):  # an open text file or io.StringIO
        reader = csv.DictReader(rows)
        header: list[str] | None = [(n or "").strip().lower() for n in reader.fieldnames or ()]
        if not header:
            errors.append(
                LineError(1, None, "空文件：须有表头行 (empty file: a header row is required)")
            )
        reader.fieldnames = header
        records = list(enumerate(reader, start=2))  # spreadsheet row numbers
        for line, row in records:
            if row.pop(None, None) is not None:  # DictReader files surplus cells under None
                errors.append(
                    LineError(line, None, "单元格多于表头列数 (more cells than the header has)")
                )
    else:
        records = [
            (line, {str(k).strip().lower(): v for k, v in row.items()})
            for line, row in enumerate(rows, start=2)
        ]
        header = list(records[0][1]) if records else None
    errors += [
        LineError(1, c, "列重复 (column appears twice)")
        for c in sorted({c for c in header or () if (header or []).count(c) > 1})
    ]
    return header, records


class CellError(ValueError):
    """A cell that does not parse; the message becomes its LineError."""


def parse_number(raw: str) -> Decimal:
    if not _NUMBER.fullmatch(raw):
        raise CellError(f"不是数字：{raw!r} (not a number: {raw!r})")
    return Decimal(raw)


def parse_cents(raw: str, *, zero_ok: bool = False) -> int:
    """Yuan (元) with at most 2 decimals, "120000.00" → 12000000 cents (分); never a float."""
    yuan = parse_number(raw)
    if yuan != yuan.quantize(_CENT):
        raise CellError(f"小数超过 2 位：{raw!r} (more than 2 decimals: {raw!r})")
    if yuan < 0 or (yuan == 0 and not zero_ok):
        raise CellError(
            "不能为负数 (must not be negative)"
            if zero_ok
            else "须大于零 (must be greater than zero)"
        )
    return int(yuan * 100)


def parse_cents_or_zero(raw: str) -> int:
    return parse_cents(raw, zero_ok=True)


def parse_rate(raw: str) -> Decimal:
    """A percent a year, "4.35" → Decimal("0.0435")."""
    rate = parse_number(raw) / 100
    if not 0 <= rate <= MAX_ANNUAL_RATE:
        raise CellError(
            f"年利率须在 0 至 {MAX_ANNUAL_RATE * 100:.0f}% 之间 "
            f"(must be between 0 and {MAX_ANNUAL_RATE * 100:.0f} percent a year)"
        )
    if rate != rate.quantize(_RATE_STEP):
        raise CellError("小数超过 4 位 (more than 4 decimals)")
    return rate


def parse_date(raw: str) -> date:
    bad = CellError(f"日期格式应为 YYYY-MM-DD：{raw!r} (not a date, YYYY-MM-DD: {raw!r})")
    if not _ISO_DATE.fullmatch(raw):
        raise bad
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:  # well-formed but impossible, e.g. 2025-02-30
        raise bad from exc


def parse_seq(raw: str) -> int:
    if not re.fullmatch("[1-9][0-9]*", raw):
        raise CellError(f"不是正整数：{raw!r} (not a positive whole number: {raw!r})")
    return int(raw)


def parse_flag(raw: str) -> bool:
    if raw.lower() not in _FLAGS:
        raise CellError(f"应为“是”或“否”：{raw!r} (not yes/no: {raw!r})")
    return _FLAGS[raw.lower()]


def one_of(enum: type[E]) -> Callable[[str], E]:
    def parse(raw: str) -> E:
        if raw.lower() not in {m.value for m in enum}:
            raise CellError(
                f"未知取值 {raw!r}，应为 {'|'.join(enum)} (unknown value {raw!r}, expected {'|'.join(enum)})"
            )
        return enum(raw.lower())

    return parse


@dataclass
class Cells:
    """One data row: `get` parses a cell, or records a LineError and returns None."""

    line: int
    values: Mapping[str, str | None]
    errors: list[LineError]
    bad: bool = False

    def fail(self, column: str | None, message: str) -> None:
        self.bad = True
        self.errors.append(LineError(self.line, column, message))

    def get(
        self, column: str, parse: Callable[[str], T], *, required: bool = True, max_len: int = 64
    ) -> T | None:
        raw = (self.values.get(column) or "").strip()
        try:
            if not raw and required:
                raise CellError("必填项为空 (required value is empty)")
            if len(raw) > max_len:
                raise CellError(f"超过 {max_len} 个字符 (longer than {max_len} characters)")
            return parse(raw) if raw else None
        except CellError as exc:
            self.fail(column, str(exc))
            return None

    def text(self, column: str, *, required: bool = True, max_len: int = 64) -> str | None:
        return self.get(column, str, required=required, max_len=max_len)


def distinct(rows: list[Cells], column: str) -> set[str]:
    """A column's distinct non-empty values, to preload what the rows refer to."""
    return {v.strip() for c in rows if (v := c.values.get(column)) and v.strip()}


def fetch_in(session: Session, query: Any, column: Any, keys: Iterable[Any]) -> list[Any]:
    """`query` where `column` IN `keys`: one round trip per IN_CHUNK keys, never one per row."""
    wanted = sorted(set(keys))
    found: list[Any] = []
    for start in range(0, len(wanted), IN_CHUNK):
        found += session.exec(query.where(col(column).in_(wanted[start : start + IN_CHUNK]))).all()
    return found
