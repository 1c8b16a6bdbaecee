"""The house rules (issue 16 item 2, docs/ARCHITECTURE.md), read from the source with `ast`: nothing is imported.

- no import cycle between modules. The graph has an edge A -> B for every `import`/`from ... import` of an mmlgnet
  module B anywhere in A: at module level AND inside functions (a function-local import is still a dependency, and
  hiding a cycle in a function only moves the failure to run time); imports under `if TYPE_CHECKING:` count too
  (a cycle that only type hints close is still two modules that cannot be read apart). `from mmlgnet.x import y` is an edge to mmlgnet.x.y when that is a module, else to mmlgnet.x;
  a package's `__init__.py` is the module named by the package;
- no module over MAX_LINES lines;
- no folder with more than MAX_FOLDER modules (`.py` files directly in it, `__init__.py` and `__main__.py` not
  counted: they are the package's marker and its `python -m` entry, not where code lives);
- at most MAX_TOP modules loose at the package top level, counted the same way (today: atomic, cli, console,
  errors, outputs and the three `python -m` shims dashboard, reproduce, tables);
- `models/` is pure PyTorch: it imports no Lightning and of mmlgnet only `mmlgnet.models.*` and `mmlgnet.errors`
  (so no data, training, mapping, text or tracking code).

And (DESIGN §5), checked by importing in a fresh interpreter: the core (networks, loss, text embeddings, scenes,
readers, statistics, patches, splits) loads no Lightning.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mmlgnet"
MAX_LINES = 400
MAX_FOLDER = 15
MAX_TOP = 8
NOT_COUNTED = ("__init__.py", "__main__.py")
LIGHTNING = ("lightning", "pytorch_lightning", "lightning_fabric", "lightning_utilities")
MODELS_MAY_IMPORT = ("mmlgnet.models", "mmlgnet.errors")


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str) -> list[tuple[str, int]]:
    """(imported name, line) of every import in `module` (TYPE_CHECKING blocks included), resolved to
    absolute names; `from a import b` gives a.b when that is a module of ours, else a."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            out.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append((full if full in MODULES else base, node.lineno))
        else:
            visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported mmlgnet module: first line}, self-imports left out."""
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module in MODULES:
        for name, line in imports_of(module):
            if name in MODULES and name != module:
                graph[module].setdefault(name, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


def _counted(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.py") if p.name not in NOT_COUNTED)


def test_no_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    detail = "\n".join(
        "cycle: " + ", ".join(c) + "\n" + "\n".join(f"  {a} -> {b} (line {graph[a][b]})" for a in c for b in graph[a] if b in c)
        for c in found)
    assert not found, f"import cycles (function-local imports count; break them by moving the shared piece down):\n{detail}"


def test_the_cycle_check_sees_function_local_imports():
    """The graph the rule reads has the edges of imports inside functions (here: lazy imports kept on purpose)."""
    graph = import_graph()
    assert "mmlgnet.data.scenes.synthetic" in graph["mmlgnet.data.scenes.catalog_load"]  # inside load_scene
    assert "mmlgnet.tracking.wandb_logger" in graph["mmlgnet.tracking"]  # the lazy WandbLogger re-export
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_module_over_the_line_limit():
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in MODULES.items()}
    over = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them by concern): {over}"


def test_no_folder_over_the_module_limit():
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    over = {str(f.relative_to(PACKAGE.parent)): len(_counted(f)) for f in folders if len(_counted(f)) > MAX_FOLDER}
    assert not over, f"folders with more than {MAX_FOLDER} modules (give the concern its own sub-folder): {over}"


def test_few_modules_loose_at_the_top_level():
    top = _counted(PACKAGE)
    assert len(top) <= MAX_TOP, f"{len(top)} modules at mmlgnet/ (at most {MAX_TOP}; put the rest in a wing): {top}"


def test_models_are_pure_pytorch():
    bad = []
    for module in (m for m in MODULES if m == "mmlgnet.models" or m.startswith("mmlgnet.models.")):
        for name, line in imports_of(module):
            top = name.split(".")[0]
            if top in LIGHTNING or (top == "mmlgnet" and not any(
                    name == ok or name.startswith(ok + ".") for ok in MODELS_MAY_IMPORT)):
                bad.append(f"{module} line {line}: imports {name}")
    assert not bad, "mmlgnet.models imports no Lightning and no data/training/text code:\n" + "\n".join(bad)


def test_core_modules_do_not_import_lightning():
    core = ("models.mmlgnet", "models.syncbn", "training.losses", "training.metrics", "text.embeddings", "text.cache",
            "data.scenes.catalog_load", "data.scenes.scene", "data.scenes.synthetic", "data.scenes.cards",
            "data.scenes.card_load", "data.io.matfiles", "data.io.rasters", "data.io.readers", "data.io.envi_roi",
            "data.io.windows", "mapping.georef", "data.sampling.normalization", "data.sampling.patches",
            "data.sampling.splits", "atomic", "errors")
    code = ("import sys; " + "; ".join(f"import mmlgnet.{m}" for m in core) + "; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))")
    env = {"HF_HUB_OFFLINE": "1", "PATH": ""}
    if os.environ.get("PYTHONPATH"):  # a checkout tested through PYTHONPATH imports itself in the child too
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    # timeout: a hang guard sized for a loaded 2-core machine (~9 CPU-s of imports took 54 s of 120 there)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
