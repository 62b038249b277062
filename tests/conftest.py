"""Shared fixtures: a real embedded database in a temp folder (never a mock)."""

from __future__ import annotations

import os

import pytest

from kgrec.kg import open_backend


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
    return os.environ.get("KGREC_NEO4J_URI")


def pytest_report_header(config):
    uri = neo4j_uri()
    if uri:
        return "neo4j: tests run against KGREC_NEO4J_URI"
    return "neo4j: KGREC_NEO4J_URI is not set, so the live-Neo4j tests are skipped"
