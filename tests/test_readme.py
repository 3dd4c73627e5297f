"""README.md's examples are real: its first YAML example is a file of the repository, word for word, and every
sweep file or path it names exists."""

import re
from pathlib import Path

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
             "fig.savefig('phase.png')\n")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "12/12 cells done" in r.stdout and (tmp_path / "phase.png").stat().st_size > 10_000
