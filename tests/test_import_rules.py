"""The package's import rules (kgrec/models/__init__.py), checked on the source: no import cycle
anywhere in kgrec, counting imports inside functions; model families import only the shared
layers, data, the base classes and the layers below kgrec.models; nothing inside kgrec.models
imports the workflows; models never import the training loop."""

from __future__ import annotations

import ast
from pathlib import Path

import kgrec

ROOT = Path(kgrec.__file__).parent
FAMILIES = ("general", "sequential", "content", "knowledge", "kgbm4rec")
FAMILY_MAY_IMPORT = ("kgrec.models.base", "kgrec.models.trainable", "kgrec.models.modality", "kgrec.models.nn",
                     "kgrec.models.data", "kgrec.kg", "kgrec.errors", "kgrec.config")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """kgrec modules imported anywhere in the file (module level and inside functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for t in targets:
            while t and t not in known:  # kgrec.models.x.Name -> kgrec.models.x
                t = t.rpartition(".")[0]
            if t.startswith("kgrec") and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(path, name, set(mods)) for name, path in mods.items()}


def test_no_import_cycle_anywhere():
    graph = _graph()
    # a package's __init__ importing its own submodules is not a dependency of the submodules on it
    edges = {m: {t for t in ts
                 if not (m.startswith(t + ".") and (ROOT.parent / Path(*t.split(".")) / "__init__.py").exists()
                         and not graph.get(t, set()) - {m})}
             for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_model_families_import_only_layers_data_and_bases():
    bad = []
    for name, targets in _graph().items():
        family = name.split(".")[2] if name.startswith("kgrec.models.") and name.count(".") >= 2 else None
        if family not in FAMILIES:
            continue
        for t in targets:
            if t.startswith(f"kgrec.models.{family}") or t == "kgrec.models":
                continue
            if not any(t == ok or t.startswith(ok + ".") for ok in FAMILY_MAY_IMPORT):
                bad.append(f"{name} imports {t}")
    assert not bad, "\n".join(bad)


def test_nothing_in_models_imports_workflows_and_models_never_import_training():
    bad = []
    for name, targets in _graph().items():
        if not name.startswith("kgrec.models") or name.startswith("kgrec.models.workflows"):
            continue
        for t in targets:
            if t.startswith("kgrec.models.workflows"):
                bad.append(f"{name} imports {t}")
            if t.startswith("kgrec.models.training") and not name.startswith("kgrec.models.training"):
                bad.append(f"{name} imports the training loop ({t})")
    assert not bad, "\n".join(bad)


def test_lower_layers_never_import_upper_ones():
    order = ["kgrec.config", "kgrec.kg", "kgrec.etl", "kgrec.embed", "kgrec.models", "kgrec.serve", "kgrec.cli"]
    allowed_peer = {("kgrec.embed", "kgrec.models"), ("kgrec.models", "kgrec.embed")}  # same layer, must not cycle
    bad = []
    for name, targets in _graph().items():
        layer = next((i for i, p in enumerate(order) if name == p or name.startswith(p + ".")), None)
        if layer is None:
            continue
        for t in targets:
            tl = next((i for i, p in enumerate(order) if t == p or t.startswith(p + ".")), None)
            if tl is not None and tl > layer and (order[layer], order[tl]) not in allowed_peer:
                bad.append(f"{name} imports {t}")
    assert not bad, "\n".join(bad)
