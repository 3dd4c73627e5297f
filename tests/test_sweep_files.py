"""Every sweep file shipped in sweeps/ validates and expands (the quickstart is also run, in test_runner)."""

from pathlib import Path

import pytest

from sweep.plan import estimate_seconds
from sweep.spec import load_sweep

FILES = sorted((Path(__file__).parent.parent / "sweeps").rglob("*.yaml"))


def test_there_are_paper_sweeps():
    names = {f.stem for f in FILES}
    for fig in ("fig3", "fig4", "fig5", "fig6", "fig7", "fig9", "fig11", "fig12"):
        assert fig in names and f"{fig}-small" in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_sweep_file_validates_and_expands(path):
    sweep = load_sweep(path)
    grid = sweep.expand()
    assert grid.size >= 1
    cells = list(grid)
    assert len({(c.data_seed, c.train_seed) for c in cells}) == len(cells)  # every cell its own streams
    if path.stem.endswith("-small") or path.stem == "quickstart":
        assert sum(estimate_seconds(c.spec) for c in cells) < 600  # minutes on 2 cores, not hours
