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
