"""The kernels' Numba cache is keyed by their sources and Numba's code-generation settings (kernels/cache.py): a
change of any kernels/*.py, also of a module a cached kernel only calls, or of NUMBA_OPT, compiles afresh instead of
running stale cached code. (Damaged cache files: tests/test_integrity_env.py.)"""

import os
import shutil
import sys
from pathlib import Path

from _limits import run as run_within
from kernels import cache

ROOT = Path(__file__).resolve().parents[1]


def test_the_folder_is_keyed_by_the_sources_and_inherited_not_nested(tmp_path):
    folder = cache.cache_dir({"NUMBA_CACHE_DIR": str(tmp_path)})
    assert folder == tmp_path / f"kernels-{cache.settings_key()}"
    assert cache.cache_dir({"NUMBA_CACHE_DIR": str(folder)}) == folder  # a child process: same folder
    assert cache.cache_dir({"NUMBA_CACHE_DIR": str(tmp_path / "kernels-0123456789abcdef")}) == folder
    import kernels

    assert os.environ["NUMBA_CACHE_DIR"] == str(kernels.CACHE_DIR) and cache.PATTERN.match(kernels.CACHE_DIR.name)


def test_the_key_covers_the_settings_numba_does_not_key_by(monkeypatch):
    from numba.core import config

    default = cache.settings_key()
    try:
        for name, value in (("NUMBA_OPT", "0"), ("NUMBA_SLP_VECTORIZE", "1"), ("NUMBA_BOUNDSCHECK", "1")):
            with monkeypatch.context() as m:
                m.setenv(name, value)
                assert cache.settings_key() != default, name
        monkeypatch.setenv("NUMBA_CPU_NAME", "generic")  # in Numba's own index: the same folder
        assert cache.settings_key() == default
    finally:
        monkeypatch.undo()
        config.reload_config()
    assert cache.settings_key() == default


def test_a_changed_callee_is_not_served_from_a_stale_cache(tmp_path):
    """A copy of the kernels whose vecmath.exp64 is changed after a first run: the second run, in a new process
    with the same NUMBA_CACHE_DIR, computes with the new exp64 (Numba alone would reuse the cached caller)."""
    shutil.copytree(ROOT / "kernels", tmp_path / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import numba, numpy as np\n"
        "import kernels\n"
        "from kernels.vecmath import exp64\n"
        "@numba.njit(cache=True)\n"
        "def caller(x):\n"
        "    return exp64(x)\n"
        "print(caller(1.0))\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run() -> float:
        r = run_within([sys.executable, str(probe)], 600, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        return float(r.stdout.split()[-1])

    assert abs(run() - 2.718281828459045) < 1e-12
    vecmath = tmp_path / "kernels" / "vecmath.py"
    text = vecmath.read_text()
    assert "def exp64(" in text
    vecmath.write_text(text.replace("def exp64(", "def _exp64_orig(", 1)
                       + "\n\n@njit(cache=True)\ndef exp64(x):\n    return 2.0 * _exp64_orig(x)\n")
    assert abs(run() - 2 * 2.718281828459045) < 1e-12
