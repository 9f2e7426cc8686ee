"""book summary: the portfolio report's figures of a business date by branch
(reports/book_summary.py), the triggers that delete every summary a change reaches, and an
index on the loans' booking date

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 19:00:00

A summary of day D reads, for each table below, the rows whose interval [start, end) reaches D.
A row inserted or deleted changes the days from its start; an update changes the days from the
earlier of the old and new start when a read column or the start changed, and from the earlier
of the old and new end when the end changed (closing a bucket on D changes D and later, not the
days it was open). SQLite fires per row; Postgres per statement over the transition tables
(per row for loans, filtered by WHEN, since the daily sweep rewrites other columns of every
loan), taking the advisory lock 7270014 shared first, which a summary's marker takes exclusive.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK = 7_270_014
WATCHED = {  # table → (start, end or None, the other columns a summary reads)
    "loans": ("booked_on", None, ("product", "principal_cents", "branch_id")),
    "payments": ("value_date", None, ("loan_id", "allocated", "principal_applied_cents")),
    "loan_status_history": ("valid_from", "valid_to", ("loan_id", "machine", "state")),
    "loan_bucket_history": ("entered_on", "left_on", ("loan_id", "bucket")),
}
STALE = "DELETE FROM book_summary_days WHERE day >= {since}"


def _sqlite_update_since(start: str, end: str | None, cols: Sequence[str]) -> str:
    never = "'9999-12-31'"
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in (*cols, start))
    parts = [f"CASE WHEN {changed} THEN min(OLD.{start}, NEW.{start}) ELSE {never} END"]
    if end:
        parts.append(
            f"CASE WHEN OLD.{end} IS NOT NEW.{end} THEN "
            f"min(coalesce(OLD.{end}, {never}), coalesce(NEW.{end}, {never})) ELSE {never} END"
        )
    return f"min({', '.join(parts)})" if len(parts) > 1 else parts[0]


def _sqlite(table: str, start: str, end: str | None, cols: Sequence[str]) -> list[str]:
    read = ", ".join((*cols, start, *((end,) if end else ())))
    update = STALE.format(since=_sqlite_update_since(start, end, cols))
    return [
        f"CREATE TRIGGER {table}_book_stale_ins AFTER INSERT ON {table} "
        f"BEGIN {STALE.format(since=f'NEW.{start}')}; END",
        f"CREATE TRIGGER {table}_book_stale_del AFTER DELETE ON {table} "
        f"BEGIN {STALE.format(since=f'OLD.{start}')}; END",
        f"CREATE TRIGGER {table}_book_stale_upd AFTER UPDATE OF {read} ON {table} "
        f"BEGIN {update}; END",
    ]


def _pg_update_since(o: str, n: str, start: str, end: str | None, cols: Sequence[str]) -> str:
    left = ", ".join(f"{o}.{c}" for c in (*cols, start))
    right = ", ".join(f"{n}.{c}" for c in (*cols, start))
    parts = [
        f"CASE WHEN ({left}) IS DISTINCT FROM ({right}) THEN LEAST({o}.{start}, {n}.{start}) END"
    ]
    if end:
        parts.append(
            f"CASE WHEN {o}.{end} IS DISTINCT FROM {n}.{end} THEN "
            f"LEAST(COALESCE({o}.{end}, 'infinity'), COALESCE({n}.{end}, 'infinity')) END"
        )
    return f"LEAST({', '.join(parts)})"


def _pg_function(name: str, since_query: str) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE stale_from date;
BEGIN
    {since_query};
    IF stale_from IS NOT NULL AND stale_from < 'infinity' THEN
        PERFORM pg_advisory_xact_lock_shared({LOCK});
        {STALE.format(since="stale_from")};
    END IF;
    RETURN NULL;
END $$"""


def _pg(table: str, start: str, end: str | None, cols: Sequence[str]) -> list[str]:
    fn = f"postloan_{table}_book_stale"
    statements = [
        _pg_function(f"{fn}_ins", f"SELECT min({start}) INTO stale_from FROM new_rows"),
        f"CREATE TRIGGER {table}_book_stale_ins AFTER INSERT ON {table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}_ins()",
        _pg_function(f"{fn}_del", f"SELECT min({start}) INTO stale_from FROM old_rows"),
        f"CREATE TRIGGER {table}_book_stale_del AFTER DELETE ON {table} "
        f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}_del()",
    ]
    if table == "loans":  # per row, only when a read column really changed
        read = (*cols, start)
        statements += [
            _pg_function(
                f"{fn}_upd", f"stale_from := {_pg_update_since('OLD', 'NEW', start, end, cols)}"
            ),
            f"CREATE TRIGGER {table}_book_stale_upd AFTER UPDATE OF {', '.join(read)} ON {table} "
            f"FOR EACH ROW WHEN (({', '.join(f'OLD.{c}' for c in read)}) IS DISTINCT FROM "
            f"({', '.join(f'NEW.{c}' for c in read)})) EXECUTE FUNCTION {fn}_upd()",
        ]
    else:
        since = _pg_update_since("o", "n", start, end, cols)
        statements += [
            _pg_function(
                f"{fn}_upd",
                f"SELECT min({since}) INTO stale_from FROM old_rows o JOIN new_rows n USING (id)",
            ),
            f"CREATE TRIGGER {table}_book_stale_upd AFTER UPDATE ON {table} "
            f"REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}_upd()",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "book_summary_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("since", sa.Date(), nullable=False),
        sa.Column("roll_start", sa.Date(), nullable=True),
        sa.Column("build_id", sa.String(length=32), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "book_summary_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("figure", sa.String(length=12), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("a", sa.String(length=40), nullable=False),
        sa.Column("b", sa.String(length=40), nullable=True),
        sa.Column("c", sa.String(length=40), nullable=True),
        sa.Column("loans", sa.BigInteger(), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["day"], ["book_summary_days.day"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_book_summary_rows_day_figure", "book_summary_rows", ["day", "figure", "branch_id"]
    )
    # the book's first day (roll rates, which days a sweep summarises): one seek, not a scan
    op.create_index("ix_loans_booked_on", "loans", ["booked_on"])
    make = _pg if op.get_bind().dialect.name == "postgresql" else _sqlite
    for table, (start, end, cols) in WATCHED.items():
        for statement in make(table, start, end, cols):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        for op_name in ("ins", "del", "upd"):
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_book_stale_{op_name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS postloan_{table}_book_stale_{op_name}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_book_stale_{op_name}")
    op.drop_index("ix_loans_booked_on", table_name="loans")
    op.drop_index("ix_book_summary_rows_day_figure", table_name="book_summary_rows")
    op.drop_table("book_summary_rows")
    op.drop_table("book_summary_days")
