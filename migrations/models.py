"""Every table's metadata, for Alembic autogenerate and the schema check test."""

from sqlmodel import SQLModel

import approvals.models  # noqa: F401
import audit.journal  # noqa: F401
import audit.journal_indexes  # noqa: F401
import audit.signin  # noqa: F401
import cases.models  # noqa: F401
import core.identity  # noqa: F401
import loans.models  # noqa: F401
import loans.status_history  # noqa: F401
import loans.student.models  # noqa: F401
import reports.book_summary  # noqa: F401
import sim.models  # noqa: F401
import tasks.models  # noqa: F401

metadata = SQLModel.metadata
