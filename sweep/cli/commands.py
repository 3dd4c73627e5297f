"""The `sweep` command line: a thin layer over the Python API (sweep.run_sweep, sweep.open_results, ...).

Exit codes: 0 success; 1 a sweep finished with failed or unfinished cells; 2 bad input (sweep file,
store, arguments), always with a message naming the file, the key and the reason, never a traceback;
128 + the signal's number for a command a signal stopped (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from ..config.version import __version__

app = typer.Typer(help="Sweeps of RBM trainings on invariant data: YAML grid -> Ray tasks -> one Zarr store.",
                  no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False)


def _fail(msg: str, code: int = 2):
    typer.echo(msg, err=True)
    raise typer.Exit(code)


def _version(value: bool):
    if value:
        typer.echo(f"sweep {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    """Run, inspect and query RBM training sweeps."""


def _storage_options(url: str) -> Optional[dict]:
    """sweep.store.options.storage_options, with its refusals as messages."""
    from ..store.options import StorageOptionsError, storage_options

    try:
        return storage_options(url)
    except StorageOptionsError as exc:
        _fail(str(exc))


def _store_trouble(url: str, exc: BaseException):
    """Exit 2 with one line for a store the environment fails (full disk, read-only, no access, unreachable);
    re-raise anything else."""
    from ..store.location import environment_failure
    from ..store.options import CREDENTIALS_HINT

    cause = environment_failure(exc)
    if cause is None:
        raise exc
    hint = f"; {CREDENTIALS_HINT}" if cause.startswith("access refused") and "://" in url else ""
    _fail(f"{url}: {cause}{hint}")


STORE_HELP = "Store path or URL, or the sweep file whose default store (results/<name>.zarr) to use."
SET_HELP = ("Override a key of the sweep file, KEY=VALUE (VALUE in YAML; repeatable): --set train.epochs=50, "
            "--set grid.data.beta=[0.5,1.0], --set name=trial2.")


def _load(file: Path, sets: Optional[List[str]] = None, grid: bool = True):
    """The sweep file `file` with its --set overrides, validated; with `grid`, a sweep with no grid key is refused
    (its store has one dimension per grid key). Exit 2 with the messages otherwise."""
    from ..config.overrides import parse_assignment
    from ..config.sweepfile import SpecError, load_sweep, require_grid

    try:
        overrides = dict(parse_assignment(a) for a in sets or [])
        sweep = load_sweep(file, overrides)
        if grid:
            require_grid(sweep)
        return sweep
    except SpecError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{file}: cannot read the sweep file: {exc.strerror or exc}")


LauncherName = Enum("LauncherName", {"ray": "ray", "serial": "serial"}, type=str)  # sweep.run.launcher.LAUNCHERS
LAUNCHER_HELP = ("What runs the cells: ray (local Ray, or the cluster of --address) or serial (this process, one "
                 "batch after the other, no Ray: to debug a cell under pdb; no --address).")


@app.command()
def run(file: Path = typer.Argument(..., help="Sweep file (YAML)."),
        store: Optional[str] = typer.Option(None, help="Store path or URL (default: results/<name>.zarr)."),
        address: Optional[str] = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
        max_parallel: Optional[int] = typer.Option(None, min=1, help="Most Ray tasks in flight at once (each runs a batch of cells; default 2 per CPU)."),
        launcher: LauncherName = typer.Option("ray", "--launcher", help=LAUNCHER_HELP, show_choices=True),
        allow_env_change: bool = typer.Option(False, "--allow-env-change", help="Continue a store computed in another environment (package commit, numpy/numba/llvmlite, CPU); the run record notes it."),
        allow_large: bool = typer.Option(False, "--allow-large", help="Run a sweep whose cell would not fit this machine's memory, or whose store would not fit the free disk (`sweep plan` shows both figures)."),
        sets: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="A line for every finished cell."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display: only the summary and errors."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the cells and the work; run nothing.")):
    """Run a sweep, or resume it: done cells are skipped, the others (re)run.

    --address (or RAY_ADDRESS) joins a Ray cluster; its token: RAY_AUTH_MODE=token, RAY_AUTH_TOKEN.

    --launcher serial computes the cells in this process, without Ray (same store, same bits), e.g. to stop in a
    cell under pdb: python -m pdb -m sweep run FILE --launcher serial.

    s3:// stores: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, SWEEP_STORAGE_OPTIONS (environment only).

    Ctrl-C, SIGTERM or SIGHUP stops scheduling, keeps every finished cell, releases the store and exits
    128 + the signal's number (130, 143, 129) with the command that resumes; a second signal exits at once.

    Example: sweep run sweeps/quickstart.yaml --store results/quick.zarr
    """
    from ..config.errors import StoreError
    from ..run.plan import TooLarge
    from ..run.plan import default_store
    from ..run.runner import RunInProgress, run_sweep

    launcher = LauncherName(launcher).value
    if launcher == "serial" and address:
        _fail(f"--launcher serial runs the cells in this process and joins no cluster: drop --address {address}, "
              "or use --launcher ray")
    sweep = _load(file, sets)
    url = store or default_store(sweep)
    options = _storage_options(url)
    if dry_run:
        return _print_plan(sweep, url, options, file, sets)
    import threading

    from .signals import SIGNALS, signal_exit_code

    stop = threading.Event()
    received = []

    def interrupt(signum, frame):  # stop the run (also where Ray swallows the interrupt); a second one: exit now
        if received:
            try:
                os.write(2, b"interrupted again: exiting now; the store's lease expires by itself\n")
            except OSError:  # a closed stderr
                pass
            os._exit(signal_exit_code(received[0]))
        received.append(signum)
        stop.set()
        raise KeyboardInterrupt

    def unraisable(info, default=sys.unraisablehook):  # the interrupt raised where Python can only drop it (a
        if isinstance(info.exc_value, KeyboardInterrupt) and stop.is_set():  # finalizer, a C callback): the run
            return  # stops all the same, at its next look at `stop`; no "Exception ignored" traceback
        default(info)

    previous = {sig: signal.signal(sig, interrupt) for sig in SIGNALS}
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    command = _command(file, sets, store, *(["--address", address] if address else []),
                       *(["--launcher", launcher] if launcher != "ray" else []))
    try:
        summary = run_sweep(sweep, store=url, address=address, max_parallel=max_parallel,
                            storage_options=options, allow_env_change=allow_env_change,
                            progress="off" if quiet else "auto", verbose=verbose and not quiet, stop=stop,
                            allow_large=allow_large, launcher=launcher)
    except TooLarge as exc:  # one line each, naming the sweep file and the numbers
        _fail(str(exc))
    except StoreError as exc:
        _fail((str(exc) if str(exc).startswith(url) else f"{url}: {exc}") + _new_store_hint(str(exc), url, file, sets))
    except (ConnectionError, RunInProgress) as exc:  # which cluster and how its token is set up; a lost Ray
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(url, options, command, received[0] if received else signal.SIGINT)
    except Exception as exc:  # noqa: BLE001 - re-raised unless the storage environment failed
        _store_trouble(url, exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook
    _say(summary.text())
    raise typer.Exit(0 if summary.ok else 1)


def _say(text: str, err: bool = False) -> None:
    """typer.echo, for an output that may have been closed (`sweep run ... | head`): then nothing is printed,
    and the interpreter's own flush at exit prints nothing either."""
    from ..run.progress import output_closed

    try:
        typer.echo(text, err=err)
    except (OSError, ValueError) as exc:
        if not output_closed(exc):
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)


