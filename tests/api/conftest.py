"""Fixtures the API tests share: a fixed business date behind the app's clock, and a client of
the app on the test database (a module may define its own `client` instead)."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock


@pytest.fixture
def clock_now():
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 10))
    app.dependency_overrides[get_clock] = lambda: fixed
    yield fixed
    app.dependency_overrides.clear()


@pytest.fixture
def client(engine, org, clock_now):
    with TestClient(app) as c:
        yield c
