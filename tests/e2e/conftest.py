"""Browser tests' harness: one local uvicorn server and one Debian chromium per module, on the
suite's test database; each test gets its own browser context (cookies) and empty tables.

Screenshots go to the test's tmp dir and, when POSTLOAN_SCREENSHOTS names a directory, there too.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from loans.demo import DEMO_PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.path.exists(CHROMIUM) or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(reason="Debian chromium not installed (make test installs it)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(migrated_engine: Any, database_url: str) -> Iterator[str]:
    """The app on a loopback port, reading the test database; business date 2025-03-03."""
    from core.settings import get_settings

    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSTLOAN_DATABASE_URL", database_url)
        get_settings.cache_clear()
        app.dependency_overrides[get_clock] = lambda: fixed
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)
            app.dependency_overrides.pop(get_clock, None)
            get_settings.cache_clear()


@pytest.fixture
def server(live_server: str, engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's server with this test's empty tables and its own attachments directory."""
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    return live_server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """`new_page(width, height)`: a page in a fresh context (its own cookies), Chinese locale."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        context.set_default_timeout(10_000)  # a missing element fails in seconds, not 30
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Any) -> Any:
    return new_page()


@pytest.fixture
def shoot(tmp_path: Path) -> Any:
    """`shoot(page, name)`: a full-page screenshot into tmp_path and $POSTLOAN_SCREENSHOTS."""
    extra = os.environ.get("POSTLOAN_SCREENSHOTS")

    def take(page: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(extra) / path.name)
        return path

    return take


@pytest.fixture
def sign_in(server: str) -> Any:
    """`sign_in(page, username)`: through the login form; lands on the inbox."""

    def go(page: Any, username: str) -> None:
        page.goto(f"{server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url("**/inbox")

    return go
