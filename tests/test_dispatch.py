"""Packing cells into tasks (batch sizes from the measured cell time, bounded, balanced at the end) and the
plan's work estimate."""

from sweep.config.grid import expand
from sweep.run.runner import MAX_BATCH, TASK_SECONDS, Batcher


def test_first_wave_comes_from_the_estimate_and_stays_small():
    assert Batcher(estimate=10.0, cpus=2).size(1000) == 1  # long cells: one per task
    assert Batcher(estimate=1e-5, cpus=2).size(1000) == 8  # tiny cells: a few, until measured


def test_batches_follow_the_measured_cell_time():
    b = Batcher(estimate=1.0, cpus=2)
    b.record(seconds=0.5, cells=100)  # 5 ms a cell
    assert b.size(100000) == int(TASK_SECONDS / 0.005)
    for _ in range(20):
        b.record(seconds=2.0, cells=10)  # cells got slower: 0.2 s each
    assert b.size(100000) in (4, 5)
    b.record(seconds=1e-4, cells=1000)
    assert b.size(10 ** 9) <= MAX_BATCH


def test_the_tail_is_split_so_every_cpu_gets_work():
    b = Batcher(estimate=1.0, cpus=4)
    b.record(seconds=0.01, cells=100)  # 0.1 ms a cell: 1e4 cells would fill a task
    assert b.size(80) == 10  # 80 cells left on 4 CPUs: 8 tasks, two per CPU
    assert b.size(3) == 1


def test_work_estimate_and_layout_from_the_dimensions_that_matter(tmp_path):
    """The plan's estimate and the store layout look at one cell per combination of the dimensions that change
    them; they equal the cell-by-cell answers."""
    import numpy as np

    from sweep import parse_sweep
    from sweep.run.plan import estimate_seconds, estimate_total
    from sweep.store.layout import Layout

    sweep = parse_sweep("""
name: est
data: {model: ising, n_visible: 20}
rbm: {hidden: spin}
train: {method: pcd, record_every: 2}
grid:
  data.beta: [0.2, 0.5, 0.9]
  rbm.n_hidden: [1, 3]
  train.seed: [0, 1, 2, 3]
  zip:
    - {data.n_samples: [100, 400], train.epochs: [8, 3]}
""", "est.yaml")
    grid = expand(sweep)
    cells = list(grid)
    flat = np.array([0, 1, 5, 7, 12, 30, 31, 47])
    brute = sum(estimate_seconds(cells[i].config) for i in flat)
    assert np.isclose(estimate_total(grid, flat), brute) and brute > 0
    assert np.isclose(estimate_total(grid, np.arange(grid.size)), sum(estimate_seconds(c.config) for c in cells))
    assert estimate_total(grid, []) == 0
    reps = grid.representatives(("rbm.n_hidden",), flat)  # n_hidden varies; beta, seed, zip at their first values
    assert sorted((c.config.rbm.n_hidden, n) for c, n in reps) == [(1, 4), (3, 4)]
    assert all(c.index[0] == 0 and c.index[2] == 0 and c.index[3] == 0 for c, _ in reps)
    assert [n for _, n in grid.representatives(("data.beta_not_a_key",))] == [grid.size]
    layout = Layout.of(grid)
    assert layout.epochs == (0, 2, 3, 4, 6, 8) and layout.n_hidden == 3 and layout.n_visible == 20
