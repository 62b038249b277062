"""kgctl init / stats / cypher through click's runner on a real embedded database."""

from __future__ import annotations

import json

from click.testing import CliRunner

from kgrec.cli.main import cli


def kgctl(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_help_lists_commands():
    out = kgctl("--help").output
    for name in ("init", "stats", "cypher"):
        assert name in out


def test_stats_on_missing_db_is_one_clear_line(db_path):
    res = kgctl("--db", db_path, "stats")
    assert res.exit_code != 0
    assert "kgctl init" in res.output and "Traceback" not in res.output


def test_init_twice_and_stats_json_empty(db_path):
    assert "created" in kgctl("--db", db_path, "init").output
    assert "already initialised" in kgctl("--db", db_path, "init").output
    res = kgctl("--db", db_path, "stats", "--json")
    data = json.loads(res.output)
    assert data["nodes"]["User"] == 0 and data["relationships"]["INTERACTED"] == 0


def test_cypher_read_only_by_default_then_write(db_path):
    kgctl("--db", db_path, "init")
    res = kgctl("--db", db_path, "cypher", "CREATE (:User {id: $id})", "-p", "id=u1")
    assert res.exit_code != 0 and "--write" in res.output
    res = kgctl(
        "--db", db_path, "cypher", "--write", "CREATE (:User {id: $id, age: $age})", "-p", "id=u1", "-p", "age=33"
    )
    assert res.exit_code == 0, res.output
    res = kgctl("--db", db_path, "cypher", "MATCH (u:User) RETURN u.id AS id, u.age AS age", "--json")
    assert json.loads(res.output) == [{"id": "u1", "age": 33}]
    res = kgctl("--db", db_path, "cypher", "MATCH (u:User) RETURN u.id AS id", "--csv")
    assert res.output.splitlines() == ["id", "u1"]
    assert json.loads(kgctl("--db", db_path, "stats", "--json").output)["nodes"]["User"] == 1


def test_cypher_syntax_error_exit_code(db_path):
    kgctl("--db", db_path, "init")
    res = kgctl("--db", db_path, "cypher", "MATCH (u:User RETURN u")
    assert res.exit_code != 0 and "error:" in res.output and "Traceback" not in res.output


def test_interactive_shell_reads_statements(db_path):
    kgctl("--db", db_path, "init")
    script = "RETURN 1 AS one;\nMATCH (u RETURN u;\nRETURN\n 2 AS two;\n:quit\n"
    res = kgctl("--db", db_path, "cypher", input=script)
    assert "one" in res.output and "two" in res.output and "error:" in res.output
