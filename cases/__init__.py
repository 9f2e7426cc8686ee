"""Casework above single requests: early-warning cases (预警) and the collection ladder (催收),
and the one entry point that completes a human task with whatever follows from its kind.
Between approvals/ and flows/; imports no web or Prefect library."""
