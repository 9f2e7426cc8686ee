"""The journal (append-only, hash-chained per aggregate), verification, replay and exports.
Imports no web or Prefect library, and nothing of loans/ or tasks/."""
