"""Upgrade a database written by an older kgrec to ``SCHEMA_VERSION`` in place, keeping its data.

``kgctl init`` (``Backend.init_schema``) runs the steps from the database's ``Meta schema_version``
up to the current one; other commands refuse an older database with a message saying so
(``Backend.ensure_schema``). Each step is idempotent and ``schema_version`` is written only after
its step has finished, so a step interrupted at any point is simply run again by the next
``kgctl init`` and ends where an uninterrupted run does.

Steps:

* **1 -> 2**: ``INTERACTED.seq``, the ingest order that breaks ties in time
  (``kgrec.kg.interaction_order``). LadybugDB adds the column (``ALTER TABLE ... ADD IF NOT
  EXISTS seq INT64``; Neo4j needs no DDL for a new property); then every interaction without a
  number gets one, in the order (timestamp, user id, product id, behavior).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kgrec.kg.cypher import CypherLibrary
from kgrec.kg.interaction_order import Store, fill_missing_seq
from kgrec.kg.schema import SCHEMA_VERSION


class MigratingStore(Store, Protocol):
    """The part of ``kgrec.kg.backend.Backend`` a migration uses (the Backend imports this module)."""

    cypher: CypherLibrary

    def set_meta(self, key: str, value: str) -> None: ...

    def _check_writable(self) -> None: ...


def _interaction_seq(backend: MigratingStore) -> None:
    if "add_interaction_seq" in backend.cypher.names():  # a dialect whose tables need the column declared
        backend.run("add_interaction_seq", write=True)
    fill_missing_seq(backend)


# version reached -> the step that reaches it from the version before
STEPS: dict[int, Callable[[MigratingStore], None]] = {2: _interaction_seq}


def migrate(backend: MigratingStore, found: int) -> list[int]:
    """Run the steps from version ``found`` to ``SCHEMA_VERSION``; returns the versions reached."""
    reached = []
    for version in range(found + 1, SCHEMA_VERSION + 1):
        backend._check_writable()
        STEPS[version](backend)
        backend.set_meta("schema_version", str(version))
        reached.append(version)
    return reached
