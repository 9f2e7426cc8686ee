"""Repayment schedule maths: known numbers, exact principal sums, month-end dates, validation."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest

from core.errors import ValidationError
from loans.schedule import (
    RepaymentMethod,
    ScheduledInstallment,
    ScheduleError,
    add_months,
    generate_schedule,
)

RATE_435 = Decimal("0.0435")
LOAN_120K = 12_000_000  # 120,000.00 yuan in cents


def _schedule(
    principal_cents: int = LOAN_120K,
    annual_rate: Decimal = RATE_435,
    disbursement_date: date = date(2025, 1, 15),
    maturity_date: date = date(2026, 1, 15),
    method: RepaymentMethod = RepaymentMethod.equal_installment,
) -> list[ScheduledInstallment]:
    return generate_schedule(
        principal_cents=principal_cents,
        annual_rate=annual_rate,
        disbursement_date=disbursement_date,
        maturity_date=maturity_date,
        method=method,
    )


def _cents(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_generate_equal_installment_12_month_loan_matches_hand_computed_numbers() -> None:
    with localcontext() as ctx:
        ctx.prec = 40
        r = RATE_435 / 12
        growth = (1 + r) ** 12
        payment = _cents(LOAN_120K * r * growth / (growth - 1))
    assert payment == 1_023_719  # 10,237.19 yuan a month

    rows = _schedule()

    assert [row.seq_no for row in rows] == list(range(1, 13))
    assert [row.due_date for row in rows] == [date(2025, m, 15) for m in range(2, 13)] + [
        date(2026, 1, 15)
    ]
    assert rows[0].interest_cents == 43_500  # 120000 × 0.0435 / 12 = 435.00
    assert rows[0].principal_cents == payment - 43_500
    balance = LOAN_120K
    for row in rows:
        assert row.interest_cents == _cents(balance * r)
        if row.seq_no < 12:
            assert row.total_cents == payment
        balance -= row.principal_cents
    assert balance == 0
    assert abs(rows[-1].total_cents - payment) <= 2  # last one absorbs only rounding


def test_generate_equal_principal_12_month_loan_interest_on_falling_balance() -> None:
    rows = _schedule(method=RepaymentMethod.equal_principal)

    assert {row.principal_cents for row in rows} == {1_000_000}
    assert [row.interest_cents for row in rows[:2]] == [43_500, 39_875]  # 110000 × 0.003625
    assert rows[-1].interest_cents == 3_625


def test_generate_monthly_interest_bullet_principal_only_at_maturity() -> None:
    rows = _schedule(method=RepaymentMethod.monthly_interest_bullet)

    assert len(rows) == 12
    assert {row.interest_cents for row in rows} == {43_500}
    assert [row.principal_cents for row in rows] == [0] * 11 + [LOAN_120K]


def test_generate_bullet_actual_days_uses_actual_360() -> None:
    rows = _schedule(
        principal_cents=1_000_000,
        annual_rate=Decimal("0.036"),
        disbursement_date=date(2025, 1, 1),
        maturity_date=date(2025, 12, 31),
        method=RepaymentMethod.bullet,
    )

    assert rows == [ScheduledInstallment(1, date(2025, 12, 31), 1_000_000, 36_400)]  # 364/360


def test_generate_bullet_half_cent_interest_rounds_half_up() -> None:
    rows = _schedule(
        principal_cents=100,
        annual_rate=Decimal("0.09"),
        disbursement_date=date(2025, 1, 1),
        maturity_date=date(2025, 1, 21),
        method=RepaymentMethod.bullet,
    )

    assert rows[0].interest_cents == 1  # 100 × 0.09 × 20 / 360 = 0.5 cent


def test_generate_zero_rate_equal_installment_splits_principal_remainder_last() -> None:
    rows = _schedule(principal_cents=100_001, annual_rate=Decimal("0"))

    assert [row.principal_cents for row in rows] == [8_333] * 11 + [8_338]
    assert {row.interest_cents for row in rows} == {0}


def test_generate_partial_month_maturity_adds_stub_at_actual_360() -> None:
    rows = _schedule(
        principal_cents=1_000_000,
        annual_rate=Decimal("0.036"),
        disbursement_date=date(2025, 1, 15),
        maturity_date=date(2025, 4, 25),
        method=RepaymentMethod.monthly_interest_bullet,
    )

    assert [row.due_date for row in rows] == [
        date(2025, 2, 15),
        date(2025, 3, 15),
        date(2025, 4, 15),
        date(2025, 4, 25),
    ]
    assert [row.interest_cents for row in rows] == [3_000, 3_000, 3_000, 1_000]  # last: 10/360


def test_generate_stub_equal_installment_keeps_payment_and_repays_all() -> None:
    rows = _schedule(maturity_date=date(2026, 2, 1))

    assert len(rows) == 13
    assert rows[-1].due_date == date(2026, 2, 1)
    assert len({row.total_cents for row in rows[:-1]}) == 1
    assert sum(row.principal_cents for row in rows) == LOAN_120K
    # 17-day stub (Jan 15 → Feb 1) on what is left, by actual/360
    left = rows[-1].principal_cents
    assert rows[-1].interest_cents == _cents(left * RATE_435 * 17 / 360)


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2028, 1, 31), 2, date(2028, 3, 31)),
        (date(2028, 1, 31), 3, date(2028, 4, 30)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 3, 31), 0, date(2025, 3, 31)),
    ],
)
def test_add_months_month_end_start_clamps_to_month_end(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected


def test_generate_month_end_disbursement_due_dates_anchor_on_original_day() -> None:
    rows = _schedule(
        disbursement_date=date(2028, 1, 31),
        maturity_date=date(2028, 5, 31),
        method=RepaymentMethod.equal_principal,
    )

    assert [row.due_date for row in rows] == [
        date(2028, 2, 29),
        date(2028, 3, 31),
        date(2028, 4, 30),
        date(2028, 5, 31),
    ]
    assert rows[-1].interest_cents == _cents(3_000_000 * RATE_435 / 12)  # whole month, not stub


def test_generate_one_month_to_clamped_month_end_single_whole_period() -> None:
    rows = _schedule(disbursement_date=date(2027, 1, 31), maturity_date=date(2027, 2, 28))

    assert rows == [ScheduledInstallment(1, date(2027, 2, 28), LOAN_120K, 43_500)]


PRINCIPAL_CASES = [
    # (principal_cents, annual_rate, disbursement_date, maturity_date)
    pytest.param(LOAN_120K, RATE_435, date(2025, 1, 15), date(2025, 2, 15), id="1-month"),
    pytest.param(LOAN_120K, RATE_435, date(2025, 1, 15), date(2026, 1, 15), id="12-month"),
    pytest.param(
        300_000_000, Decimal("0.049"), date(2025, 1, 31), date(2055, 1, 31), id="360-month"
    ),
    pytest.param(100_001, RATE_435, date(2025, 1, 15), date(2026, 1, 15), id="odd-principal"),
    pytest.param(100_001, Decimal("0"), date(2025, 1, 15), date(2026, 1, 15), id="zero-rate"),
    pytest.param(1, Decimal("0.24"), date(2025, 1, 15), date(2027, 1, 15), id="one-cent"),
    pytest.param(5_000_000, Decimal("1"), date(2025, 1, 15), date(2055, 1, 15), id="max-rate"),
    pytest.param(777_777, RATE_435, date(2025, 1, 15), date(2025, 1, 16), id="one-day"),
    pytest.param(777_777, RATE_435, date(2025, 1, 31), date(2026, 3, 3), id="stub"),
]


@pytest.mark.parametrize("method", list(RepaymentMethod))
@pytest.mark.parametrize(("principal", "rate", "start", "end"), PRINCIPAL_CASES)
def test_generate_any_method_principal_sums_exactly(
    method: RepaymentMethod, principal: int, rate: Decimal, start: date, end: date
) -> None:
    rows = _schedule(principal, rate, start, end, method)

    assert sum(row.principal_cents for row in rows) == principal
    assert all(row.principal_cents >= 0 and row.interest_cents >= 0 for row in rows)
    assert rows[-1].due_date == end


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"principal_cents": 0}, "principal_cents"),
        ({"principal_cents": -100}, "principal_cents"),
        ({"principal_cents": 1.5}, "principal_cents"),
        ({"annual_rate": Decimal("-0.0001")}, "annual_rate"),
        ({"annual_rate": Decimal("1.0001")}, "annual_rate"),
        ({"annual_rate": 0.0435}, "annual_rate"),
        ({"annual_rate": Decimal("NaN")}, "annual_rate"),
        ({"maturity_date": date(2025, 1, 15)}, "maturity_date"),
        ({"maturity_date": date(2024, 12, 31)}, "maturity_date"),
        ({"method": "balloon"}, "method"),
    ],
)
def test_generate_invalid_terms_raises_validation_error_naming_field(
    overrides: dict[str, object], field: str
) -> None:
    terms: dict[str, object] = {
        "principal_cents": LOAN_120K,
        "annual_rate": RATE_435,
        "disbursement_date": date(2025, 1, 15),
        "maturity_date": date(2026, 1, 15),
        "method": RepaymentMethod.equal_installment,
    } | overrides

    with pytest.raises(ValidationError) as caught:
        generate_schedule(**terms)  # type: ignore[arg-type]

    assert isinstance(caught.value, ScheduleError)
    assert caught.value.code == "invalid_input"
    assert [error["field"] for error in caught.value.errors] == [field]
    assert field in caught.value.message


def test_generate_several_invalid_terms_reports_every_field() -> None:
    with pytest.raises(ScheduleError) as caught:
        _schedule(principal_cents=0, annual_rate=Decimal("2"), maturity_date=date(2025, 1, 1))

    fields = [error["field"] for error in caught.value.errors]
    assert fields == ["principal_cents", "annual_rate", "maturity_date"]


def test_generate_string_method_value_is_accepted() -> None:
    rows = _schedule(method="equal_principal")  # type: ignore[arg-type]

    assert rows == _schedule(method=RepaymentMethod.equal_principal)


def test_generate_random_terms_principal_exact_and_amounts_non_negative() -> None:
    rng = random.Random(20250115)
    for _ in range(300):
        principal = rng.choice([1, 99, rng.randint(1, 10**6), rng.randint(1, 10**10)])
        rate = Decimal(rng.randint(0, 10_000)) / 10_000
        start = date(2000, 1, 1) + timedelta(days=rng.randint(0, 15_000))
        if rng.random() < 0.5:
            end = add_months(start, rng.randint(1, 360))
        else:
            end = start + timedelta(days=rng.randint(1, 3_650))
        method = rng.choice(list(RepaymentMethod))
        case = (principal, rate, start, end, method)

        rows = _schedule(*case)

        assert sum(row.principal_cents for row in rows) == principal, case
        assert all(row.principal_cents >= 0 and row.interest_cents >= 0 for row in rows), case
        assert [row.seq_no for row in rows] == list(range(1, len(rows) + 1)), case
        dates = [start] + [row.due_date for row in rows]
        assert all(a < b for a, b in zip(dates, dates[1:], strict=False)), case
        assert rows[-1].due_date == end, case
        if method is RepaymentMethod.equal_installment and rate > 0:
            # Level payment until repaid: small loans at high rates compound cent rounding until
            # the balance runs out before maturity; the clamp then leaves only zero rows.
            balance = principal
            for row in rows[:-1]:
                balance -= row.principal_cents
                assert row.total_cents == rows[0].total_cents or balance == 0, case
