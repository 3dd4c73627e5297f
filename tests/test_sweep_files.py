"""Every sweep file shipped in sweeps/ validates and expands (the quickstart is also run, in test_runner)."""

from pathlib import Path

import pytest

from sweep.config.grid import expand
from sweep.run.plan import estimate_seconds
from sweep.config.sweepfile import load_sweep

FILES = sorted((Path(__file__).parent.parent / "sweeps").rglob("*.yaml"))


def test_there_are_paper_sweeps():
    names = {f.stem for f in FILES}
    for fig in [f"fig{k}" for k in range(2, 15)]:
        assert fig in names and f"{fig}-small" in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_sweep_file_validates_and_expands(path):
    sweep = load_sweep(path)
    grid = expand(sweep)
    assert grid.size >= 1
    cells = list(grid)
    assert len({(c.data_seed, c.train_seed) for c in cells}) == len(cells)  # every cell its own streams
    if path.stem.endswith("-small") or path.stem == "quickstart":
        assert sum(estimate_seconds(c.config) for c in cells) < 600  # minutes on 2 cores, not hours


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


def _peaked_walkers(rigid, S=20, E=300, D=0.5, seed=3):
    """Weights of three sech^2 peaks whose centres walk together at spacing 100/3 (rigid) or independently."""
    import numpy as np

    rng = np.random.default_rng(seed)
    walk = lambda: 50 + np.concatenate([np.zeros((S, 1)), np.cumsum(rng.normal(0, np.sqrt(2 * D), (S, E - 1)), 1)], 1)
    base = walk()
    centres = [base + k * 100 / 3 if rigid else walk() + k * 100 / 3 for k in range(3)]
    return np.stack([np.stack([_peaks([c[s, e] for c in centres]) for e in range(E)]) for s in range(S)])


def test_measure_fig6_tells_rigid_from_independent_walkers(capsys):
    import argparse

    import numpy as np
    import xarray as xr

    for rigid, verdict in ((True, "yes"), (False, "no")):
        w = _peaked_walkers(rigid).astype(np.float32)  # (seed, epoch, hidden, visible)
        ds = xr.Dataset({"weights": (("seed", "epoch", "hidden", "visible"), w)},
                        coords={"seed": np.arange(w.shape[0]), "epoch": np.arange(w.shape[1])})
        _measure().fig6(ds, argparse.Namespace(after=20, single=None))
        out = capsys.readouterr().out
        assert f"claim the units keep their spacing: holds {verdict}" in out, out
        assert f"claim the units move together: holds {verdict}" in out, out


def test_measure_fig11_finds_the_angular_threshold_before_the_spatial_one(capsys):
    """Constructed XY weights: noise at 30 samples, an angular field uniform in space at 300 and 1000, a
    place field from 3000 on: angular order crosses 0.5 between 30 and 300, spatial order between 1000
    and 3000."""
    import argparse
    import json

    import numpy as np
    import xarray as xr

    N, q = 40, 6
    a = np.arange(q)
    rng = np.random.default_rng(0)
    ns = [30, 300, 1000, 3000, 10000]
    w = np.zeros((len(ns), 2, 2, 1, 1, N, q))
    for i, n in enumerate(ns):
        for d in range(2):
            for t in range(2):
                if n == 30:
                    x = rng.normal(0, 0.1, (N, q))
                    w[i, d, t, 0, 0] = x - x.mean(1, keepdims=True)
                else:
                    off = np.mod(np.arange(N) - 10 * d - 5 * t + N / 2, N) - N / 2
                    env = np.ones(N) if n < 3000 else 1 / np.cosh(0.5 * off)
                    w[i, d, t, 0, 0] = env[:, None] * np.cos(2 * np.pi * a / q + d + t)[None, :]
    ds = xr.Dataset({"weights": (("n_samples", "data_seed", "train_seed", "epoch", "hidden", "visible", "state"), w)},
                    coords={"n_samples": ns, "data_seed": [0, 1], "train_seed": [0, 1], "epoch": [100]},
                    attrs={"sweep_normalized": json.dumps({"data": {"model": "xy", "n_visible": N, "q": q, "beta": 1.5}})})
    _measure().fig11(ds, argparse.Namespace())
    out = capsys.readouterr().out
    assert "claim the spatial threshold comes at more samples in every replica: holds yes" in out, out
    ang = float(out.split("angular threshold n_ang = ")[1].split()[0])
    spa = float(out.split("spatial threshold n_spa = ")[1].split()[0])
    assert 30 < ang < 300 and 1000 < spa < 3000


def test_measure_fig14_on_the_lattice_solution(capsys):
    """Weights sqrt(beta) x the lattice solution: every deviation from the equation is 0."""
    import argparse

    import numpy as np
    import xarray as xr

    from sweep.science import theory

    sol = theory.integrate_one_unit(N=100)["w"]
    betas = [0.05, 0.1, 0.2]
    w = np.stack([[np.roll(np.sqrt(b) * sol, 9 * s) for s in range(2)] for b in betas])[:, :, None, None, :]
    ds = xr.Dataset({"weights": (("beta", "train_seed", "epoch", "hidden", "visible"), w)},
                    coords={"beta": betas, "train_seed": [0, 1], "epoch": [10]})
    _measure().fig14(ds, argparse.Namespace())
    out = capsys.readouterr().out
    assert "fwhm: linear fit 3.795 + 0.000 beta" in out and "sum_sq_over_beta: linear fit 2.400" in out, out
    assert "peak_over_sqrt_beta: linear fit 0.920" in out


def _with_r(R, N=100):
    """Weight vectors w_i = sqrt(1 + 2 R cos(phi_i)), whose localization is exactly R (0 <= R <= 1/2)."""
    import numpy as np

    phi = 2 * np.pi * np.arange(N) / N
    return np.sqrt(1 + 2 * np.asarray(R)[..., None] * np.cos(phi))


@pytest.mark.parametrize("offsets", [0.1, 0.0])
def test_measure_fig7_tells_the_data_sets_spread_from_the_initialisations(capsys, offsets):
    """fig7 on constructed weights of known R: 12 data sets x 4 initialisations at two betas on the crossover;
    data-set offsets of sd 0.1 (or none) over initialisation noise of sd 0.03."""
    import argparse

    import numpy as np
    import xarray as xr

    from sweep.science import analysis as an

    rng = np.random.default_rng(5)
    R = 0.25 + offsets * rng.standard_normal((2, 12, 1, 1)) + 0.03 * rng.standard_normal((2, 12, 4, 1))
    R = np.clip(R, 0.21, 0.49)
    w = np.stack([np.full(R.shape + (100,), 1.0), _with_r(R)], axis=-2)[..., None, :]  # epoch, hidden, visible
    ds = xr.Dataset({"weights": (("beta", "data_seed", "train_seed", "n_samples", "epoch", "hidden", "visible"), w)},
                    coords={"beta": [0.3, 0.6], "data_seed": np.arange(12), "train_seed": np.arange(4),
                            "n_samples": [1000], "epoch": [0, 10]})
    np.testing.assert_allclose(an.localization(an.final_weights(ds)).values[..., 0], R, atol=1e-12)
    _measure().fig7(ds, argparse.Namespace(counts=None))
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("replicas n_samples = 1000"))
    assert "pooled over the 2 crossover betas" in line and "F(22, 72)" in line
    assert line.endswith("data sets matter yes (p < 0.01)" if offsets else "data sets matter no (p < 0.01)")
