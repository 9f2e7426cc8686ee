"""Migration 0008 fills attachment_links from what is already stored: uploaders, and the tasks
whose forms, drafts or context hold an attachment — so files stay readable after the upgrade."""

from __future__ import annotations

from sqlalchemy import text

from tasks import attachments
from tests.tasks.conftest import new_task

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 8
PDF = b"%PDF-1.4 draft"


def test_upgrade_0008_backfills_links_from_uploads_and_task_forms(
    engine, session, org, clock, database_url, tmp_path, monkeypatch
):
    import migrations
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    am = org.users["am_bj1"].id
    photo = attachments.store(
        session, data=PNG, filename="p.png", content_type="image/png", uploaded_by=am,
        now=clock.now(),
    )  # fmt: skip
    draft = attachments.store(
        session, data=PDF, filename="d.pdf", content_type="application/pdf", uploaded_by=am,
        now=clock.now(),
    )  # fmt: skip
    done = new_task(session, org, clock, None, key="done")
    done.result = {"photos": [photo.model_dump(mode="json")]}
    pending = new_task(session, org, clock, None, key="pending")
    pending.draft = {"evidence": [draft.model_dump(mode="json")], "note": "sha256 of nothing"}
    session.add_all([done, pending])
    session.commit()
    session.close()

    migrations.downgrade(database_url, "0007")
    migrations.upgrade(database_url, "head")

    with engine.connect() as conn:
        rows = set(
            conn.execute(text("SELECT sha256, owner_type, owner_id FROM attachment_links")).all()
        )
    assert rows == {
        (photo.sha256, "upload", am),
        (draft.sha256, "upload", am),
        (photo.sha256, "task", done.id),
        (draft.sha256, "task", pending.id),
    }