def _interrupted(url: str, options: Optional[dict], command: str, signum: int = signal.SIGINT):
    """Exit 128 + the signal's number after an interrupted run, saying how far it got and how to resume."""
    from .signals import signal_exit_code
    from ..store.outcomes import DONE
    from ..store.results_store import ResultsStore

    try:
        st = ResultsStore(url, options).group("r")["status"][...]
        where = f"{int((st == DONE).sum())} of {st.size} cells done"
    except Exception:  # noqa: BLE001 - a store that was never created
        where = "no cell done"
    from .signals import SIGNALS
    from ..run.raycompat import stop_ray

    for sig in SIGNALS:  # the run has stopped and given its lease back: a further signal changes nothing
        signal.signal(sig, signal.SIG_IGN)
    stop_ray()  # first, so that nothing Ray prints as it stops follows the last line
    name = {signal.SIGINT: "interrupted"}.get(signum, f"interrupted ({signal.Signals(signum).name})")
    _say(f"{name}: {where}; rerun \"{command}\" to resume", err=True)
    raise typer.Exit(signal_exit_code(signum))


def _command(file: Path, sets: List[str], store: Optional[str], *extra: str) -> str:
    """The `sweep run` command line of these arguments, quoted for a shell."""
    import shlex

    args = ["sweep", "run", str(file)] + [x for s in sets for x in ("--set", s)]
    args += (["--store", store] if store else []) + list(extra)
    return " ".join(shlex.quote(a) for a in args)


