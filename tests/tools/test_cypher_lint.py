"""The CI syntax check of the Neo4j Cypher files by Neo4j's own parser (tools/cypher-lint)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kgrec.kg.cypher import CYPHER_DIR

LINT_DIR = Path(__file__).resolve().parents[2] / "tools" / "cypher-lint"
PARSER = LINT_DIR / "node_modules" / "@neo4j-cypher" / "language-support" / "package.json"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so Neo4j's Cypher parser cannot run (install Node.js >= 20)")
    if not PARSER.exists():
        pytest.skip(f"the parser is not installed: run `npm ci` in {LINT_DIR} (make cypher-lint does)")
    return node


def _render(root: Path) -> list[dict]:
    out = subprocess.run(
        [sys.executable, str(LINT_DIR / "render_statements.py"), "--root", str(root)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout)


def _lint(node: str, items: list[dict], tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "statements.json"
    path.write_text(json.dumps(items))
    return subprocess.run([node, str(LINT_DIR / "lint.mjs"), str(path)], capture_output=True, text=True, timeout=300)


def test_statements_cover_shared_and_neo4j_files_but_not_ladybug():
    items = _render(CYPHER_DIR)
    files = {Path(i["file"]).as_posix() for i in items}
    assert "kgrec/cypher/neo4j/schema.cypher" in files
    assert "kgrec/cypher/meta_get.cypher" in files
    assert not any("/ladybug/" in f for f in files)
    # every slot is filled, with identifiers the schema knows
    assert not any("{{" in i["statement"] for i in items)
    exports = [i["statement"] for i in items if i["name"] == "export_relationships"]
    assert any(", r.timestamp AS timestamp" in s for s in exports)
    # the schema file is split into statements as Backend.run does
    schema = [i for i in items if i["file"].endswith("neo4j/schema.cypher")]
    assert len(schema) == schema[0]["count"] > 5


def test_real_files_pass(tmp_path):
    node = _node()
    result = _lint(node, _render(CYPHER_DIR), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "are valid CYPHER 5" in result.stdout


def test_broken_statement_fails_with_file_statement_and_error(tmp_path):
    node = _node()
    root = tmp_path / "cypher"
    shutil.copytree(CYPHER_DIR, root)
    (root / "neo4j" / "broken_query.cypher").write_text(
        "// first statement fine, second misses a parenthesis\nRETURN 1 AS one;\nMATCH (n:User RETURN n;\n"
    )
    (root / "broken_template.cypher").write_text("MATCH (n:{{label}}) RETURN n.id AS id{{return_list}} LIMIT\n")
    (root / "undefined_variable.cypher").write_text("MATCH (n:User) RETURN m\n")
    # Neo4j 4 syntax that Cypher 5 removed
    (root / "neo4j" / "old_constraint.cypher").write_text("CREATE CONSTRAINT ON (n:User) ASSERT n.id IS UNIQUE;\n")
    # LadybugDB-only syntax is not Neo4j's business
    (root / "ladybug" / "only_here.cypher").write_text("CREATE NODE TABLE X(id STRING, PRIMARY KEY(id));\n")
    result = _lint(node, _render(root), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    assert "neo4j/broken_query.cypher: statement 2 of 2" in err
    assert "Invalid input 'RETURN'" in err
    assert "MATCH (n:User RETURN n" in err  # the statement itself
    # a template is checked as rendered, with schema identifiers in its slots
    assert "broken_template.cypher: statement 1 of 1" in err and "MATCH (n:Product) RETURN n.id AS id LIMIT" in err
    assert "undefined_variable.cypher: statement 1 of 1" in err and "Variable `m` not defined" in err
    assert "old_constraint.cypher: statement 1 of 1" in err and "ASSERT" in err
    assert "only_here" not in err
    assert "statement 1 of 2" not in err  # the valid statement of the broken file passes
