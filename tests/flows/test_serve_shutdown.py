"""`serve_all` (what `postloan serve` runs) stops cleanly on Ctrl-C and on SIGTERM: the runner is
stopped inside its own loop, pauses its deployments on the server and exits 0 — no traceback, no
"coroutine … was never awaited"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

SERVE = "from flows.launch import APPROVAL_CHAIN, serve_all; serve_all([APPROVAL_CHAIN])"


def _serve(database_url: str) -> subprocess.Popen[str]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "POSTLOAN_DATABASE_URL": database_url,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PYTHONWARNINGS": "default",  # a coroutine never awaited is reported, not hidden
    }
    with get_client(sync_client=True) as client:
        # an earlier test's runner left the deployment registered and unpaused: remove it, so
        # "registered and unpaused" below can only mean this process is serving
        try:
            old = client.read_deployment_by_name("approval-chain/approval-chain")
            client.delete_deployment(old.id)
        except ObjectNotFound:
            pass
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    with get_client(sync_client=True) as client:
        for _ in range(600):
            try:
                if not client.read_deployment_by_name("approval-chain/approval-chain").paused:
                    return proc
            except ObjectNotFound:
                pass
            try:
                proc.wait(timeout=0.1)
                raise AssertionError(f"the runner exited before serving:\n{proc.stdout.read()}")
            except subprocess.TimeoutExpired:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    raise TimeoutError("the runner did not register the approval-chain deployment")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_all_signal_stops_runner_cleanly(prefect_harness, migrated_engine, database_url, sig):
    from prefect.client.orchestration import get_client

    proc = _serve(database_url)
    proc.send_signal(sig)
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, output
    assert "never awaited" not in output and "Traceback" not in output, output
    with get_client(sync_client=True) as client:
        assert client.read_deployment_by_name("approval-chain/approval-chain").paused
