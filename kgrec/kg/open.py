"""Pick and open the backend that a ``--db`` value names: a path (embedded) or a bolt/neo4j URI."""

from __future__ import annotations

from kgrec.config import Settings, load_settings
from kgrec.kg.backend import Backend


def open_backend(settings: Settings | str | None = None, *, read_only: bool = False, create: bool = True) -> Backend:
    """Open the graph store. ``settings`` may be a Settings, a --db string, or None (from config/env).

    ``create=False`` refuses to create a missing embedded database (read commands use this).
    """
    if settings is None:
        settings = load_settings()
    elif isinstance(settings, str):
        settings = load_settings({"db": settings})
    if settings.is_neo4j:
        from kgrec.kg.neo4j_backend import Neo4jBackend

        return Neo4jBackend(
            settings.db,
            user=settings.neo4j_user,
            password=settings.neo4j_password,
            database=settings.neo4j_database,
            read_only=read_only,
            connect_timeout=settings.neo4j_connect_timeout,
        )
    from kgrec.kg.ladybug_backend import LadybugBackend

    return LadybugBackend(
        settings.db, read_only=read_only, create=create, buffer_pool_mb=settings.ladybug_buffer_pool_mb
    )
