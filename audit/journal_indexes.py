"""Indexes of the journal for the auditors' queries across loans (cases/journal_search.py): by
actor or by event within a business-date range. Declared beside the table, migration 0011."""

from __future__ import annotations

from sqlalchemy import Index

from audit.journal import JOURNAL

# "everything head_bj approved in March": actor = … and business_date between …
ACTOR_DATE = Index("ix_journal_actor_date", JOURNAL.c.actor, JOURNAL.c.business_date)
# every approval (or write-off, …) in a period, whoever did it
EVENT_DATE = Index("ix_journal_event_date", JOURNAL.c.event, JOURNAL.c.business_date)
