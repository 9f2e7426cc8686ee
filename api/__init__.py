"""The edge: FastAPI app (JSON under /api/v1 and HTML pages) and the `postloan` CLI.
Nothing imports api."""
