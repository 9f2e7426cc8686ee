"""The bounds of every id, page, limit and offset a route takes (path or query), defined once.
Anything outside them is a 422 before a query runs: 2^63 in a path crashed SQLite's driver
(OverflowError) and 2^31 Postgres' (its INTEGER keys), each with a plain-text 500."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

MAX_ID = 2**31 - 1  # the largest key either backend stores: ids are INTEGER on Postgres
MAX_LIMIT = 200  # rows per API page
MAX_OFFSET = 1_000_000  # deeper than any worklist or book a person pages through
MAX_PAGE = 20_000  # × the largest page size (50) stays within MAX_OFFSET

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="A row id (1 … 2^31−1).")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows to return (1 … {MAX_LIMIT}).")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Rows to skip (0 … {MAX_OFFSET}).")]
PageNo = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page number (1 … {MAX_PAGE}).")]


def _no_nul(value: str) -> str:
    # Postgres refuses NUL in text ("cannot contain NUL (0x00) characters"): a 500, not a 422
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]  # every string a route takes, body fields too
Code = Annotated[Text, Query(max_length=64)]  # a filter by code: branch, state, kind, …
CodeOrNone = Annotated[Text | None, Query(max_length=64)]
SearchOrNone = Annotated[Text | None, Query(max_length=200)]  # free text: a name, a path
LoanNo = Annotated[Text, Path(max_length=64, description="The loan number (贷款编号).")]
Key = Annotated[Text, Path(max_length=64)]  # another code in a path (a form kind, a hash)
