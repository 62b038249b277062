"""Read-only access to the graph for long-running readers (the HTTP server) while other processes
write (``kgctl ingest``).

LadybugDB lets a process open the file read-only while one writer holds it, but an open reader
does not see later commits and may read pages a checkpoint rewrote. ``GraphReader`` therefore
compares the store's ``change_token()`` (file identity, size, mtime of the database and its WAL)
before and after each read: a read during which the store changed is retried on a fresh
read-only open, so a caller only ever gets results from one committed state of the graph. Stores
that isolate readers themselves (Neo4j, token ``None``) are read as they are.

A store that disappears (file removed, server down) raises ``DatabaseUnavailable``; callers
such as the HTTP API answer 503.
"""

from __future__ import annotations

import threading
from typing import Callable, TypeVar

from kgrec.config import Settings
from kgrec.errors import ConnectionFailed, DatabaseNotFound, DatabaseUnavailable, KgrecError
from kgrec.kg.backend import Backend
from kgrec.kg.open import open_backend

T = TypeVar("T")


class GraphReader:
    """One read-only backend, reopened when another process changed the store.

    ``generation`` counts the opens; callers key their caches (popularity, embeddings) on it.
    Reads are serialised by a lock: one backend connection is not shared between threads.
    """

    def __init__(self, settings: Settings | str, *, retries: int = 3):
        self.settings = settings
        self.retries = retries
        self.generation = 0
        self._backend: Backend | None = None
        self._token: object | None = None
        self._lock = threading.RLock()

    def describe(self) -> str:
        with self._lock:
            return self._current().describe()

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
            self._backend = None

    def __enter__(self) -> "GraphReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _open(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        try:
            backend = open_backend(self.settings, read_only=True, create=False)
        except DatabaseNotFound as exc:
            raise DatabaseUnavailable(exc.message, exc.hint) from None
        except ConnectionFailed as exc:
            raise DatabaseUnavailable(exc.message, exc.hint) from None
        try:
            backend.ensure_schema()
        except KgrecError:
            backend.close()
            raise
        self._backend = backend
        self._token = backend.change_token()
        self.generation += 1

    def _current(self) -> Backend:
        backend = self._backend
        if backend is not None and not backend.is_available():
            self.close()
            raise DatabaseUnavailable(f"{backend.describe()} is gone", "restore the database file or point --db at another")
        if backend is None or backend.change_token() != self._token:
            self._open()
        return self._backend

    # ----------------------------------------------------------------- the one entry point
    def read(self, work: Callable[[Backend, int], T]) -> T:
        """Run ``work(backend, generation)`` on one consistent state of the graph and return its result."""
        with self._lock:
            for _ in range(self.retries + 1):
                backend = self._current()
                token = self._token
                try:
                    result = work(backend, self.generation)
                except KgrecError:
                    if not backend.is_available():
                        self.close()
                        raise DatabaseUnavailable(f"{backend.describe()} disappeared during the read") from None
                    if backend.change_token() != token:
                        continue  # the store changed under the read: retry on a fresh open
                    raise
                if backend.change_token() == token:
                    return result
            raise DatabaseUnavailable(
                f"{self._backend.describe() if self._backend else 'the graph store'} kept changing during the read",
                "a writer is committing continuously; retry shortly",
            )
