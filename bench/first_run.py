"""A newcomer's first run, checked end to end (too slow for the suite: a Prefect server starts in
10–60 s on a busy machine): the package builds without a setuptools warning, and `postloan serve`
started as `make run` does stops on Ctrl-C without a traceback or "coroutine … was never awaited",
leaving no process behind. Also times `postloan demo seed` on a fresh database.

    python -m bench.first_run [--serve-seconds 90]

Exit 1 if anything a newcomer would see as a warning or error is printed."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BAD = ("Warning", "never awaited", "Traceback", "Package would be ignored")


def _findings(output: str) -> list[str]:
    return [line for line in output.splitlines() if any(b in line for b in BAD)]


def build_wheel(out: Path) -> list[str]:
    """pip's own build (isolated, the setuptools pyproject asks for), verbose so the backend's
    warnings show."""
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        cwd=out,
    )
    lines = [
        line
        for line in _findings(run.stdout + run.stderr)
        if "Location" not in line  # the machine's pip index configuration, not the package
    ]
    return lines if run.returncode == 0 else [*lines, f"pip wheel exited {run.returncode}"]


def serve_and_interrupt(home: Path, seconds: float) -> tuple[list[str], float]:
    env = {**os.environ, "POSTLOAN_DATABASE_URL": f"sqlite:///{home / 'postloan.db'}"}
    env.pop("PREFECT_API_URL", None)
    subprocess.run([str(BIN / "postloan"), "db", "upgrade"], env=env, cwd=home, check=True)
    started = time.perf_counter()
    subprocess.run([str(BIN / "postloan"), "demo", "seed"], env=env, cwd=home, check=True)
    seed_seconds = time.perf_counter() - started
    proc = subprocess.Popen(
        [str(BIN / "postloan"), "serve", "--port", "8199", "--prefect-port", "4399"],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    output, _ = proc.communicate(timeout=120)
    findings = _findings(output)
    if "stopped 已停止" not in output:
        findings.append("serve did not report that it stopped")
    left = subprocess.run(
        ["pgrep", "-f", "prefect server start --host 127.0.0.1 --port 4399"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if left:
        findings.append(f"Prefect server still running: {left}")
    return findings, seed_seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve-seconds", type=float, default=90.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        build = build_wheel(home)
        serve, seed_seconds = serve_and_interrupt(home, args.serve_seconds)
    print(f"demo seed on a fresh database: {seed_seconds:.1f} s")
    for name, found in (("pip wheel", build), ("serve + Ctrl-C", serve)):
        print(f"{name}: {'clean' if not found else 'NOT clean'}")
        for line in found:
            print(f"  {line}")
    return 1 if build or serve else 0


if __name__ == "__main__":
    sys.exit(main())
