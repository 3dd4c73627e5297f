"""The `sweep` command line: a thin layer over the Python API (sweep.run_sweep, sweep.open_results, ...).

Exit codes: 0 success; 1 a sweep finished with failed or unfinished cells; 2 bad input (sweep file,
store, arguments), always with a message naming the file, the key and the reason, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__

app = typer.Typer(help="Sweeps of RBM trainings on invariant data: YAML grid -> Ray tasks -> one Zarr store.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


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


STORAGE_ENV = "SWEEP_STORAGE_OPTIONS"
SECRET_OPTIONS = {"key", "secret", "token", "password", "access_key", "secret_key", "session_token",
                  "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "account_key", "sas_token"}


def _storage_options(url: str) -> Optional[dict]:
    """fsspec storage options of a store URL, from the environment only: SWEEP_STORAGE_OPTIONS (a JSON object of
    non-secret options, e.g. {"client_kwargs": {"region_name": "eu-west-1"}}) and, for s3:// URLs, the endpoint
    in AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (made explicit so that every node of a cluster writes to the
    driver's endpoint). Credentials are never options (options travel with every task): s3fs reads them on
    each node from its environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)."""
    if "://" not in url:
        return None
    raw = os.environ.get(STORAGE_ENV, "").strip()
    try:
        opts = json.loads(raw) if raw else {}
    except ValueError as exc:
        _fail(f"{STORAGE_ENV}: not valid JSON: {exc}")
    if not isinstance(opts, dict):
        _fail(f"{STORAGE_ENV}: expected a JSON object of storage options, got {type(opts).__name__}")

    def secrets(d, path=""):
        for k, v in d.items():
            if str(k).lower() in SECRET_OPTIONS:
                yield path + str(k)
            if isinstance(v, dict):
                yield from secrets(v, f"{path}{k}.")

    bad = list(secrets(opts))
    if bad:
        _fail(f"{STORAGE_ENV}: {', '.join(bad)}: credentials are not storage options here (they would travel "
              "with every task); set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment "
              "of the driver and of every node instead")
    if url.startswith(("s3://", "s3a://")) and "endpoint_url" not in opts:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            opts["endpoint_url"] = endpoint
    return opts or None


def _access_refused(url: str, exc: Exception):
    """Exit with a clear message for a store that refuses access (wrong or missing credentials); other errors
    are re-raised."""
    if not (isinstance(exc, PermissionError) or type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError")):
        raise exc
    hint = ("; credentials come from the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, "
            "or the machine's role), the endpoint from AWS_ENDPOINT_URL") if "://" in url else ""
    _fail(f"{url}: access refused ({type(exc).__name__}: {exc}){hint}")


def _load(file: Path):
    from .spec import SpecError, load_sweep

    try:
        return load_sweep(file)
    except SpecError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{file}: cannot read the sweep file: {exc.strerror or exc}")


@app.command()
def run(file: Path = typer.Argument(..., help="Sweep file (YAML)."),
        store: Optional[str] = typer.Option(None, help="Store path or URL [default: results/<name>.zarr]."),
        address: Optional[str] = typer.Option(None, help="Ray cluster address [default: start local Ray]."),
        max_parallel: Optional[int] = typer.Option(None, min=1, help="Most Ray tasks in flight at once (each runs a batch of cells; default 2 per CPU)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the cells and the work; run nothing.")):
    """Run a sweep, or resume it: done cells are skipped, the others (re)run.

    --address (or RAY_ADDRESS) joins a Ray cluster; its token: RAY_AUTH_MODE=token, RAY_AUTH_TOKEN.

    s3:// stores: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, SWEEP_STORAGE_OPTIONS (environment only).

    Example: sweep run sweeps/quickstart.yaml --store results/quick.zarr
    """
    from .runner import default_store, plan_sweep, run_sweep
    from .store import StoreError

    sweep = _load(file)
    url = store or default_store(sweep)
    try:
        if dry_run:
            typer.echo(plan_sweep(sweep, url, _storage_options(url), create=False).describe())
            return
        summary = run_sweep(sweep, store=url, address=address, max_parallel=max_parallel,
                            storage_options=_storage_options(url))
    except StoreError as exc:
        _fail(f"{url}: {exc}")
    except ConnectionError as exc:  # sweep.runner says which cluster and how token authentication is set up
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - re-raised unless the store refused access
        _access_refused(url, exc)
    typer.echo(summary.text())
    raise typer.Exit(0 if summary.ok else 1)


@app.command()
def plan(file: Path = typer.Argument(..., help="Sweep file (YAML)."),
         store: Optional[str] = typer.Option(None, help="Store path or URL [default: results/<name>.zarr].")):
    """What `sweep run` would do: the cells, a work estimate and, against an existing store, the diff
    (values added or removed, constants changed) and the cells to run or skip. Changes nothing.

    Example: sweep plan sweeps/quickstart.yaml
    """
    from .runner import default_store, plan_sweep
    from .store import StoreError

    sweep = _load(file)
    url = store or default_store(sweep)
    try:
        typer.echo(plan_sweep(sweep, url, _storage_options(url), create=False).describe())
    except StoreError as exc:
        _fail(f"{url}: {exc}")


def _open(store: str):
    from .store import ResultsStore

    st = ResultsStore(store, _storage_options(store))
    try:
        found = st.exists()
    except Exception as exc:  # noqa: BLE001 - re-raised unless the store refused access
        _access_refused(store, exc)
    if not found:
        _fail(f"{store}: no sweep store there (expected a Zarr group written by `sweep run`)")
    from .store import StoreError

    try:
        st.check_usable()
    except StoreError as exc:
        _fail(f"{store}: {exc}")
    return st


def _dataset(store: str):
    """The store's results as an xarray Dataset, after _open's checks (exit 2 with a message otherwise)."""
    from .store import open_results

    _open(store)
    return open_results(store, _storage_options(store))


@app.command()
def status(store: str = typer.Argument(..., help="Store path or URL."),
           map_: Optional[str] = typer.Option(None, "--map", help="Completion map over X[,Y] grid dimensions "
                                              "[default: the first two]."),
           tracebacks: bool = typer.Option(False, "--tracebacks", help="Print failed cells' full tracebacks."),
           watch: float = typer.Option(0.0, "--watch", help="Refresh every SECONDS until every cell is done or "
                                       "failed (Ctrl-C stops).")):
    """Counts per status, time spent and left, a completion map over two grid axes, failed cells.

    Example: sweep status results/quickstart.zarr --map beta,n_samples --watch 2
    """
    import time

    from . import status as report
    from .store import DONE, FAILED

    while True:
        ds = _dataset(store)
        dims = list(ds["status"].dims)
        axes = map_.split(",") if map_ else dims[:2]
        if len(axes) > 2 or not axes:
            _fail(f"--map {map_!r}: give one or two grid dimensions, e.g. --map beta,n_samples")
        try:
            text = report.summary(ds) + "\n" + report.status_map(ds, axes[0], axes[1] if len(axes) > 1 else None)
        except ValueError as exc:
            _fail(f"--map: {exc}")
        fails = report.failures(ds, full=tracebacks)
        if fails:
            text += "\n" + fails
        if watch > 0:
            typer.echo("\033[2J\033[H" + text if sys.stdout.isatty() else text)
            st = ds["status"].values
            if ((st == DONE) | (st == FAILED)).all():
                break
            time.sleep(watch)
        else:
            typer.echo(text)
            break


@app.command()
def show(store: str = typer.Argument(..., help="Store path or URL.")):
    """Dimensions, coordinates, variables and the sweep file of a store.

    Example: sweep show results/quickstart.zarr
    """
    ds = _dataset(store)
    typer.echo(repr(ds))
    typer.echo("\nsweep file:\n" + ds.attrs.get("sweep_yaml", ""))


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
def query(store: str = typer.Argument(..., help="Store path or URL."),
          sel: List[str] = typer.Option([], "--sel", help="NAME=VALUE selection (repeatable)."),
          var: List[str] = typer.Option([], "--var", help="Variable to keep (repeatable) [default: all]."),
          out: Optional[Path] = typer.Option(None, help="Write to FILE.nc, .csv or .json instead of printing.")):
    """Select cells by coordinate values and print or export variables.

    Example: sweep query results/quickstart.zarr --sel beta=0.6 --sel seed=0 --var weights --out w.nc
    """
    ds = _dataset(store)
    for v in var:
        if v not in ds.data_vars:
            _fail(f"--var {v!r}: no such variable; variables: {', '.join(ds.data_vars)}")
    sub = ds.sel(_parse_sel(sel, ds))
    if var:
        sub = sub[list(var)]
    sub = sub.load()
    if out is None:
        typer.echo(repr(sub))
        return
    suffix = out.suffix.lower()
    if suffix not in (".nc", ".csv", ".json"):
        _fail(f"--out {out}: unknown format {suffix!r}; use .nc, .csv or .json")
    try:
        if suffix == ".nc":
            _netcdf_ready(sub).to_netcdf(out)
        elif suffix == ".csv":
            sub.to_dataframe().to_csv(out)
        else:
            out.write_text(json.dumps(sub.to_dict(data="list"), default=str))
    except (OSError, ValueError, TypeError) as exc:
        _fail(f"--out {out}: cannot write: {exc}")
    typer.echo(f"wrote {out}")


def _netcdf_ready(ds):
    """NetCDF-3 (scipy) takes scalar or string attributes, byte strings and no 64-bit unsigned ints."""
    import numpy as np

    def attrs(a):
        return {k: (v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)) for k, v in a.items()}

    ds = ds.copy()
    ds.attrs = attrs(ds.attrs)
    for name in list(ds.variables):
        ds[name].encoding = {}  # the Zarr encodings (uint64 fill values, codecs) do not apply to NetCDF
        var = ds[name]
        if var.dtype.kind in "UTO" or var.dtype == np.uint64:  # netCDF-3 has no uint64: seeds as text
            raw = np.array([str(x).encode() for x in np.ravel(var.values)] or [b""]).reshape(var.shape)
            ds[name] = var.copy(data=raw)
        ds[name].attrs = attrs(var.attrs)
    return ds


@app.command()
def verify(store: str = typer.Argument(..., help="Store path or URL."),
           repair: bool = typer.Option(False, "--repair", help="Mark corrupt or torn cells for recomputation "
                                       "and remove stray partial files.")):
    """Read every cell; report corrupt chunks (checksums), torn cells and stray partial files.

    Exit 0 when the store is clean (or was repaired), 1 otherwise. After --repair, `sweep run` on the same
    sweep file recomputes exactly the marked cells, to identical bits.
    Example: sweep verify results/quickstart.zarr --repair
    """
    from .store import StoreError

    st = _open(store)
    try:
        rep = st.verify(repair=repair)
    except StoreError as exc:
        _fail(f"{store}: {exc}")
    dims = st.dims()

    def label(idx):
        return ", ".join(f"{d}[{i}]" for d, i in zip(dims, idx))

    for idx, problems in rep["corrupt"].items():
        typer.echo(f"corrupt {label(idx)}: " + "; ".join(problems))
    for idx in rep["torn"]:
        typer.echo(f"torn {label(idx)}: status done but no data")
    for p in rep["partial_files"]:
        typer.echo(f"stray partial file: {p}")
    bad = len(rep["corrupt"]) + len(rep["torn"]) + len(rep["partial_files"])
    typer.echo(f"{rep['cells']} cells checked: {len(rep['corrupt'])} corrupt, {len(rep['torn'])} torn, "
               f"{len(rep['partial_files'])} partial files"
               + ("; repaired: rerun `sweep run` to recompute them" if rep["repaired"] else ""))
    raise typer.Exit(0 if bad == 0 or rep["repaired"] else 1)


PLOT_KINDS = ("phase-diagram", "width-vs-xi", "width-vs-m", "trajectories", "msd", "weights", "profiles",
              "modulation", "eigen", "eigenvector", "small-beta", "samples", "theory")


@app.command()
def plot(kind: str = typer.Argument(..., help=f"One of: {', '.join(PLOT_KINDS)}."),
         store: Optional[str] = typer.Argument(None, help="Store path or URL (`samples`: or a sweep file; "
                                               "`theory`: none)."),
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
    sweep plot weights results/quickstart.zarr --sel beta=1.0 --sel seed=0 --sel n_samples=10000 --out w.svg;
    sweep plot samples sweeps/paper/fig8.yaml --sel beta=2.0 --out fig8.png; sweep plot theory --out fig14.png
    """
    import matplotlib

    matplotlib.use("Agg")  # files only; sweep.plots itself leaves the backend alone
    from . import plots

    if kind not in PLOT_KINDS:
        _fail(f"plot {kind!r}: choose one of {', '.join(PLOT_KINDS)}")
    if out.suffix.lower() not in (".png", ".svg"):
        _fail(f"--out {out}: plots are written as .png or .svg")
    options = {"phase-diagram": dict(x=x, y=y, observable=observable), "weights": dict(hidden=hidden),
               "profiles": dict(hidden=hidden), "modulation": dict(hidden=hidden), "msd": dict(after=after)}
    try:
        if kind == "theory":
            fig = plots.theory_figure()
        elif store is None:
            _fail(f"plot {kind}: give the store path")
        elif kind == "samples":
            import xarray as xr

            from .grid import expand
            from .spec import parse_sweep

            sweep = _load(Path(store)) if store.endswith((".yaml", ".yml")) else \
                parse_sweep(_dataset(store).attrs["sweep_yaml"], source=store)
            coords = xr.Dataset(coords={k: (d, list(v)) for k, (d, v) in expand(sweep).xarray_coords().items()})
            fig = plots.samples_of(sweep, _parse_sel(sel, coords), n=n)
        else:
            ds = _dataset(store)
            fig = plots.PLOTS[kind](ds, sel=_parse_sel(sel, ds), **options.get(kind, {}))
    except (ValueError, KeyError, IndexError) as exc:
        _fail(f"plot {kind}: {exc}")
    typer.echo(f"wrote {plots.save(fig, out)}")


@app.command()
def schema():
    """Print the JSON Schema of sweep files (for editors)."""
    from .spec import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
