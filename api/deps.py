"""Resources resolved once, at the edge, under a name (STYLE habit 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from core.clock import Clock, SystemClock
from core.db import get_engine
from core.errors import ConflictError

STATIC_DIR = Path(__file__).parent / "static"
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def get_session() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def get_clock() -> Clock:
    return SystemClock()


SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def commit(session: Session) -> None:
    """Commit a route's one transaction; a concurrent change becomes a clean 409."""
    try:
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise ConflictError("the record was changed concurrently; reload and try again") from exc
    except OperationalError as exc:
        session.rollback()
        if "locked" in str(exc.orig).lower():
            raise ConflictError("the record is being changed by someone else; try again") from exc
        raise
