"""Every sweep file shipped in sweeps/ validates and expands (the quickstart is also run, in test_runner)."""

from pathlib import Path

import pytest

from sweep.grid import expand
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
    grid = expand(sweep)
    assert grid.size >= 1
    cells = list(grid)
    assert len({(c.data_seed, c.train_seed) for c in cells}) == len(cells)  # every cell its own streams
    if path.stem.endswith("-small") or path.stem == "quickstart":
        assert sum(estimate_seconds(c.spec) for c in cells) < 600  # minutes on 2 cores, not hours


def _measure():
    import importlib.util

    spec = importlib.util.spec_from_file_location("measure", Path(__file__).parent.parent / "sweeps" / "paper" / "measure.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _peaks(centres, N=100, width=4.0):
    """sech^2 place fields at the given sites of a ring of N."""
    import numpy as np

    x = np.arange(N)
    d = (x[None, :] - np.asarray(centres, dtype=float)[:, None] + N / 2) % N - N / 2
    return 1 / np.cosh(d / width) ** 2


def test_measure_reports_the_gaps_of_units_tiling_the_ring(capsys):
    """sweeps/paper/measure.py fig4 on constructed weights: units at 10, 35, 60, 85 tile a 100-site ring."""
    import argparse

    import numpy as np
    import xarray as xr

    w = np.full((1, 1, 2, 4, 100), np.nan, dtype=np.float32)  # (n_hidden, seed, epoch, hidden, visible)
    w[0, 0, 0] = 0.01
    w[0, 0, 1] = _peaks([10, 35, 60, 85])
    ds = xr.Dataset({"weights": (("n_hidden", "seed", "epoch", "hidden", "visible"), w)},
                    coords={"n_hidden": [4], "seed": [0], "epoch": [0, 10]})
    _measure().fig4(ds, argparse.Namespace())
    out = capsys.readouterr().out
    assert "M=4 seed=0: gaps [25. 25. 25. 25.]" in out
    assert "gaps mean 25.0, std 0.0, min 25.0, max 25.0" in out and "R mean 0.9" in out


def test_measure_reports_the_diffusion_of_a_walking_peak(capsys):
    """measure.py fig5 on a peak whose centre walks with a known D (steps of +-1 site per epoch: D = 0.5)."""
    import argparse

    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(0)
    E, S = 400, 40
    steps = rng.choice([-1, 1], size=(S, E - 1))
    centres = 50 + np.concatenate([np.zeros((S, 1)), np.cumsum(steps, axis=1)], axis=1)
    w = np.stack([_peaks(centres[s]) for s in range(S)])[:, :, None, :]  # (seed, epoch, hidden, visible)
    ds = xr.Dataset({"weights": (("seed", "epoch", "hidden", "visible"), w.astype(np.float32))},
                    coords={"seed": np.arange(S), "epoch": np.arange(E)})
    _measure().fig5(ds, argparse.Namespace(after=20))
    out = capsys.readouterr().out
    D = float(out.split("D = ")[1].split()[0])
    assert abs(D - 0.5) < 0.1, out
