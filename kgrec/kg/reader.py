"""Read-only access to the graph for long-running readers (the HTTP server) while other processes
write (``kgctl ingest``).

What LadybugDB does (measured, see docs/design/storage.md#serving-while-ingesting): a process may
open the file read-only while a writer holds it and sees everything committed at that moment (the
WAL is replayed in memory); it does not see later commits; while a writer checkpoints, read-only
opens are refused ("checkpoint recovery is pending"); a checkpoint rewrites the main file in place.

``GraphReader`` builds on that:

- before a read, when the store's ``change_token()`` moved (new commits), it reopens to see them;
  if the reopen is refused because a writer is checkpointing, it retries briefly, and meanwhile
  keeps the open backend as long as the main file (``storage_token()``) is unchanged, which is a
  consistent earlier snapshot;
- after a read, when ``storage_token()`` moved (the main file was rewritten under the read), the
  result is thrown away and the read runs again on a fresh open, so a caller only ever gets
  results from one committed state of the graph.

While the reader keeps its open snapshot because reopening fails (a writer is checkpointing),
and that has lasted longer than ``reopen_wait_s``, it says so in ``stale`` (the HTTP ``/health``
reports "degraded" with the reason); ``stale`` clears as soon as an open succeeds. The snapshot
is only kept while the main file is unchanged, so it is always one consistent state; when the
main file was rewritten and no open succeeds within ``reopen_wait_s``, reads fail
(``DatabaseUnavailable``) rather than read a file that changed under them. A writer that died in
its checkpoint is recovered by the first open when no live process holds the write lock
(``LadybugBackend``), so that case heals by itself.

Stores that isolate readers themselves (Neo4j: tokens are ``None``) are read as they are. A store
that is gone (file removed, server down) raises ``DatabaseUnavailable``; the HTTP API answers 503.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from kgrec.config import Settings
from kgrec.errors import ConnectionFailed, DatabaseLocked, DatabaseNotFound, DatabaseUnavailable, KgrecError
from kgrec.kg.backend import Backend
from kgrec.kg.open import open_backend

T = TypeVar("T")
log = logging.getLogger("kgrec.kg.reader")


@dataclasses.dataclass(frozen=True)
class Staleness:
    """Why the reader serves an older snapshot than the store holds, and since when (Unix time)."""

    reason: str
    since: float

    def to_dict(self) -> dict:
        return {"reason": self.reason, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
                "seconds": round(time.time() - self.since, 1)}


class GraphReader:
    """One read-only backend, reopened when another process committed to the store.

    ``generation`` counts the opens; callers key their caches (popularity, embeddings) on it.
    Reads are serialised by a lock: one backend connection is not shared between threads.
    """

    def __init__(self, settings: Settings | str, *, reopen_wait_s: float = 5.0):
        self.settings = settings
        self.reopen_wait_s = reopen_wait_s
        self.generation = 0
        self.stale: Staleness | None = None  # set while an older snapshot is served for long
        self._kept_since: float | None = None  # first failed reopen while keeping the snapshot
        self._backend: Backend | None = None
        self._token: object | None = None
        self._storage: object | None = None
        self._lock = threading.RLock()

    def describe(self) -> str:
        with self._lock:
            return self._current().describe()

    @property
    def is_open(self) -> bool:
        """False before the first read and after the store was found gone (or ``close``)."""
        return self._backend is not None

    def has_news(self) -> bool:
        """True when another process committed since the open backend was opened, i.e. the next
        read would reopen (False for stores without a change token). Lock-free: a few ``stat``
        calls, so a caller can ask while another thread holds a long read."""
        backend = self._backend
        if backend is None:
            return True
        try:
            return backend.change_token() != self._token
        except Exception:  # the backend was closed under us by a reopen: the next read tells
            return True

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
            self._backend = None

    def __enter__(self) -> GraphReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _open_once(self) -> Backend:
        try:
            backend = open_backend(self.settings, read_only=True, create=False)
        except (DatabaseNotFound, ConnectionFailed) as exc:
            raise DatabaseUnavailable(exc.message, exc.hint) from None
        try:
            backend.ensure_schema()
        except KgrecError:
            backend.close()
            raise
        return backend

    def _reopen(self, *, keep_old: bool) -> None:
        """Open afresh. While a writer checkpoints, opens are refused (or, rarely, fail inside the
        engine); with ``keep_old`` the current backend stays in use, otherwise retry with backoff
        until ``reopen_wait_s``."""
        deadline = time.monotonic() + self.reopen_wait_s
        delay = 0.01
        while True:
            try:
                fresh = self._open_once()
                break
            except (DatabaseLocked, DatabaseUnavailable) as exc:
                if keep_old:
                    log.debug("kept the open snapshot: %s", exc.message)
                    self._note_kept(exc)
                    return
                gone = self._backend is not None and not self._backend.is_available()
                if gone or time.monotonic() >= deadline:
                    raise DatabaseUnavailable(exc.message, exc.hint) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        self._swap(fresh)

    def _swap(self, fresh: Backend) -> None:
        """Start reading ``fresh`` (a new generation); the old backend is closed."""
        old, self._backend = self._backend, fresh
        if old is not None:
            old.close()
        self._token = fresh.change_token()
        self._storage = fresh.storage_token()
        self.generation += 1
        if self.stale is not None:
            log.warning("graph store readable again after %.1f s on an older snapshot", time.time() - self.stale.since)
        self.stale = None
        self._kept_since = None

    def _note_kept(self, exc: KgrecError) -> None:
        """A reopen failed and the consistent older snapshot stays in use; past ``reopen_wait_s`` say so."""
        now = time.time()
        if self._kept_since is None:
            self._kept_since = now
        if self.stale is None and now - self._kept_since >= self.reopen_wait_s:
            self.stale = Staleness(f"answering from the last good snapshot: {exc.message}", self._kept_since)
            log.warning("graph store cannot be reopened (%s); answering from the last good snapshot", exc.message)

    def _current(self) -> Backend:
        backend = self._backend
        if backend is not None and not backend.is_available():
            self.close()
            raise DatabaseUnavailable(
                f"{backend.describe()} is gone", "restore the database file or point --db at another"
            )
        if backend is None:
            self._reopen(keep_old=False)
        elif backend.change_token() != self._token:
            # new commits: see them if we can; the old snapshot is still sound while the main file is unchanged
            self._reopen(keep_old=backend.storage_token() == self._storage)
        assert self._backend is not None  # _reopen sets it or raises
        return self._backend

    # ----------------------------------------------------------------- the one entry point
    def read(self, work: Callable[[Backend, int], T]) -> T:
        """Run ``work(backend, generation)`` on one consistent state of the graph and return its result.

        A read that a writer's checkpoint overlapped is run again (with backoff) until it fits
        between two checkpoints, for at most ``reopen_wait_s``.
        """
        with self._lock:
            deadline = time.monotonic() + self.reopen_wait_s
            delay = 0.005
            while True:
                backend = self._current()
                storage = self._storage
                try:
                    result = work(backend, self.generation)
                except KgrecError:
                    if not backend.is_available():
                        self.close()
                        raise DatabaseUnavailable(f"{backend.describe()} disappeared during the read") from None
                    if backend.storage_token() == storage:
                        raise
                else:
                    if backend.storage_token() == storage:
                        return result
                # the main file was rewritten under the read: drop the result, run it again
                if time.monotonic() >= deadline:
                    raise DatabaseUnavailable(
                        f"{backend.describe()} kept changing during the read",
                        "a writer is checkpointing continuously; retry shortly",
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
                self._reopen(keep_old=False)
