"""signed anchors (key id, Ed25519 signature) and, on Postgres, an append-only journal: triggers
refuse UPDATE, DELETE and TRUNCATE on `journal` and `journal_anchors` (docs/audit.md)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("journal", "journal_anchors")

# Triggers fire for every role but a superuser's session with session_replication_role =
# replica (the test harness's cleanup; a restore). The application's role owns nothing, so it can
# neither drop nor disable them (docs/audit.md).
REFUSE = """
CREATE OR REPLACE FUNCTION postloan_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = format('审计日志只可追加，拒绝 %s %s (the audit journal is append-only: %s on %s '
                         'is refused)', TG_OP, TG_TABLE_NAME, TG_OP, TG_TABLE_NAME);
END $$
"""


def upgrade() -> None:
    with op.batch_alter_table("journal_anchors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.String(length=128), nullable=True))
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION postloan_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION postloan_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS postloan_append_only()")
    with op.batch_alter_table("journal_anchors", schema=None) as batch_op:
        batch_op.drop_column("signature")
        batch_op.drop_column("key_id")
