"""Resources resolved once, at the edge, under a name (STYLE habit 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from core.clock import Clock, SystemClock
from core.db import commit, get_engine

STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# every page escapes what it shows: the templates end in .j2, which Jinja's default
# select_autoescape(["html", "xml"]) does not match, so nothing was escaped
templates.env.autoescape = True


def get_session() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def get_clock() -> Clock:
    return SystemClock()


__all__ = ["ClockDep", "SessionDep", "commit", "get_clock", "get_session", "templates"]

SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
