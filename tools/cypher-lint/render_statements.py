"""Emit, as JSON, every Cypher statement the Neo4j backend runs, for Neo4j's parser to check.

The files are the ones ``CypherLibrary("neo4j")`` resolves (``kgrec/cypher/neo4j/*.cypher`` first,
then the shared ``kgrec/cypher/*.cypher``; ``kgrec/cypher/ladybug/`` is never read). A file with
``{{slot}}`` placeholders is filled through ``CypherLibrary.render`` exactly as the backend does,
with schema identifiers as sample values, once with every ``*_list`` slot empty and once with a
realistic fragment; a file without slots is split with ``split_statements`` as ``Backend.run`` does.

Output: ``[{"file", "name", "variant", "templated", "index", "count", "statement"}, ...]`` on stdout.
New files are picked up automatically; a slot name nobody has a sample for gets a guessed
identifier (reported on stderr) so the check still parses it.

Usage: python tools/cypher-lint/render_statements.py [--root DIR] > statements.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kgrec.kg.cypher import _SLOT, CYPHER_DIR, CypherLibrary, split_statements  # noqa: E402
from kgrec.kg.schema import load_schema  # noqa: E402


def sample_slots(name: str, slots: set[str]) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """Sample fillings for one template: (variant name, slot values) pairs and the guessed slot names."""
    schema = load_schema()
    rel = (
        schema.rel("INTERACTED") if "INTERACTED" in schema.relationships else next(iter(schema.relationships.values()))
    )
    label = "Product" if "Product" in schema.nodes else schema.labels[0]
    node_props = [p for p in schema.node(label).properties if p != "id"][:2]
    rel_props = list(rel.properties)[:2]
    identifiers = {"label": label, "rel_type": rel.name, "src_label": rel.src, "dst_label": rel.dst}
    # Fragments shaped as the Python side builds them (see kgrec/kg/backend.py export_*).
    fragments = {
        # templates over a relationship type return its properties as r.*, node templates as n.*
        "return_list": "".join(f", r.{p} AS {p}" for p in rel_props)
        if "rel_type" in slots
        else "".join(f", n.{p} AS {p}" for p in node_props),
    }
    guessed: list[str] = []
    base: dict[str, str] = {}
    for slot in sorted(s for s in slots if not s.endswith("_list")):
        if slot in identifiers:
            base[slot] = identifiers[slot]
            continue
        guessed.append(slot)
        if "src" in slot or "from" in slot:
            base[slot] = rel.src
        elif "dst" in slot or "to" in slot:
            base[slot] = rel.dst
        elif "rel" in slot or "type" in slot:
            base[slot] = rel.name
        elif "label" in slot:
            base[slot] = label
        else:
            base[slot] = "id"
    lists = sorted(s for s in slots if s.endswith("_list"))
    variants = [("plain", {**base, **{s: "" for s in lists}})]
    if lists:
        filled = {}
        for slot in lists:
            if slot in fragments:
                filled[slot] = fragments[slot]
            else:
                guessed.append(slot)
                filled[slot] = ""
        if any(filled.values()):
            variants.append(("with-properties", {**base, **filled}))
    return variants, guessed


def neo4j_statements(root: Path = CYPHER_DIR) -> list[dict]:
    library = CypherLibrary("neo4j", root=root)
    out: list[dict] = []
    for name in library.names():
        path = library.path(name)
        text = path.read_text(encoding="utf-8")
        slots = set(_SLOT.findall(text))
        try:
            shown = str(path.relative_to(REPO))
        except ValueError:
            shown = str(path)
        if slots:
            variants, guessed = sample_slots(name, slots)
            if guessed:
                print(
                    f"note: {shown}: no sample for slot(s) {', '.join(guessed)}; guessed values used", file=sys.stderr
                )
            rendered = [(variant, split_statements(library.render(name, **values))) for variant, values in variants]
        else:
            rendered = [("plain", library.statements(name))]
        for variant, statements in rendered:
            for i, stmt in enumerate(statements, 1):
                out.append(
                    {
                        "file": shown,
                        "name": name,
                        "variant": variant,
                        "templated": bool(slots),
                        "index": i,
                        "count": len(statements),
                        "statement": stmt,
                    }
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=CYPHER_DIR, help="the cypher folder (default: kgrec/cypher)")
    args = parser.parse_args(argv)
    json.dump(neo4j_statements(args.root), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
