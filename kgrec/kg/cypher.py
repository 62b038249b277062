"""Loads named Cypher from ``kgrec/cypher/``: a dialect sub-folder first, then the shared files.

Queries are always parameterised (``$name``). A few bulk and export statements need a label or
relationship type where Cypher takes no parameter; those files use ``{{placeholder}}`` slots that
``render`` fills only with identifiers checked against the schema, never with user values.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from kgrec.errors import UnknownQuery

CYPHER_DIR = Path(__file__).resolve().parent.parent / "cypher"
DIALECTS = ("ladybug", "neo4j")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SLOT = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//")).strip()


def split_statements(text: str) -> list[str]:
    """Split a file into statements on ``;`` at line ends (our files put one statement per line group)."""
    parts = re.split(r";\s*(?:\n|$)", _strip_comments(text))
    return [p.strip() for p in parts if p.strip()]


def check_identifier(value: str) -> str:
    if not isinstance(value, str) or not _IDENT.match(value):
        raise ValueError(f"not a valid Cypher identifier: {value!r}")
    return value


class CypherLibrary:
    """The named queries of one dialect."""

    def __init__(self, dialect: str, root: Path = CYPHER_DIR):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown Cypher dialect {dialect!r}; expected one of {DIALECTS}")
        self.dialect = dialect
        self.root = root

    def path(self, name: str) -> Path:
        check_identifier(name)
        for candidate in (self.root / self.dialect / f"{name}.cypher", self.root / f"{name}.cypher"):
            if candidate.exists():
                return candidate
        raise UnknownQuery(
            f"no Cypher query named {name!r} for {self.dialect}",
            f"known: {', '.join(self.names())}",
        )

    def names(self) -> list[str]:
        found = {p.stem for p in self.root.glob("*.cypher")} | {
            p.stem for p in (self.root / self.dialect).glob("*.cypher")
        }
        return sorted(found)

    def text(self, name: str) -> str:
        return _read(self.path(name))

    def statements(self, name: str) -> list[str]:
        return split_statements(self.text(name))

    def render(self, name: str, **slots: str) -> str:
        """The query text with its ``{{slot}}`` placeholders filled by checked identifiers or lists of them."""
        text = _strip_comments(self.text(name))

        def fill(match: re.Match) -> str:
            key = match.group(1)
            if key not in slots:
                raise KeyError(f"query {name!r} needs slot {key!r}")
            return slots[key]

        for key, value in slots.items():
            if not key.endswith("_list"):
                check_identifier(value)
        return _SLOT.sub(fill, text)


@lru_cache(maxsize=256)
def _read_cached(path: str, mtime: float) -> str:
    return Path(path).read_text(encoding="utf-8")


def _read(path: Path) -> str:
    return _read_cached(str(path), path.stat().st_mtime)
