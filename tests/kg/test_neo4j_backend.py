"""The Neo4j backend without a server: the real driver against closed and silent loopback ports.

What needs a live server is in test_backend_contract.py (runs when KGREC_NEO4J_URI is set).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from kgrec.config import redact_uri, split_uri_credentials
from kgrec.errors import (
    AuthenticationFailed,
    ConfigError,
    ConnectionFailed,
    CypherError,
    DatabaseNotFound,
    ReadOnlyViolation,
)
from kgrec.kg import open_backend
from kgrec.kg.neo4j_backend import _IN_TRANSACTIONS, _bare, _connection_reason, translate_error

SECRET = "s3cr3t-Pa55"


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there any more
    return port


def _kgctl(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KGREC_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kgrec.cli.main", *args], capture_output=True, text=True, env=full_env, timeout=120
    )


@pytest.mark.parametrize("debug", [False, True])
def test_unreachable_server_is_one_line_without_credentials(debug):
    port = _closed_port()
    flags = ["--debug"] if debug else []
    runs = [
        _kgctl(*flags, "--db", f"bolt://kgrec:{SECRET}@127.0.0.1:{port}", "stats"),
        _kgctl(*flags, "--db", f"bolt://127.0.0.1:{port}", "stats", env={"KGREC_NEO4J_PASSWORD": SECRET}),
        _kgctl(*flags, "stats", env={"KGREC_DB": f"neo4j://kgrec:{SECRET}@127.0.0.1:{port}"}),
    ]
    for run in runs:
        out = run.stdout + run.stderr
        assert run.returncode != 0
        assert SECRET not in out
        assert "cannot reach Neo4j at " in out and f"127.0.0.1:{port}" in out
        if not debug:
            assert run.stderr.count("\n") == 1 and run.stderr.startswith("error: "), run.stderr
            assert "Connection refused" in run.stderr or "routing" in run.stderr


def test_silent_server_fails_within_the_connect_timeout():
    """A port that accepts TCP but never speaks Bolt: ConnectionFailed, not a hang."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        start = time.monotonic()
        run = _kgctl("--db", f"bolt://127.0.0.1:{port}", "stats", env={"KGREC_NEO4J_CONNECT_TIMEOUT": "1"})
        elapsed = time.monotonic() - start
    assert run.returncode == 1
    assert "cannot reach Neo4j" in run.stderr and "handshake" in run.stderr
    assert elapsed < 30  # a hang guard: the driver's own default would wait 60 s


def test_open_backend_raises_connection_failed_in_python():
    with pytest.raises(ConnectionFailed, match="cannot reach") as info:
        open_backend(f"bolt://kgrec:{SECRET}@127.0.0.1:{_closed_port()}")
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unsupported_uri_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="Neo4j URI") as info:
        open_backend(f"http://kgrec:{SECRET}@localhost:7474")
    assert SECRET not in str(info.value)


def test_uri_credentials_are_split_off():
    assert split_uri_credentials("bolt://bob:pw@db.example:7687") == ("bolt://db.example:7687", "bob", "pw")
    assert split_uri_credentials("neo4j+s://bob@x.io") == ("neo4j+s://x.io", "bob", None)
    assert split_uri_credentials("bolt://a%40b:p%3Aw%2F@h") == ("bolt://h", "a@b", "p:w/")
    assert split_uri_credentials("bolt://localhost:7687") == ("bolt://localhost:7687", None, None)
    assert redact_uri(f"neo4j://u:{SECRET}@h:7687/?policy=x") == "neo4j://h:7687/?policy=x"


def test_auto_commit_detection_for_in_transactions():
    assert _IN_TRANSACTIONS.search("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS")
    assert _IN_TRANSACTIONS.search("CALL { MATCH (n) SET n.x = 1 } in 4 concurrent transactions")
    assert not _IN_TRANSACTIONS.search(_bare("RETURN 'IN TRANSACTIONS' AS s // IN TRANSACTIONS"))


