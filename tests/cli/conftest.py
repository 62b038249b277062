"""Fixtures for the CLI tests: small real graphs in a fresh embedded database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kgrec.kg import open_backend
from tests.models._kgbm_graph import build_tiny_graph as build_kgbm_graph
from tests.models.conftest import build_tiny_graph as build_interactions_graph


def _database_with(db_path: str, build: Callable) -> str:
    with open_backend(db_path) as b:
        b.init_schema()
        build(b)
    return db_path


@pytest.fixture
def tiny_db(db_path):
    """The tiny interaction graph of the model tests (16 users)."""
    return _database_with(db_path, build_interactions_graph)


@pytest.fixture
def kg_db(db_path):
    """The tiny KGBM4Rec graph (KG + text, no image vectors)."""
    return _database_with(db_path, build_kgbm_graph)
