"""What the benchmarks share: a loan-card check's valid form, a free local port, a percentile."""

from __future__ import annotations

import socket
from collections.abc import Sequence

LOAN_CARD = {
    "retrieved_on": "2026-12-01",
    "other_bank_credit_balance_change": "0",
    "external_guarantee_balance_change": "0",
    "other_bank_classifications": [],
    "other_bank_delinquencies": [],
    "concentrated_maturities": [],
    "conclusion": "normal",
}


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