def _new_store_hint(message: str, url: str, file: Path, sets: List[str]) -> str:
    """For a store that holds another sweep: a ready-to-paste command that runs this one in a new store."""
    if "holds a different sweep" not in message:
        return ""
    stem = url[:-len(".zarr")] if url.endswith(".zarr") else url
    n = 2
    while "://" not in url and os.path.exists(f"{stem}-{n}.zarr"):
        n += 1
    return "\nto run it in a new store:\n  " + _command(file, sets, f"{stem}-{n}.zarr")


def _print_plan(sweep, url: str, options: Optional[dict], file: Path, sets: List[str]):
    from ..config.errors import StoreError
    from ..run.plan import plan_sweep

    try:
        text = plan_sweep(sweep, url, options).describe()
        typer.echo(text + _new_store_hint(text, url, file, sets))
    except StoreError as exc:
        _fail(f"{url}: {exc}")
    except Exception as exc:  # noqa: BLE001 - re-raised unless the storage environment failed
        _store_trouble(url, exc)


@app.command()
def plan(file: Path = typer.Argument(..., help="Sweep file (YAML)."),
         store: Optional[str] = typer.Option(None, help="Store path or URL (default: results/<name>.zarr)."),
         sets: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP)):
    """What `sweep run` would do: the cells, a work estimate and, against an existing store, the diff
    (values added or removed, constants changed, environment) and the cells to run or skip. Changes nothing.

    Example: sweep plan sweeps/quickstart.yaml
    """
    from ..run.plan import default_store

    sweep = _load(file, sets)
    url = store or default_store(sweep)
    if sets:
        typer.echo("effective sweep (the file with its --set overrides; what the store keeps):\n" + sweep.text)
    _print_plan(sweep, url, _storage_options(url), file, sets)


def _is_sweep_file(arg: str) -> bool:
    """Whether a store argument names a sweep file (.yaml / .yml, existing, local) rather than a store."""
    return arg.lower().endswith((".yaml", ".yml")) and "://" not in arg and Path(arg).is_file()


def resolve_store(arg: str) -> str:
    """A store argument: a sweep file (.yaml / .yml, existing) names its default store; anything else is the
    store's path or URL."""
    if _is_sweep_file(arg):
        from ..run.plan import default_store

        return default_store(_load(Path(arg), grid=False))  # only its name is needed
    return arg


def _open(store: str, checks: bool = True):
    """The ResultsStore at `store`, after refusing (exit 2) a location that holds no usable sweep store (and,
    with `checks`, one whose root attributes or cell-table status do not read: `sweep verify` reports those)."""
    from ..store.results_store import ResultsStore

    return _usable(ResultsStore(store, _storage_options(store)), checks)


def _usable(st, checks: bool = True):
    """`st` (a ResultsStore) after _open's checks, made now (again, for a store read anew)."""
    from ..config.errors import StoreError

    store = st.url
    try:
        state = st.check_usable(attributes=checks, table=checks)
    except StoreError as exc:
        _fail(f"{store}: {exc}")
    except Exception as exc:  # noqa: BLE001 - re-raised unless the storage environment failed
        _store_trouble(store, exc)
    if state != "store":
        _fail(f"{store}: no sweep store there (expected a Zarr group written by `sweep run`)"
              + ("; its creation did not finish: `sweep run` creates it again" if state == "incomplete" else ""))
    return st


def _dataset(store: str, st=None):
    """The store's results as an xarray Dataset, after _open's checks (exit 2 with a message otherwise); `st`: the
    store already opened (and checked)."""
    from ..store.results_store import open_results

    st = st or _open(store)
    return open_results(st.url, st.storage_options)


