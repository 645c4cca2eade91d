"""The ways in: the ``convnas`` CLI (and, later, the FastAPI service)."""