def test_connection_reason_is_short():
    refused = (
        "Couldn't connect to 127.0.0.1:1 (resolved to ('127.0.0.1:1',)):\n"
        "Failed to establish connection to ResolvedIPv4Address(('127.0.0.1', "
        "1)) (reason [Errno 111] Connection refused)"
    )
    assert _connection_reason(refused) == "[Errno 111] Connection refused"
    silent = (
        "Couldn't connect to 127.0.0.1:5 (resolved to ('127.0.0.1:5',)):\nFailed to read four byte Bolt handshake "
        "response from server ResolvedIPv4Address(('127.0.0.1', 5)) (deadline Deadline(timeout=2.0))"
    )
    assert _connection_reason(silent) == "Failed to read four byte Bolt handshake response from server 127.0.0.1:5"


@pytest.mark.parametrize(
    "code, message, expected, text",
    [
        (
            "Neo.ClientError.Statement.SyntaxError", "Invalid input 'RETURN': expected ')'\n\"MATCH (u RETURN u\"",
            CypherError,
            "Cypher syntax error: Invalid input",
        ),
        (
            "Neo.ClientError.Security.Unauthorized", "The client is unauthorized due to authentication failure.",
            AuthenticationFailed,
            "refused the user name or password",
        ),
        (
            "Neo.ClientError.Security.AuthenticationRateLimit", "too many attempts",
            AuthenticationFailed,
            "too many attempts",
        ),
        (
            "Neo.ClientError.Statement.AccessMode", "Writing in read access mode not allowed.",
            ReadOnlyViolation,
            "--write",
        ),
        (
            "Neo.ClientError.Database.DatabaseNotFound", "Database does not exist. Database name: 'nope'.",
            DatabaseNotFound,
            "no database 'nope'",
        ),
        (
            "Neo.ClientError.Schema.ConstraintValidationFailed", "Node(1) already exists with label `User`",
            CypherError,
            "constraint violated",
        ),
        ("Neo.TransientError.General.DatabaseUnavailable", "database is unavailable", ConnectionFailed, "try again"),
        (
            "Neo.ClientError.Statement.ParameterMissing", "Expected parameter(s): id",
            CypherError,
            "[Neo.ClientError.Statement.ParameterMissing]",
        ),
    ],
)
def test_server_errors_become_one_line_kgrec_errors(code, message, expected, text):
    """Errors built by the driver's own factory from a server FAILURE message, as on the wire."""
    from neo4j.exceptions import Neo4jError

    exc = Neo4jError._hydrate_neo4j(code=code, message=message)
    err = translate_error(exc, where="Neo4j at bolt://h:7687", database="nope")
    assert type(err) is expected
    assert text in err.one_line() and "\n" not in err.one_line()


def test_non_driver_exceptions_are_not_swallowed():
    with pytest.raises(ZeroDivisionError):
        translate_error(ZeroDivisionError("bug"), where="x")


def test_tests_empty_neo4j_by_kgrec_labels_only():
    """The live tests share a database with whatever else it holds: they delete kgrec-labelled
    nodes (``delete_kgrec_nodes``, label-restricted named Cypher), never every node."""
    import re
    from pathlib import Path

    from kgrec.kg.cypher import CypherLibrary

    statement = " ".join(CypherLibrary("neo4j").statements("delete_kgrec_nodes")[0].split())
    assert statement.startswith("MATCH (n) WHERE any(label IN labels(n) WHERE label IN $labels)")
    assert "DETACH DELETE n" in statement and _IN_TRANSACTIONS.search(statement)
    wipe = re.compile(r"""\.execute\(\s*["']MATCH\s*\(\w+\)\s*(CALL|DETACH|DELETE)""", re.IGNORECASE)
    offenders = [str(p) for p in Path(__file__).resolve().parents[1].rglob("*.py") if wipe.search(p.read_text())]
    assert offenders == []
