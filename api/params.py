"""The bounds of every id, page, limit and offset a route takes (path or query), defined once.
Anything outside them is a 422 before a query runs: 2^63 in a path crashed SQLite's driver
(OverflowError) and 2^31 Postgres' (its INTEGER keys), each with a plain-text 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**31 - 1  # the largest key either backend stores: ids are INTEGER on Postgres
MAX_LIMIT = 200  # rows per API page
MAX_OFFSET = 1_000_000  # deeper than any worklist or book a person pages through
MAX_PAGE = 20_000  # × the largest page size (50) stays within MAX_OFFSET

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id (1 … 2^31−1).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows to return (1 … {MAX_LIMIT}).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip (0 … {MAX_OFFSET}).")]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page number (1 … {MAX_PAGE}).")]
