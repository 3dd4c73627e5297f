"""Status reports: the completion map over two axes and failure listings (no Ray needed)."""

import numpy as np
import pytest
import xarray as xr

from sweep.views.status import failures, status_map, stored_sweep, summary
from sweep.store.results_store import DONE, FAILED, PENDING, RUNNING


def fake(status):
    st = np.array(status, dtype=np.int8)  # (beta, n_samples, seed)
    err = np.full(st.shape, "", dtype=object)
    err[st == FAILED] = "Traceback (most recent call last):\n  ...\nValueError: boom"
    return xr.Dataset(
        {"status": (("beta", "n_samples", "seed"), st), "error": (("beta", "n_samples", "seed"), err.astype(str)),
         "wall_time": (("beta", "n_samples", "seed"), np.where(st == DONE, 2.0, np.nan))},
        coords={"beta": [0.1, 0.5], "n_samples": [100, 1000, 10000], "seed": [0, 1]},
        attrs={"sweep_source": "s.yaml"})


def test_map_symbols_aggregate_seeds():
    D, F, R, P = DONE, FAILED, RUNNING, PENDING
    ds = fake([[[D, D], [D, P], [P, P]],
               [[R, D], [F, D], [D, D]]])
    text = status_map(ds, "beta", "n_samples")
    rows = text.splitlines()
    assert rows[0] == "n_samples | beta: 0.1 0.5"
    assert rows[1] == "      100 |        #   R"
    assert rows[2] == "     1000 |        +   F"
    assert rows[3] == "    10000 |        .   #"
    assert "aggregated over seed" in rows[4]
    with pytest.raises(ValueError, match="'gamma' is not a grid dimension"):
        status_map(ds, "gamma")


def test_summary_and_failures():
    ds = fake([[[DONE, DONE], [DONE, PENDING], [PENDING, PENDING]],
               [[RUNNING, DONE], [FAILED, DONE], [DONE, DONE]]])
    s = summary(ds)
    assert "12 cells: 3 pending, 1 running, 7 done, 1 failed" in s
    assert "time spent in done cells: 14.0 core-s; estimated left: 10.0 core-s" in s
    assert failures(ds) == "failed beta=0.5, n_samples=1000, seed=0: ValueError: boom"
    assert "Traceback (most recent call last)" in failures(ds, full=True)


def test_default_map_axes_skip_replicas_and_stale_cells_are_told():
    from sweep.views.status import default_axes

    assert default_axes(["seed", "beta", "n_samples"]) == ["beta", "n_samples"]
    assert default_axes(["data_seed", "train_seed", "beta"]) == ["beta", "data_seed"]
    assert default_axes(["seed"]) == ["seed"]
    ds = fake([[[RUNNING, DONE], [DONE, DONE], [DONE, DONE]], [[DONE, DONE], [DONE, DONE], [DONE, DONE]]])
    assert "1 running: stale, no driver holds the store" in summary(ds)
    s = summary(ds, driver="host h, pid 7")
    assert "being run by host h, pid 7" in s and "stale" not in s


def test_time_left_comes_from_the_per_cell_estimates_scaled_by_the_measured_ratio():
    """Cells of very different cost (epochs 1000 vs 10): the time left is the estimates of the cells left times
    measured/estimated of the done ones, not the mean done cell times the cells left; before any cell is done,
    the estimates themselves."""
    from sweep import parse_sweep
    from sweep.config.grid import expand
    from sweep.run.plan import estimate_seconds

    text = ("name: s\nseed: 1\ndata: {model: ising, n_visible: 20, n_samples: 100}\nrbm: {hidden: spin, n_hidden: 1}\n"
            "train: {method: exact, learning_rate: 0.05, batch_size: 100}\n"
            "grid:\n  data.beta: [0.1, 0.5]\n  train.epochs: [10, 1000]\n")
    sweep = parse_sweep(text)
    grid = expand(sweep)
    est = np.array([estimate_seconds(c.config) for c in grid]).reshape(grid.shape)  # (beta, epochs)
    st = np.array([[DONE, PENDING], [PENDING, PENDING]], dtype=np.int8)
    wall = np.where(st == DONE, 3 * est, np.nan)  # the done cell took 3x its estimate
    ds = xr.Dataset({"status": (("beta", "epochs"), st), "wall_time": (("beta", "epochs"), wall),
                     "error": (("beta", "epochs"), np.full(st.shape, ""))},
                    coords={"beta": [0.1, 0.5], "epochs": [10, 1000]}, attrs={"sweep_source": "s.yaml", "sweep_yaml": text})
    left = 3 * (est.sum() - est[0, 0])
    assert stored_sweep(ds).spec_hash() == sweep.spec_hash()  # the store's sweep, as a command that opened the store has it
    assert f"estimated left: {left:.1f} core-s" in summary(ds, sweep=sweep)
    assert est[0, 1] > 50 * est[0, 0]  # the mean-of-done estimate would be 3 x est[0, 0] x 3, far too low
    assert f"estimated left: {3 * est[0, 0] * 3:.1f} core-s" in summary(ds)  # without the sweep: the mean done cell
    ds["status"][:] = PENDING
    ds["wall_time"][:] = np.nan
    assert f"estimated left: {est.sum():.1f} core-s" in summary(ds, sweep=sweep)
    del ds.attrs["sweep_yaml"]
    assert stored_sweep(ds) is None and "estimated left: unknown" in summary(ds, sweep=stored_sweep(ds))
