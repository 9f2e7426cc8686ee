"""The Alembic head matches the models exactly, on the backend under test."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from migrations.models import metadata


def test_migrate_to_head_matches_models_no_diff(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []


def test_downgrade_to_base_and_back_to_head_roundtrips(engine: Engine, database_url: str) -> None:
    import migrations

    migrations.downgrade(database_url, "base")
    migrations.upgrade(database_url, "head")
    test_migrate_to_head_matches_models_no_diff(engine)
