"""Alembic environment: runs against the engine the server hands in."""

from alembic import context

from kbapp.server import blob_tables  # noqa: F401  (registers the blobs table on `metadata`)
from kbapp.server import ek_tables  # noqa: F401  (registers the ephemeral key tables on `metadata`)
from kbapp.server import folder_tables  # noqa: F401  (registers the folder tables on `metadata`)
from kbapp.server.db import metadata

config = context.config
engine = config.attributes["connection_engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