@app.command()
def status(store: str = typer.Argument(..., help=STORE_HELP),
           map_: Optional[str] = typer.Option(None, "--map", help="Completion map over X[,Y] grid dimensions "
                                              "(default: the first two grid dimensions that are not replicas)."),
           tracebacks: bool = typer.Option(False, "--tracebacks", help="Print failed cells' full tracebacks."),
           watch: float = typer.Option(0.0, "--watch", help="Refresh every SECONDS until every cell is done or "
                                       "failed (Ctrl-C stops).")):
    """Counts per status, time spent and left, a completion map over two grid axes, failed cells.

    Example: sweep status results/quickstart.zarr --map beta,n_samples --watch 2
    """
    store = resolve_store(store)
    import time

    from ..config.errors import StoreError
    from ..store.results_store import ResultsStore
    from ..views.status import store_status

    axes = map_.split(",") if map_ else None
    if axes is not None and not 1 <= len(axes) <= 2:
        _fail(f"--map {map_!r}: give one or two grid dimensions, e.g. --map beta,n_samples")
    opened = ResultsStore(store, _storage_options(store))
    while True:
        try:  # every refresh: a store damaged meanwhile is said so
            now = store_status(opened)
        except StoreError as exc:
            _fail(str(exc) if str(exc).startswith(store) else f"{store}: {exc}")
        except Exception as exc:  # noqa: BLE001 - re-raised unless the storage environment failed
            _store_trouble(store, exc)
        try:
            text = now.text(axes, tracebacks=tracebacks)
        except ValueError as exc:
            _fail(f"--map: {exc}")
        if watch > 0:
            typer.echo("\033[2J\033[H" + text if sys.stdout.isatty() else text)
            if now.finished:
                break
            time.sleep(watch)
        else:
            typer.echo(text)
            break


@app.command()
def show(store: str = typer.Argument(..., help=STORE_HELP)):
    """Dimensions, coordinates, variables and the sweep file of a store.

    Example: sweep show results/quickstart.zarr
    """
    store = resolve_store(store)
    ds = _dataset(store)
    typer.echo(repr(ds))
    typer.echo("\nsweep file:\n" + ds.attrs.get("sweep_yaml", ""))


def _corrupt_read(store: str, exc: BaseException, ds, sub, variables=None, quiet: bool = True):
    """After a read of the store's Dataset `ds` (selected as `sub`) failed: exit 2 with one line naming the
    corrupt chunk's variable and cell (sweep.store.verify.find_corrupt) where one is found; otherwise re-raise `exc`,
    or return when not `quiet` (the caller says what failed)."""
    import logging

    import numpy as np

    from ..store.verify import find_corrupt

    if not _in_store_read(exc):  # not a failure of reading the store: nothing to look for
        if quiet:
            raise exc
        return
    within = {}
    for d in ds["status"].dims if ds is not None else ():
        if d in sub.dims or (d in sub.coords and sub[d].ndim == 0):
            full = ds[d].values.tolist()
            within[d] = [full.index(v) for v in np.atleast_1d(sub[d].values).tolist()]
    try:
        msg = find_corrupt(_open(store, checks=False), within, variables)
    except Exception:  # noqa: BLE001 - the search itself failed: the original error stands
        msg = None
    if msg is None:
        if quiet:
            raise exc
        return
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the failed read's abandoned tasks, at exit
    _fail(msg)


