"""The schema hashes each form kind has been released with, and the schema version each one is:
the journal records a form's kind and schema hash beside its payload, and this table tells which
version that payload was submitted as, so a stored form is upgraded from the right version and
re-opened as it was. Append a line when a form's schema changes (and bump its `schema_version`);
never remove or edit one — tests/forms/test_released.py fails while the current schema is missing.
Imports no DB, HTTP or Prefect library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forms.registry import form_for, upgrade_payload

# kind → {schema hash → schema version}; every hash that was ever released, oldest first
RELEASED: dict[str, dict[str, int]] = {
    "first_usage_check": {
        "ec9f919740c6ef10c708f340df88bd8086efe7514e70cb6688b6fdb5d3ccf58a": 1,
    },
    "loan_card_check": {
        "2a2b17c726a2f1d9c19e0c337b18756254f01ec650761ef2f49ae67c85284519": 1,
    },
    "customer_visit": {
        "6b4c04f9b8aa67d27cfcff6a356fd85ebed98302a3a50f804fcb0e5fd5f6acc4": 1,
    },
    "phone_follow_up": {
        "7c949d1719c3c14ae45916c318a3251cfddd4963d693aaee376ee3b01e03d39b": 1,
    },
    "collateral_check": {
        "606d84646cf13e9d9f2b25585d5196501ca0020d7e98078126d94fb5356fac23": 1,
    },
    "extension_review": {
        "c1709d623cee877f52c4b8bd7a293d4c9949816b408522ff52d1bf915b41f304": 1,
    },
    "classification_review": {
        "4eef00365add00f62fa894487e33d40ad3bd8934b04482224429f17062230cdf": 1,
    },
    "warning_disposition": {
        "03b3e9ba75b742d6f99d7fe0cceb5f9909b7e9c3975fc39af6674687c5b4d0df": 2,
    },
    "write_off_review": {
        "e55f18bc86b0ccb66f75f97653fb7b81f5d8a7a8d25b92bfa82fc456525b279b": 1,
    },
    "maturity_notice": {
        "b698306412b155de962d52d9a4b1a93ff27e3c61d75645d3a5abfee5a33b09a9": 1,
    },
    "overdue_notice": {
        "baa85fa2addada796c4a2e0b18ffa329a33bc9b0a1f9b96913ba85378ea62610": 1,
    },
    "handover_review": {
        "b08ef4e2d72e7dfe6a80d841dd9025fd6135dc15602f75ff2461e1936106af65": 1,
    },
    "request_revision": {
        "39b1b8686e63a4a99da2727a63084f7b4e8ccbf625c11b53caafd2a347775cd5": 1,
    },
    "warning_tracking": {
        "8d31891df87e575e202a1fcfab2fb22aeb1756f820dae4f6e26cf62c1b33abf7": 1,
    },
    "collection_contact": {
        "fd4d52706cc0705d1324a397171f6e7efb37e5c2ed834d5f5b2221e3e6a00188": 1,
    },
    "legal_referral": {
        "821d408a426eccfa5b7a10530e853ad0051bd1fd7bdc0a3eeb6d7c482aaca809": 1,
    },
    "graduation_confirmation": {
        "7d49412e66c527f5fa98c3df75c6464c10ca699b5a9e9b67f293169a690bd100": 1,
    },
    "student_contact": {
        "ff1f8dda374961688aab3bc708b12069d856bf19f83795969c38b564818b645e": 1,
    },
}


def version_of(kind: str, schema_hash: str | None) -> int | None:
    """The schema version a payload with this hash was submitted as; None when the hash was
    never released (a payload written before this table, or altered)."""
    if schema_hash is None:
        return None
    return RELEASED.get(kind, {}).get(schema_hash)


def is_current(kind: str, schema_hash: str | None) -> bool:
    return version_of(kind, schema_hash) == form_for(kind).schema_version


@dataclass(frozen=True)
class StoredForm:
    """A submitted form as the journal holds it, ready to re-open: the values brought to the
    current version (so today's template renders them), the version it was submitted as, and
    the fields that version did not have (filled by upgraders, not by the submitter)."""

    kind: str
    submitted: dict[str, Any]  # exactly as stored
    values: dict[str, Any]  # upgraded to the current version
    submitted_version: int
    current_version: int
    known_hash: bool  # False: the hash is not in RELEASED; the version came from the fallback
    added_fields: tuple[str, ...]


def reopen(
    kind: str, payload: dict[str, Any], schema_hash: str | None, fallback_version: int | None
) -> StoredForm:
    """The stored payload of `kind`, its version found from its schema hash (else from the
    fallback, e.g. the version the task row recorded; else 1, the oldest), upgraded."""
    found = version_of(kind, schema_hash)
    version = found or fallback_version or 1
    current = form_for(kind).schema_version
    values = upgrade_payload(kind, payload, version)
    added = tuple(name for name in values if name not in payload)
    return StoredForm(kind, dict(payload), values, version, current, found is not None, added)
