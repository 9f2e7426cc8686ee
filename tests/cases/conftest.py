"""Casework fixtures: those of the approval tests (loans, attachments in a temp dir)."""

from __future__ import annotations

from tests.approvals.conftest import attachments_dir, big, small  # noqa: F401
