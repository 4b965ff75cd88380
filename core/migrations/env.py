"""Alembic's entry point for the jobs database.

``core.migrate.upgrade_database`` hands over an open connection (inside its transaction) in
``config.attributes["connection"]``; the ``alembic`` command line instead names a URL
(``sqlalchemy.url``), or the one in the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.database import make_engine
from core.settings import get_settings
from core.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transactional_ddl=True,  # SQLite too: core.database emits the BEGIN itself
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("the jobs database migrations run online only")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


main()
