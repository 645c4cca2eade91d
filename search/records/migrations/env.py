"""Alembic environment: runs on the connection handed over by
``search.records.migrations.upgrade``."""

from __future__ import annotations

from alembic import context

from search.records.db import Base
from search.records.migrations import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "convnas migrations run programmatically: use search.records.migrations.upgrade(engine)"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by table copy
    include_name=lambda name, type_, _parent: type_ != "table" or str(name).startswith("convnas_"),
)
with context.begin_transaction():
    context.run_migrations()
