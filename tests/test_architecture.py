"""The package's architecture, checked from its import graph.

Every import counts: at module level, inside functions (a lazy import still runs) and
under ``TYPE_CHECKING``. Arrows point down only: the CLI over training and evaluation,
over decoding, over the model core; data beside the models; the research tooling
(``bench``, ``lab``) over everything and imported by none of it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seq2seq_jax"
TOOLING = ("seq2seq_jax.bench", "seq2seq_jax.lab")
BASE = ("seq2seq_jax.constants", "seq2seq_jax.errors", "seq2seq_jax.files", "seq2seq_jax.layout")
# What each part of the core may import from the package, besides itself and BASE.
LAYERS = {
    "seq2seq_jax.constants": (),
    "seq2seq_jax.errors": (),
    "seq2seq_jax.files": (),
    "seq2seq_jax.layout": (),
    "seq2seq_jax.models": (),
    "seq2seq_jax.data": (),
    "seq2seq_jax.decoding": ("seq2seq_jax.models",),
    "seq2seq_jax.parallel": (),
    "seq2seq_jax.config": ("seq2seq_jax.models", "seq2seq_jax.data"),
    "seq2seq_jax.configs": ("seq2seq_jax.config",),
    "seq2seq_jax.evaluation": ("seq2seq_jax.models", "seq2seq_jax.decoding",
                               "seq2seq_jax.data", "seq2seq_jax.parallel", "seq2seq_jax.config"),
    "seq2seq_jax.training": ("seq2seq_jax.models", "seq2seq_jax.decoding", "seq2seq_jax.data",
                             "seq2seq_jax.parallel", "seq2seq_jax.config",
                             "seq2seq_jax.evaluation"),
    "seq2seq_jax.inference": ("seq2seq_jax.models", "seq2seq_jax.data", "seq2seq_jax.config",
                              "seq2seq_jax.evaluation", "seq2seq_jax.training"),
}
# The one arrow from the core into the tooling: ``seq2seq-jax bench`` hands its arguments
# to the benchmark harness, imported only when that subcommand runs.
ALLOWED = {("seq2seq_jax.cli.parser", "seq2seq_jax.bench.harness")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, names: set[str]) -> set[str]:
    """The package modules ``path`` imports, resolved to module names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in candidates:
            if name in names:
                found.add(name)
            elif name.rpartition(".")[0] in names and "." in name:
                found.add(name.rpartition(".")[0])
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    names = set(mods)
    out = {}
    for name, path in mods.items():
        deps = imports_of(path, names) - {name}
        # a package's __init__ is imported with each of its modules: not an edge of interest
        out[name] = {d for d in deps if not name.startswith(d + ".")}
    return out


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_graph_is_read():
    g = graph()
    assert "seq2seq_jax.models.transformer" in g["seq2seq_jax.models.registry"]
    assert "seq2seq_jax.decoding.beam" in g["seq2seq_jax.decoding.decode"]
    assert len(g) > 40


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(g[node]):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_core_never_imports_the_tooling():
    bad = [(a, b) for a, deps in graph().items() for b in deps
           if not any(under(a, t) for t in TOOLING) and any(under(b, t) for t in TOOLING)
           and (a, b) not in ALLOWED]
    assert bad == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_arrows_point_down(layer):
    allowed = (layer, *BASE, *LAYERS[layer])
    bad = [(a, b) for a, deps in graph().items() if under(a, layer) for b in deps
           if not any(under(b, ok) for ok in allowed)]
    assert bad == []


def test_the_top_level_shows_the_roles():
    top = [p.name for p in PACKAGE.glob("*.py")]
    packages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    assert len(top) <= 10, top
    assert {"models", "decoding", "data", "training", "evaluation", "cli"} <= set(packages)


def test_no_library_file_holds_a_machine_path():
    bad = [str(p) for p in PACKAGE.rglob("*.py")
           if any(s in p.read_text() for s in ("../shared", "/work/", "/home/"))]
    assert bad == []


GLOSSARY = {"B", "S", "T", "M", "V", "E", "H", "C", "Q", "A", "D", "N", "Dh", "F", "Y", "K",
            "R"}


def test_the_shape_glossary_is_the_one_in_models_interface():
    doc = (PACKAGE / "models" / "interface.py").read_text()
    rows = {line.split()[0] for line in doc.splitlines()
            if line[:1].isupper() and len(line.split()[0]) <= 2 and "  " in line}
    assert GLOSSARY - {"Dh"} <= rows


@pytest.mark.parametrize("part", ["models", "decoding", "evaluation", "training", "data"])
def test_shape_comments_use_only_the_glossary(part):
    """``[B, R, T]``-style shapes name axes by the glossary's letters, each one meaning."""
    shape = re.compile(r"\[((?:[0-9]*[A-Z][a-z]?|\.\.\.)(?:, *(?:[0-9]*[A-Z][a-z]?|\.\.\.))*)\]")
    bad = []
    for path in sorted((PACKAGE / part).rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for match in shape.finditer(line):
                axes = [a.strip().lstrip("0123456789") for a in match.group(1).split(",")]
                unknown = [a for a in axes if a != "..." and a not in GLOSSARY]
                if unknown:
                    bad.append(f"{path.name}:{n}: {match.group(0)}")
    assert bad == []
