"""The house: the layers of docs/design.md ("Architecture") hold, as the import-linter contracts in pyproject.toml
declare them; no import circle (lazy imports inside functions included); one concept per module name."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ROOT / "sweep"
LAYERS = ("cli", "views", "run", "store", "science", "config")


def modules() -> dict:
    """{dotted module name: path} of every module of sweep and kernels."""
    out = {}
    for pkg in ("sweep", "kernels"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = p
    return out


def imports(name: str, path: Path, known: dict) -> set:
    """The package's own modules `name` imports anywhere in its body (top level or inside functions)."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = here[:len(here) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def test_the_import_linter_contracts_are_kept():
    r = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                        "sys.exit(lint_imports_command())", "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout and "kept" in r.stdout, r.stdout


def test_a_contract_breach_is_caught(tmp_path):
    """The contract can fail: a copy of the package whose store imports the CLI breaks it."""
    import shutil

    for pkg in ("sweep", "kernels"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    lease = tmp_path / "sweep" / "store" / "lease.py"
    lease.write_text(lease.read_text() + "\n\ndef _upward():\n    from ..cli import commands  # noqa: F401\n")
    r = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                        "sys.exit(lint_imports_command())", "--no-cache"], cwd=tmp_path, capture_output=True,
                       text=True, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "BROKEN" in r.stdout and "sweep.store.lease -> sweep.cli.commands" in r.stdout, (
        r.stdout[-3000:] + r.stderr[-2000:])


def test_no_import_circle_between_modules():
    known = modules()
    graph = {m: imports(m, p, known) for m, p in known.items()}
    # a package's __init__ may import its own modules (the public API re-exports them): not a circle of concepts
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    circles = []
    state = {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                circles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_the_layers_are_the_folders_and_no_two_modules_share_a_name():
    top = sorted(p.name for p in SWEEP.iterdir() if p.suffix == ".py")
    assert top == ["__init__.py", "__main__.py"], top
    folders = sorted(p.name for p in SWEEP.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert folders == sorted(LAYERS), folders
    stems = {}
    for layer in LAYERS:
        for p in (SWEEP / layer).glob("*.py"):
            if not p.name.startswith("__"):
                stems.setdefault(p.stem, []).append(layer)
    shared = {s: ls for s, ls in stems.items() if len(ls) > 1}
    assert not shared, shared


def test_no_private_name_is_imported_across_modules():
    known = modules()
    found = []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in ("sweep",
                                                                                                           "kernels")):
                found += [f"{name}: {a.name}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found
