"""Every third-party package the code imports is declared in pyproject.toml, so that README's install commands
give a fresh machine all of it (a package present here by chance, pulled in by another, must not be relied on).

The imports are read with `ast`, at module level and inside functions and classes, plus the literal names of
`pytest.importorskip("x")` and `importlib.import_module("x")` (a skip on a fresh machine would hide a missing
declaration). Each import's top-level name is mapped to its distribution with
`importlib.metadata.packages_distributions()` (a namespace package such as `google` to the distribution that
holds the submodule imported). The standard library (`sys.stdlib_module_names`), relative imports and the
project's own modules (sweep, kernels, the helper modules of tests/, benchmarks/ and cluster/) are not
third-party. sweep/ and kernels/ may use the runtime dependencies only; tests/, benchmarks/ and cluster/ (its
loopback.py is a helper of both) also the `dev` extras.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCAL = {"sweep", "kernels"} | {p.stem for folder in ("tests", "benchmarks", "cluster")
                                 for p in (ROOT / folder).glob("*.py")}


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form (`PyYAML` and `pyyaml`, `google_crc32c` and `google-crc32c` agree)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    """The distribution names of requirement strings such as "ray[default]>=2.40"."""
    return {normalize(re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r).group(1)) for r in requirements}


RUNTIME = requirement_names(PROJECT["dependencies"])
DEV = RUNTIME | requirement_names(PROJECT["optional-dependencies"]["dev"])
AREAS = {  # folder -> (the distributions its modules may import, where they are declared)
    "sweep": (RUNTIME, "[project] dependencies"),
    "kernels": (RUNTIME, "[project] dependencies"),
    "tests": (DEV, "[project] dependencies or the dev extras"),
    "benchmarks": (DEV, "[project] dependencies or the dev extras"),
    "cluster": (DEV, "[project] dependencies or the dev extras"),  # loopback.py: tests and benchmarks load it
}


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in ("importorskip", "import_module"):
                found.append((node.lineno, node.args[0].value))
    return found


@lru_cache(maxsize=None)
def _packages() -> dict:
    return importlib.metadata.packages_distributions()


@lru_cache(maxsize=None)
def distributions(module: str) -> frozenset:
    """The installed distributions (normalized names) that provide `module`; empty when none does."""
    parts = module.split(".")
    dists = _packages().get(parts[0], [])
    if len(set(dists)) > 1 and len(parts) > 1:  # a namespace package: the distributions holding the submodule
        prefix = "/".join(parts[:2])
        holding = [d for d in dists
                   if any(str(f).startswith(prefix + "/") or str(f) == prefix + ".py"
                          for f in importlib.metadata.files(d) or [])]
        dists = holding or dists
    return frozenset(normalize(d) for d in dists)


def undeclared(path: Path, allowed: set[str], source: str | None = None) -> list[str]:
    """One line per third-party import in `path` whose distribution is not in `allowed`."""
    source = path.read_text() if source is None else source
    problems = []
    for line, module in imported_modules(source, str(path)):
        top = module.split(".")[0]
        if top in sys.stdlib_module_names or top in LOCAL or top == "__future__":
            continue
        dists = distributions(module)
        where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"
        if not dists:
            problems.append(f"{where}: imports {module}, which no installed distribution provides")
        elif not dists & allowed:
            problems.append(f"{where}: imports {module} (from {', '.join(sorted(dists))}), not declared")
    return problems


@pytest.mark.parametrize("folder", sorted(AREAS))
def test_every_imported_package_is_declared(folder):
    allowed, declared_in = AREAS[folder]
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, f"no Python file under {folder}/"
    problems = [p for f in files for p in undeclared(f, allowed)]
    assert not problems, (f"{folder}/ imports packages that pyproject.toml does not declare in {declared_in}:\n"
                          + "\n".join(problems))


def test_the_check_finds_an_undeclared_import(tmp_path):
    """The check can fail: an installed but undeclared distribution (packaging, which pytest pulls in), a
    package installed nowhere, inside a function, through importorskip; a declared one, the standard library
    and the project's own modules pass."""
    source = ("import os, numpy\nfrom sweep import cli\nimport _netns\n"
              "def f():\n    import packaging.version\n    from no_such_package_xyz import thing\n"
              "    pytest.importorskip('no_such_skip_xyz')\n    import yaml\n")
    problems = undeclared(tmp_path / "m.py", DEV, source)
    assert len(problems) == 3, problems
    assert "m.py:5: imports packaging.version (from packaging), not declared" in problems[0]
    assert "no_such_package_xyz" in problems[1] and "no_such_skip_xyz" in problems[2]
    assert undeclared(tmp_path / "m.py", RUNTIME, "import sklearn\n")  # a dev extra is not a runtime dependency
    assert not undeclared(tmp_path / "m.py", DEV, "import sklearn\n")


def test_a_namespace_package_maps_to_the_distribution_holding_the_submodule():
    assert distributions("google_crc32c") == {"google-crc32c"}
    assert distributions("yaml") == {"pyyaml"}
    if len(set(_packages().get("google", []))) > 1:
        assert "protobuf" in distributions("google.protobuf") and "google-auth" not in distributions("google.protobuf")
