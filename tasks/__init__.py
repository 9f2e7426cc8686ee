"""Human tasks: the table, worklists (queue / inbox / archive), commands, four-eyes rules,
attachments and the resume outbox. Imports no web or Prefect library."""
