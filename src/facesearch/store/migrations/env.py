"""Alembic environment of facesearch.

`facesearch.store.migrate` runs it with a live connection in `config.attributes["connection"]`, so no
alembic.ini is needed at runtime. Developers can still run the `alembic` command against a database
given as `sqlalchemy.url` (for example to autogenerate the next revision from the models).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection, make_url

from facesearch.store import accounts, governance_tables  # noqa: F401  (register every table on Base)
from facesearch.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    dialect = connection.dialect.name if connection is not None else make_url(url or "sqlite://").get_backend_name()
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rewrites such changes as copy-and-rename.
        render_as_batch=dialect == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL instead of running it (`alembic upgrade --sql`), e.g. for a DBA to review."""
    _configure(url=config.get_main_option("sqlalchemy.url"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection in config.attributes and no sqlalchemy.url: use facesearch.store.migrate")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _configure(connection=conn)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
