"""Fixtures for the CLI tests: the tiny real KGBM4Rec graph in an embedded database."""

from __future__ import annotations

import pytest

from kgrec.kg import open_backend
from tests.models._kgbm_graph import build_tiny_graph


@pytest.fixture
def kg_db(db_path):
    """The tiny KGBM4Rec graph (KG + text, no image vectors) in a fresh embedded database."""
    with open_backend(db_path) as b:
        b.init_schema()
        build_tiny_graph(b)
    return db_path
