"""Looking after a store outside a run: `verify` (check, and with `repair` restore and mark for recomputation)
and `unlock` (free a store whose driver is gone). The Python API of `sweep verify` and `sweep unlock`.

Both take a store path or URL and its storage options (None: from the environment, sweep.store.options);
both raise StoreError (a sweep.config.errors class: one line for a user) for a store that cannot be used as
asked, and let a failure of the storage environment through (sweep.store.location.environment_failure tells).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..config.errors import StoreError
from ..config.sweepfile import Sweep, load_sweep
from ..store.lease import Holder, Lease, break_lease
from ..store.options import storage_options as options_from_environment
from ..store.results_store import ResultsStore
from ..store.verify import Report
from ..store.verify import verify as check_store


@dataclass
class VerifyResult:
    """What `verify` found: the report of sweep.store.verify (metadata problems, corrupt and torn cells, partial
    files, notes, `clean`, `repaired`), the store's dimensions (to label cells), and whether the root metadata
    was restored from a sweep file (`restored`), keeping older run records where they still read
    (`records_kept`)."""

    report: Report
    dims: list
    restored: bool = False
    records_kept: bool = False

    @property
    def ok(self) -> bool:
        """The store is clean, or was repaired (`sweep run` on the same sweep then recomputes the marked cells)."""
        return self.report.clean or self.report.repaired

    def label(self, idx: tuple) -> str:
        """A cell index as `dim[i], dim[j]`."""
        return ", ".join(f"{d}[{i}]" for d, i in zip(self.dims, idx))


def _options(store: str, storage_options: Optional[dict]) -> Optional[dict]:
    return options_from_environment(store) if storage_options is None else storage_options


def verify(store: str, repair: bool = False, sweep: Union[Sweep, str, Path, None] = None,
           storage_options: Optional[dict] = None) -> VerifyResult:
    """Check every array's metadata, the root attributes and every cell of `store` (checksums, digests, torn
    cells, stray partial files). `repair`: take the store's lease, restore damaged metadata, mark corrupt or torn
    cells for recomputation and remove stray partial files; a store whose root metadata is lost needs `sweep`
    (a Sweep or a sweep file), which is first proven to be the store's (coordinates and seeds)."""
    from .provenance import contract

    options = _options(store, storage_options)
    lease = None
    restored = kept = False
    try:
        st = ResultsStore(store, options)
        if repair and st.state() == "damaged":
            if sweep is None:
                raise StoreError(f"the root metadata is damaged ({st.root_problem()}); give the sweep file it was "
                                 f"made with: sweep verify {store} --repair --sweep FILE")
            if not isinstance(sweep, Sweep):
                sweep = load_sweep(sweep)
            from ..store.layout import restore_root

            lease = Lease.acquire(st.location, "sweep verify --repair")
            kept = st.location.exists("zarr.json")
            restore_root(st, sweep, contract(), lease)
            restored = True
            st = ResultsStore(store, options)
        state = st.check_usable(attributes=False, table=False)
        if state != "store":
            raise StoreError("no sweep store there (expected a Zarr group written by `sweep run`)"
                             + ("; its creation did not finish: `sweep run` creates it again"
                                if state == "incomplete" else ""))
        if repair and lease is None:
            lease = Lease.acquire(st.location, "sweep verify --repair")
        report = check_store(st, repair=repair, lease=lease)
        return VerifyResult(report, st.dims(), restored, kept)
    finally:
        if lease is not None:
            lease.release()


def unlock(store: str, force: bool = False, storage_options: Optional[dict] = None) -> Optional[Holder]:
    """Remove the lease of a store whose driver is gone; returns the holder removed (None: no run held it).
    Raises StoreError (LeaseHeld) for a live holder, unless `force` (the next run's record notes it)."""
    st = ResultsStore(store, _options(store, storage_options))
    return break_lease(st.location, force=force)