def _in_store_read(exc: BaseException) -> bool:
    """Whether `exc` (or an exception it chains) was raised inside zarr or its codecs: a chunk failed to read or
    decode."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename.replace("\\", "/")
            if "/zarr/" in name or "/numcodecs/" in name:
                return True
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return False


def _parse_sel(items: List[str], ds) -> dict:
    import numpy as np

    sel = {}
    for item in items:
        if "=" not in item:
            _fail(f"--sel {item!r}: expected NAME=VALUE, e.g. --sel beta=0.5")
        name, raw = item.split("=", 1)
        if name not in ds.coords:
            _fail(f"--sel {item!r}: no coordinate {name!r}; coordinates: {', '.join(ds.coords)}")
        dtype = ds[name].dtype
        try:
            value = raw if dtype.kind in "UTO" else np.array(raw).astype(dtype).item()
        except ValueError:
            _fail(f"--sel {item!r}: {raw!r} is not a valid {dtype} value")
        if value not in ds[name].values:
            _fail(f"--sel {item!r}: {value!r} is not on the grid ({ds[name].values.tolist()[:20]})")
        sel[name] = value
    return sel


@app.command()
def query(store: str = typer.Argument(..., help=STORE_HELP),
          sel: List[str] = typer.Option([], "--sel", help="NAME=VALUE selection (repeatable)."),
          var: List[str] = typer.Option([], "--var", help="Variable to keep (repeatable; default: all)."),
          out: Optional[Path] = typer.Option(None, help="Write to FILE.nc, .csv or .json instead of printing.")):
    """Select cells by coordinate values and print or export variables.

    Example: sweep query results/quickstart.zarr --sel beta=0.6 --sel seed=0 --var weights --out w.nc
    """
    store = resolve_store(store)
    if out is not None:
        _check_out(out)
    ds = _dataset(store)
    for v in var:
        if v not in ds.data_vars:
            _fail(f"--var {v!r}: no such variable; variables: {', '.join(ds.data_vars)}")
    sub = ds.sel(_parse_sel(sel, ds))
    if var:
        sub = sub[list(var)]
    else:  # the chunk digests are the store's bookkeeping (and their `variable` axis would multiply CSV rows)
        sub = sub.drop_vars(["chunk_digest", "variable"], errors="ignore")
    try:
        sub = sub.load()
    except Exception as exc:  # noqa: BLE001 - a corrupt chunk is named; anything else re-raised
        _corrupt_read(store, exc, ds, sub, list(var) or None)
    if out is None:
        typer.echo(repr(sub))
        return
    from ..views.export import export

    _write_out(out, lambda: export(sub, out))
    typer.echo(f"wrote {out}")


@app.command()
def verify(store: str = typer.Argument(..., help=STORE_HELP),
           repair: bool = typer.Option(False, "--repair", help="Restore damaged metadata from the sweep, mark corrupt "
                                       "or torn cells for recomputation and remove stray partial files."),
           sweep_file: Optional[Path] = typer.Option(None, "--sweep", help="With --repair, for a store that lost its "
                                                     "root metadata: the sweep file it was made with.")):
    """Check metadata and every cell: every array's zarr.json and the root's listing against the sweep, root
    attributes, corrupt chunks (checksums; and each done cell's chunks against the digests its row records, so
    a chunk moved or copied from another cell is found), torn cells and stray partial files (those of a live
    run are writes in flight: counted, not problems).

    --repair --sweep FILE restores a lost or unreadable root from FILE after proving it is the store's sweep
    (coordinate values and every finished cell's seeds), and refuses it otherwise, naming the first mismatch.

    Exit 0 when the store is clean (or was repaired), 1 otherwise. After --repair, `sweep run` on the same
    sweep file recomputes exactly the marked cells, to identical bits.
    Example: sweep verify results/quickstart.zarr --repair
    """
    store = resolve_store(store)
    from ..config.errors import StoreError
    from ..run.maintenance import verify as verify_store

    try:
        result = verify_store(store, repair=repair, sweep=_load(sweep_file) if repair and sweep_file else None,
                              storage_options=_storage_options(store))
    except StoreError as exc:
        _fail(str(exc) if str(exc).startswith(store) else f"{store}: {exc}")
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised unless the storage environment failed
        _store_trouble(store, exc)
    rep, label = result.report, result.label
    if result.restored:
        typer.echo(f"restored the root metadata from {sweep_file}"
                   + (" (earlier run records are kept where they still read)" if result.records_kept
                      else " (earlier run records are lost)"))
    for p in rep.metadata:
        typer.echo(f"metadata: {p.detail}")
    for idx, problems in rep.corrupt.items():
        typer.echo(f"corrupt {label(idx)}: " + "; ".join(problems))
    for idx in rep.torn:
        typer.echo(f"torn {label(idx)}: status done but no data")
    for p in rep.partial_files:
        typer.echo(f"stray partial file: {p}")
    for note in rep.notes:
        typer.echo(f"note: {note}")
    if rep.in_flight:
        typer.echo(f"{len(rep.in_flight)} in-flight partial files of the running driver ignored")
    typer.echo(f"{rep.cells} cells checked: {len(rep.metadata)} metadata problems, {len(rep.corrupt)} corrupt, "
               f"{len(rep.torn)} torn, {len(rep.partial_files)} partial files"
               + ("; repaired: rerun `sweep run` to recompute them" if rep.repaired else ""))
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def unlock(store: str = typer.Argument(..., help=STORE_HELP),
           force: bool = typer.Option(False, "--force", help="Free the store even when its driver looks live (for an "
                                      "operator who knows it is gone); the next run's record notes it.")):
    """Free a store whose driver is gone (killed, or its machine lost) without waiting for its lease to expire;
    a store held by a live run is refused (a holder on another host is watched for one lease period first).
    --force frees it even then: it says what it freed, and the next run's record notes it.

    Example: sweep unlock results/quickstart.zarr
    """
    store = resolve_store(store)
    from ..config.errors import StoreError
    from ..run.maintenance import unlock as unlock_store

    try:
        holder = unlock_store(store, force=force, storage_options=_storage_options(store))
    except StoreError as exc:
        _fail(str(exc) if str(exc).startswith(store) else f"{store}: {exc}")
    except Exception as exc:  # noqa: BLE001 - re-raised unless the storage environment failed
        _store_trouble(store, exc)
    if holder is None:
        typer.echo(f"{store}: no run holds this store")
    elif force:
        typer.echo(f"{store}: forced: removed the lease of {holder.describe()}; if that driver still runs it stops "
                   "at its next check; the next run's record notes this")
    else:
        typer.echo(f"{store}: removed the lease of {holder.describe()} (no longer running)")


@app.command()
def table(store: str = typer.Argument(..., help=STORE_HELP),
          sel: List[str] = typer.Option([], "--sel", help="NAME=VALUE selection (repeatable)."),
          observable: List[str] = typer.Option([], "--observable", help="Observable column (repeatable): R, IPR, "
                                               "Q, FWHM, angular_order, spatial_order (XY); the mean over hidden "
                                               "units at each cell's final epoch [default: R, Q, FWHM]; none: no "
                                               "observable (no weight is read)."),
          out: Optional[Path] = typer.Option(None, help="Write to FILE.csv, .parquet or .json instead of printing.")):
    """One row per cell: grid coordinates, status, attempts, wall time, host, final log-likelihoods and
    observables (statistics stores: top eigenvalue and mode weight).

    Example: sweep table results/quickstart.zarr --sel beta=1.0 --observable R --observable FWHM --out cells.csv
    """
    store = resolve_store(store)
    from ..views.table import cells_table, write_cells_table

    if out is not None:
        _check_out(out)
    ds = _dataset(store)
    sub = ds.sel(_parse_sel(sel, ds))
    names = [] if [o.lower() for o in observable] == ["none"] else list(observable) or None
    try:
        df = cells_table(sub, observables=names)
    except ValueError as exc:
        _corrupt_read(store, exc, ds, sub, quiet=False)
        _fail(f"{store}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a corrupt chunk is named; anything else re-raised
        _corrupt_read(store, exc, ds, sub)
    if out is None:
        typer.echo(df.to_string(index=False))
        return
    _write_out(out, lambda: write_cells_table(df, out))
    typer.echo(f"wrote {out} ({len(df)} cells)")


@app.command()
def report(store: str = typer.Argument(..., help=STORE_HELP),
           out: Path = typer.Option(..., "--out", help="Output file, .html.")):
    """One self-contained HTML file to share: the sweep file, status map, failures with their tracebacks,
    the plots that apply to the store, the sortable cell table, provenance and run records. No image or
    script is fetched from anywhere: everything is inside the file.

    Example: sweep report results/quickstart.zarr --out report.html
    """
    store = resolve_store(store)
    from ..views.table import DoesNotFit
    from ..views.export import OutputError, write_failure
    from ..views.report import write_report

    if out.suffix.lower() not in (".html", ".htm"):
        _fail(f"--out {out}: the report is written as .html")
    _check_out(out)
    st = _open(store)
    try:
        write_report(store, out, st.storage_options, sweep=st.sweep())
    except OutputError as exc:
        _fail(f"--out {out}: {exc}")
    except DoesNotFit as exc:
        _fail(f"{store}: {exc}")
    except OSError as exc:
        _fail(f"--out {out}: cannot write: {write_failure(exc)}")
    except Exception as exc:  # noqa: BLE001 - a corrupt chunk is named; anything else re-raised
        _corrupt_read(store, exc, None, None)
    typer.echo(f"wrote {out}")


PLOT_KINDS = ("phase-diagram", "width-vs-xi", "width-vs-m", "trajectories", "msd", "weights", "profiles",
              "modulation", "eigen", "eigenvector", "small-beta", "samples", "theory")
# the kinds as a choice list: --help shows them, completion offers them, a wrong one is a usage error (exit 2)
PlotKind = Enum("PlotKind", {k.replace("-", "_"): k for k in PLOT_KINDS}, type=str)


def _write_out(out: Path, write):
    """`write()` (which writes --out) with its failures as one line, exit 2: a refused path or value (ValueError,
    OutputError among them), a failed write (OSError: full disk, read-only, ...; TypeError: a value the format
    cannot hold). Returns what `write()` returns."""
    from ..views.export import write_failure

    try:
        return write()
    except ValueError as exc:
        _fail(f"--out {out}: {exc}")
    except OSError as exc:
        _fail(f"--out {out}: cannot write: {write_failure(exc)}")
    except TypeError as exc:
        _fail(f"--out {out}: cannot write: {exc}")


def _check_out(out: Path) -> None:
    """Refuse (exit 2) an output path before any work: a missing folder, a system folder, a special file."""
    from ..views.export import OutputError, check_output

    try:
        check_output(out)
    except OutputError as exc:
        _fail(f"--out {out}: {exc}")


@app.command()
def plot(kind: PlotKind = typer.Argument(..., help="What to draw.", show_choices=True),
         store: Optional[str] = typer.Argument(None, help=STORE_HELP + " `samples` given a sweep file draws from "
                                               "the file itself (no store needed); `theory` takes none."),
         out: Path = typer.Option(..., "--out", help="Output file, .png or .svg."),
         sel: List[str] = typer.Option([], "--sel", help="NAME=VALUE selection (repeatable)."),
         x: str = typer.Option("beta", help="phase-diagram: horizontal axis (a grid dimension)."),
         y: str = typer.Option("n_samples", help="phase-diagram: vertical axis (a grid dimension)."),
         observable: str = typer.Option("R", help="phase-diagram: R, IPR, Q, FWHM, angular_order, spatial_order."),
         hidden: int = typer.Option(0, help="weights, profiles, modulation: which hidden unit; weights -1: "
                                    "final profiles of all units."),
         after: float = typer.Option(20, help="msd: fit MSD = 2 D tau after this many epochs."),
         n: int = typer.Option(100, help="samples: configurations drawn.")):
    """Draw a figure from a store, with the theory of the store's model on the same axes.

    Examples: sweep plot phase-diagram results/quickstart.zarr --out phase.png;
    sweep plot phase-diagram sweeps/quickstart.yaml --out phase.png (the file's default store);
    sweep plot weights results/quickstart.zarr --sel beta=1.0 --sel seed=0 --sel n_samples=10000 --out w.svg;
    sweep plot samples sweeps/paper/fig8.yaml --sel beta=2.0 --out fig8.png; sweep plot theory --out fig14.png
    """
    kind = PlotKind(kind).value
    import matplotlib

    matplotlib.use("Agg")  # files only; sweep.views.plots itself leaves the backend alone
    from ..views import plots

    if out.suffix.lower() not in (".png", ".svg"):
        _fail(f"--out {out}: plots are written as .png or .svg")
    _check_out(out)
    options = {"phase-diagram": dict(x=x, y=y, observable=observable), "weights": dict(hidden=hidden),
               "profiles": dict(hidden=hidden), "modulation": dict(hidden=hidden), "msd": dict(after=after)}
    try:
        if kind == "theory":
            fig = plots.theory_figure()
        elif store is None:
            _fail(f"plot {kind}: give the store path")
        elif kind == "samples":
            import xarray as xr

            from ..config.grid import expand

            # a sweep file: draw from the file itself (the data are its seeds'), no store needed
            sweep = _load(Path(store)) if _is_sweep_file(store) else _open(store).sweep()
            coords = xr.Dataset(coords={k: (d, list(v)) for k, (d, v) in expand(sweep).xarray_coords().items()})
            fig = plots.samples_of(sweep, _parse_sel(sel, coords), n=n)
        else:
            ds = _dataset(resolve_store(store))
            chosen = _parse_sel(sel, ds)
            try:
                fig = plots.PLOTS[kind](ds, sel=chosen, **options.get(kind, {}))
            except Exception as exc:  # noqa: BLE001 - a corrupt chunk is named; anything else as before
                _corrupt_read(resolve_store(store), exc, ds, ds.sel(chosen))
    except (ValueError, KeyError, IndexError) as exc:
        _fail(f"plot {kind}: {exc}")
    typer.echo(f"wrote {_write_out(out, lambda: plots.save(fig, out))}")


@app.command()
def schema():
    """Print the JSON Schema of sweep files (for editors)."""
    from ..config.sweepfile import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))
