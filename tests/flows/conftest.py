"""One Prefect test harness for the whole session (it takes ~13 s to start)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


from tests.approvals.conftest import small  # noqa: E402, F401  (a paid-up loan, for flow steps)
