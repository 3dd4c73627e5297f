"""README.md's examples are real: its first YAML example is a file of the repository, word for word, and every
sweep file or path it names exists."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list:
    """The fenced code blocks of README.md in language `lang`, with the line of text just before each."""
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"([^\n]*)\n\n```" + lang + r"\n(.*?)```", README, flags=re.S)]


def test_the_first_yaml_example_is_the_file_it_names():
    before, text = blocks("yaml")[0]
    name = re.search(r"`([^`]+\.yaml)`", before)
    assert name, f"the line before README's first YAML example names no file: {before!r}"
    assert (ROOT / name.group(1)).read_text() == text


def test_every_sweep_file_the_readme_names_exists():
    named = set(re.findall(r"\bsweeps/[\w./-]+\.yaml\b", README)) | set(re.findall(r"\bcluster/[\w./-]+\.\w+\b", README))
    assert named, "README names no sweep file"
    assert sorted(n for n in named if not (ROOT / n).exists()) == []


@pytest.mark.slow  # about 17 s: a 12-cell sweep on local Ray in a fresh process
def test_the_notebook_example_runs(tmp_path):
    """The README's notebook block, run as a script from a folder holding the repository's sweep files: the
    sweep finishes, the table has one row per cell, and the figure is drawn on the given axes."""
    import os
    import shutil
    import subprocess
    import sys

    start = README.index("## In a notebook")
    code = re.search(r"```python\n(.*?)```", README[start:], flags=re.S).group(1)
    shutil.copytree(ROOT / "sweeps", tmp_path / "sweeps")
    check = ("\nassert summary.ok, summary.text()\n"
             "assert len(table) == 12 and set(table.status) == {'done'}, table\n"
             "assert fig is ax.figure and (ax.collections or ax.images), 'nothing drawn'\n"
             "mesh = ax.collections[0]\n"  # R over (n_samples, beta) on [0, 1]
             "assert mesh.get_array().shape == (ds.sizes['n_samples'], ds.sizes['beta']), mesh.get_array().shape\n"
             "assert mesh.get_clim() == (0, 1), mesh.get_clim()\n"
             "fig.savefig('phase.png')\n"
             "print('figure pixels', *fig.canvas.get_width_height())\n")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    from _limits import run as run_within

    r = run_within([sys.executable, "-c", code + check], 600, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "12/12 cells done" in r.stdout
    from _figures import assert_png

    width, height = map(int, re.search(r"^figure pixels (\d+) (\d+)$", r.stdout, flags=re.M).groups())
    assert_png(tmp_path / "phase.png", width, height)


def _readme_test_command() -> str:
    """The indented command line under README's "Install and run the tests" paragraph."""
    m = re.search(r"Install and run the tests[^\n]*\n\n    ([^\n]+)\n", README)
    assert m, "README.md has no indented command under 'Install and run the tests'"
    return m.group(1).strip()


def test_ci_runs_exactly_the_readmes_test_command():
    """.ci/run's last command is README's test command word for word, so the two cannot drift; the command
    starts with the script that installs the system packages, and that script exists and parses."""
    import subprocess

    command = _readme_test_command()
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    assert commands[-1] == command, f".ci/run ends with {commands[-1]!r}, README says {command!r}"
    steps = [s.strip() for s in command.split("&&")]
    assert steps[0] == "bash scripts/install-test-deps", steps
    assert steps[1:] == ['python3 -m pip install -e ".[dev]"', "python3 -m pytest"], steps
    script = ROOT / "scripts" / "install-test-deps"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


def test_install_script_names_what_is_missing_without_installing():
    """`--check` never installs: it reports all present, or each missing package with the tests that need it;
    every package the script knows is named in its header table."""
    import subprocess

    script = ROOT / "scripts" / "install-test-deps"
    r = subprocess.run(["bash", str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "install-test-deps: all present" in out or "the tests that need them will skip" in out, out
    text = script.read_text()
    packages = re.search(r"^packages=\(([^)]*)\)", text, flags=re.M).group(1).split()
    header = "\n".join(ln for ln in text.splitlines() if ln.startswith("#"))
    assert packages and all(re.search(rf"^#   {re.escape(p)}\s", header, flags=re.M) for p in packages), packages
    r = subprocess.run(["bash", str(script), "--no-such-option"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "usage:" in r.stderr
