"""Typed results of cells and tasks, and the status enum of the cell table.

A task returns a :class:`BatchOutcome` holding one :class:`CellOutcome` per cell it was given; the driver
turns them into rows of the cell table (sweep.store.cell_table). Plain dataclasses: Ray carries them between processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Optional


class CellStatus(IntEnum):
    """A cell's status, as stored (int8, CF flag_values 0..3)."""

    PENDING = 0
    RUNNING = 1
    DONE = 2
    FAILED = 3


PENDING, RUNNING, DONE, FAILED = CellStatus.PENDING, CellStatus.RUNNING, CellStatus.DONE, CellStatus.FAILED
STATUS_NAMES = tuple(s.name.lower() for s in CellStatus)
"""Names in flag order: pending running done failed (the CF flag_meanings)."""


@dataclass
class CellOutcome:
    """One cell as a task computed it: DONE with its `arrays` (sweep.run.cell.cell_arrays) or FAILED with the
    `error` (a traceback or a reason); `wall_time` is the computation's (sampling and training), in seconds;
    `checkpointed`: a checkpoint of the cell exists and is dropped once its data landed; `digests`: once its
    data landed, the digest of each data chunk as stored (sweep.store.results_store.ResultsStore.write_cells; None for a store
    without digests), which the driver records with the cell's row."""

    status: CellStatus
    wall_time: float = 0.0
    error: str = ""
    arrays: Optional[dict] = field(default=None, repr=False)
    checkpointed: bool = False
    digests: Optional[list] = None


@dataclass
class BatchOutcome:
    """What one task returns: where and in which environment it ran (`environment`: sweep.run.provenance.environment),
    Ray's attempt number of the task (1 for the first), its seconds, and its cells' outcomes (without arrays,
    which went to the store)."""

    host: str
    environment: Optional[dict]
    attempt: int
    seconds: float
    cells: list
