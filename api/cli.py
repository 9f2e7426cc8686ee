"""`postloan` command line (Typer + rich): the app, its command groups and what every command
shares; the commands live per group in api/cli_book.py, api/cli_demo.py, api/cli_audit.py and
api/cli_flows.py.

Exit codes: 0 ok, 1 a domain error (message printed), 2 usage error (Typer).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from rich.console import Console

from core.clock import SystemClock
from core.db import get_engine
from core.errors import PostloanError, ValidationError
from core.settings import get_settings

# Prefect's anonymous usage telemetry stays off in our processes and the Prefect server they
# start (no notice on a first run, no calls out of a bank's network); an operator may set
# either variable otherwise.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    help="postloan 贷后管理 — post-loan management.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
loan_app = typer.Typer(help="Loans.", no_args_is_help=True)
audit_app = typer.Typer(help="Journal verification and replay.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
app.add_typer(loan_app, name="loan")
app.add_typer(audit_app, name="audit")

console = Console()
err = Console(stderr=True)
CLI_ACTOR = "system:cli"


@contextmanager
def domain_errors() -> Iterator[None]:
    """Print a domain error for a person and exit 1 (nothing was saved: the transaction rolled
    back before we got here)."""
    try:
        yield
    except ValidationError as exc:
        err.print(f"[bold red]错误 error:[/] {exc.message}")
        for item in exc.errors:
            where = " ".join(f"{k} {item[k]}" for k in ("line", "field") if item.get(k) is not None)
            err.print(f"  {where}: {item.get('message')}")
        raise typer.Exit(1) from exc
    except PostloanError as exc:
        err.print(f"[bold red]错误 error:[/] {exc.message}")
        raise typer.Exit(1) from exc


def business_day(on: date | None) -> date:
    """The date asked for, or today in the bank's time zone."""
    return on or SystemClock(get_settings().tz).today()


def label(key: str) -> str:
    """A page label for the terminal: Chinese, then English (api/i18n.py LABELS)."""
    from api.i18n import LABELS

    zh, en = LABELS[key]
    return f"{zh} {en}"


def named(value: str | None) -> str:
    """A state, class or event for the terminal: its Chinese name, then the stored value."""
    from api.i18n import EVENTS, lookup, state_label

    if value is None:
        return "∅"
    zh = lookup(EVENTS, value, "zh") if value in EVENTS else state_label(value, "zh")
    return value if zh == value else f"{zh} ({value})"


def yuan(cents: int) -> str:
    return f"{cents / 100:,.2f}"


DateOpt = Annotated[
    date | None,
    typer.Option(formats=["%Y-%m-%d"], help="Business date (default: today, bank time)."),
]


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (Alembic)."""
    import migrations

    url = get_settings().database_url
    migrations.upgrade(url)
    console.print(
        f"[green]数据库已是最新 database at head[/] ({get_engine().url.render_as_string()})"
    )


from api import cli_audit, cli_book, cli_demo, cli_docs, cli_flows, cli_sim  # noqa: E402, F401  (register their commands)
