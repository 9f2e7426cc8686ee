"""A property-based fuzz of the whole OpenAPI (schemathesis, in-process over ASGI) as a signed-in
account manager over a small seeded book: no 5xx, and every response agrees with its schema."""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from api.auth import issue_token
from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from tests.factories import seed_book

EXAMPLES = 12  # per operation: ~35 operations stay well under a minute on either backend
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# valid and invalid input alike; the coverage phase's hundreds of boundary cases per operation
# would take minutes, so boundaries (2^63, 0, missing fields) are plain tests in test_errors.py
schema.config.phases.coverage.enabled = False


@pytest.fixture
def manager_headers(engine, session, org, clock, tmp_path, monkeypatch):
    """The seeded book, today fixed, and the Bearer header of an account manager (am_bj1)."""
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    seed_book(session, org, clock)
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    yield {"Authorization": f"Bearer {issue_token(org.users['am_bj1'], fixed)}"}
    app.dependency_overrides.clear()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible
    phases=[Phase.explicit, Phase.generate],  # no shrinking: report the case as found, fast
    suppress_health_check=list(HealthCheck),
)
def test_fuzz_every_operation_no_server_error_and_schema_conformant(case, manager_headers):
    case.call_and_validate(headers=manager_headers, checks=CHECKS)
