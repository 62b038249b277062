"""Shared fixtures: real databases, never mocks.

``backend``/``db_path``: an embedded LadybugDB in a temp folder.
``store``: one per configured backend (the contract tests in tests/kg/test_backend_contract.py
run against each): the embedded database always; Neo4j when ``KGREC_NEO4J_URI`` is set
(with ``KGREC_NEO4J_USER``/``KGREC_NEO4J_PASSWORD``/``KGREC_NEO4J_DATABASE``). The Neo4j database
is wiped of kgrec's labels before each test: point it at a throwaway server or database.
"""

from __future__ import annotations

import os

import pytest

from kgrec.kg import open_backend

NEO4J_SKIP_REASON = "KGREC_NEO4J_URI is not set, so there is no live Neo4j to test against (docs/design/neo4j.md)"


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "kg.db")


@pytest.fixture
def backend(db_path):
    b = open_backend(db_path)
    b.init_schema()
    yield b
    b.close()


def neo4j_uri() -> str | None:
    return os.environ.get("KGREC_NEO4J_URI") or None


def neo4j_settings() -> dict:
    return {
        "user": os.environ.get("KGREC_NEO4J_USER") or "neo4j",
        "password": os.environ.get("KGREC_NEO4J_PASSWORD"),
        "database": os.environ.get("KGREC_NEO4J_DATABASE") or None,
    }


class Store:
    """Opens handles on one test graph store; ``kind`` is 'ladybug' or 'neo4j'."""

    def __init__(self, kind: str, tmp_path):
        self.kind = kind
        self.path = str(tmp_path / "kg.db")
        self._open: list = []

    def open(self, *, read_only: bool = False):
        if self.kind == "ladybug":
            b = open_backend(self.path, read_only=read_only)
        else:
            from kgrec.kg.neo4j_backend import Neo4jBackend

            b = Neo4jBackend(neo4j_uri(), read_only=read_only, **neo4j_settings())
        self._open.append(b)
        return b

    def clear(self) -> None:
        """Delete every node with a kgrec label (constraints stay; init_schema is idempotent)."""
        if self.kind != "neo4j":
            return
        b = self.open()
        b.delete_kgrec_nodes()
        b.close()

    def close_all(self) -> None:
        for b in self._open:
            b.close()


@pytest.fixture(params=["ladybug", "neo4j"])
def store(request, tmp_path):
    if request.param == "neo4j" and not neo4j_uri():
        pytest.skip(NEO4J_SKIP_REASON)
    s = Store(request.param, tmp_path)
    s.clear()
    yield s
    s.close_all()


@pytest.fixture
def any_backend(store):
    """An initialised, empty backend of each configured kind."""
    b = store.open()
    b.init_schema()
    return b


def pytest_report_header(config):
    if neo4j_uri():
        return "neo4j: the backend contract tests also run against KGREC_NEO4J_URI"
    return "neo4j: KGREC_NEO4J_URI is not set, so the live-Neo4j tests are skipped"


@pytest.fixture
def one_torch_thread():
    """Tiny models: one torch thread is many times faster than two on a shared 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
