"""Packing cells into tasks: batch sizes from the measured cell time, bounded, balanced at the end."""

from sweep.runner import MAX_BATCH, TASK_SECONDS, Batcher


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
