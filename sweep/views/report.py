"""A shareable report of a store: one self-contained HTML file (``sweep report STORE --out report.html``).

The page holds the sweep file, the summary and status map, failed cells with their tracebacks, the plots of
sweep.views.plots that apply to the store (each embedded as a base64 PNG; one that cannot be drawn is replaced
by a note saying why), the cell table (sweep.views.table; sortable by clicking a header, a few lines of inline
script), and the provenance: the root attributes `environment` and `runs` and every cell's `provenance`.
Nothing is fetched: a Content-Security-Policy allows only inline styles and scripts and data: images.
Every text taken from the store is HTML-escaped.

Bounded memory: the cell table is computed in cell batches (sweep.views.table); when one cell's weights do not fit
the memory available, the table has no observable columns and the plots of weights are skipped, each with a note
giving the numbers (the rest of the report is per-cell scalars and text).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd
import xarray as xr

from ..config.version import __version__

from . import plots
from .table import WORK_PER_VALUE, DoesNotFit, cells_table, is_statistics_store
from ..run.memory import available_memory, nbytes
from ..store.outcomes import FAILED, STATUS_NAMES
from ..config.names import REPLICA_DIMS
from .status import default_axes, status_map, stored_sweep, summary

"""Grid dimensions of replicas: averaged in the phase diagram, kept as lines in the trajectories."""
DPI = 90


def esc(value) -> str:
    """`value` as text, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def _pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def _json_text(raw) -> str:
    """A JSON attribute pretty-printed (left as it is when it does not parse)."""
    try:
        return json.dumps(json.loads(raw), indent=2, sort_keys=True)
    except (TypeError, ValueError):
        return str(raw)


def _png(fig) -> str:
    """A figure as a base64 PNG data URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label(sel: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sel.items())


def _numeric_dims(ds: xr.Dataset) -> list:
    """Grid dimensions with a numeric coordinate and several values."""
    return [d for d in ds["status"].dims
            if d in ds.coords and ds[d].dtype.kind in "iuf" and ds.sizes[d] >= 2]


def _phase_axes(ds: xr.Dataset) -> Optional[tuple]:
    dims = [d for d in _numeric_dims(ds) if d not in REPLICA_DIMS]
    if "beta" in dims and "n_samples" in dims:
        return "beta", "n_samples"
    if len(dims) < 2:
        return None
    if "beta" in dims:
        return "beta", next(d for d in dims if d != "beta")
    return dims[0], dims[1]


def _best_cell(ds: xr.Dataset, table) -> Optional[dict]:
    """The grid position of the done cell with the highest R (the first done cell when R is undefined)."""
    done = table[table["status"] == "done"]
    if done.empty:
        return None
    if "R" in done and done["R"].notna().any():
        row = done.loc[done["R"].idxmax()]
    else:
        row = done.iloc[0]
    return {d: row[d].item() if hasattr(row[d], "item") else row[d] for d in ds["status"].dims if d in ds.coords}


def weights_too_large(ds: xr.Dataset) -> Optional[str]:
    """Why the plots of weights cannot be drawn within the memory available now (each dask thread decodes a
    cell's chunk whole and computes observables on it), or None when they can."""
    status, w = ds["status"], ds["weights"]
    inner = [w.sizes[d] for d in w.dims if d not in status.dims]
    chunk = 4 * int(np.prod(inner, dtype=np.int64))
    final = chunk // 4 // max(1, w.sizes.get("epoch", 1))  # the weights of one epoch of a cell
    need = (2 * chunk + WORK_PER_VALUE * final) * max(1, min(os.cpu_count() or 1, status.size))
    free = available_memory() // 2
    if need <= free:
        return None
    return (f"one cell's weights are {nbytes(chunk)} uncompressed; drawing needs about {nbytes(need)}, more than "
            f"the {nbytes(free)} of memory the report may use")


def plot_items(ds: xr.Dataset, table=None) -> list:
    """The report's figures: [(title, data URI or None, note)], in order. A plot that does not apply to this
    store, or fails to draw, has no image and a note saying why."""
    items = []

    def add(title: str, draw: Callable, note: str = ""):
        try:
            items.append((title, _png(draw()), note))
        except Exception as exc:  # noqa: BLE001 - a plot that cannot be drawn is a note, never a failed report
            items.append((title, None, f"not drawn: {type(exc).__name__}: {exc}"))

    def skip(title: str, why: str):
        items.append((title, None, f"skipped: {why}"))

    if is_statistics_store(ds):
        if all(d in ds["status"].dims for d in ("beta", "n_samples")):
            add("top eigenvalue vs noise ratio", lambda: plots.eigen(ds))
        else:
            skip("top eigenvalue vs noise ratio", "needs beta and n_samples on the grid")
        skip("phase diagram, trajectories, weights, MSD", "a statistics store (train.method: statistics) has no "
             "weights")
        return items
    too_large = weights_too_large(ds)
    if too_large:
        skip("phase diagram, width, trajectories, MSD, weights", too_large)
        return items
    table = cells_table(ds) if table is None else table
    xy = "state" in ds["weights"].dims
    axes = _phase_axes(ds)
    if axes:
        add(f"phase diagram over {axes[0]} x {axes[1]}",
            lambda: plots.phase_diagram(ds, x=axes[0], y=axes[1], observable="R"),
            "R of the final weights" + (" (XY: of the angular modulation)" if xy else "")
            + ", averaged over the other dimensions")
    else:
        skip("phase diagram", "needs two numeric grid dimensions with several values (besides seeds); this "
             f"store's grid: {', '.join(f'{d}({ds.sizes[d]})' for d in ds['status'].dims) or 'one cell'}")
    if xy:
        skip("width vs correlation length", "Ising stores only (the correlation length is the Ising ring's)")
    elif "beta" in _numeric_dims(ds):
        add("width vs correlation length", lambda: plots.width_vs_xi(ds))
    else:
        skip("width vs correlation length", "needs several beta values on the grid")
    best = _best_cell(ds, table)
    if best is None:
        skip("trajectories, MSD, weights", "no cell is done yet")
        return items
    replicas = {k: v for k, v in best.items() if k not in REPLICA_DIMS}
    where = f"cell {_label(best)}, the done cell with the highest R"
    add("place-field centres over training", lambda: plots.trajectories(ds, sel=replicas),
        f"{_label(replicas) or 'every cell'}; " + ("one line per replica and hidden unit" if replicas != best
                                                    else "one line per hidden unit"))
    last = float(np.nanmax(ds["epoch"].values)) if ds.sizes.get("epoch") else 0.0
    after = min(20.0, last / 5)
    add("mean-square displacement of the centre", lambda: plots.msd(ds, sel=replicas, after=after),
        f"{_label(replicas) or 'every cell'}; time origins after epoch {after:g}")
    add("final weights of every hidden unit", lambda: plots.weights(ds, sel=best, hidden=-1), where)
    add("weights of hidden unit 0" + ("" if xy else " over training"), lambda: plots.weights(ds, sel=best, hidden=0),
        where)
    skip("top eigenvalue vs noise ratio", "statistics stores only (train.method: statistics)")
    return items


def _cell(value) -> str:
    """A table cell, with its sort key in data-v (empty for a missing value)."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return '<td data-v=""></td>'
    if isinstance(value, (bool, np.bool_)):
        return f'<td data-v="{int(value)}">{esc(value)}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td data-v="{int(value)}">{int(value)}</td>'
    if isinstance(value, (float, np.floating)):
        return f'<td data-v="{float(value)!r}">{float(value):.6g}</td>'
    return f'<td data-v="{esc(value)}">{esc(value)}</td>'


def table_html(table) -> str:
    """The cell table as a sortable <table> (status sorts in flag order: pending running done failed)."""
    head = "".join(f'<th title="click to sort">{esc(c)}</th>' for c in table.columns)
    rows = []
    order = {name: k for k, name in enumerate(STATUS_NAMES)}
    for rec in table.itertuples(index=False):
        tds = []
        for col, v in zip(table.columns, rec):
            if col == "status":
                tds.append(f'<td data-v="{order.get(str(v), "")}" class="st-{esc(v)}">{esc(v)}</td>')
            else:
                tds.append(_cell(v))
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return (f'<table class="sortable" id="cells"><thead><tr>{head}</tr></thead><tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>")


SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (t) {
  t.querySelectorAll("thead th").forEach(function (th, i) {
    th.addEventListener("click", function () {
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute("data-dir") === "asc" ? -1 : 1;
      t.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", dir === 1 ? "asc" : "desc");
      function key(r) { var c = r.cells[i]; var v = c.getAttribute("data-v"); return v === null ? c.textContent : v; }
      var num = rows.every(function (r) { var k = key(r); return k === "" || !isNaN(Number(k)); });
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        return dir * (num ? Number(x) - Number(y) : x.localeCompare(y));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 80em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; margin-top: 2em; }
h3 { font-size: 1em; }
pre { background: #f5f5f5; padding: .6em; overflow-x: auto; font-size: .85em; }
table { border-collapse: collapse; font-size: .85em; }
td, th { border: 1px solid #ccc; padding: .2em .5em; text-align: right; }
th { background: #eee; cursor: pointer; user-select: none; }
th[data-dir=asc]::after { content: " \\25B2"; } th[data-dir=desc]::after { content: " \\25BC"; }
td.st-failed { background: #fdd; } td.st-pending { color: #888; } td.st-running { background: #ffd; }
figure { display: inline-block; margin: .5em 1em .5em 0; vertical-align: top; }
figcaption, .note { font-size: .85em; color: #555; max-width: 40em; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _cell_labels(ds: xr.Dataset) -> list:
    """`name=value, ...` of every cell, in the cell table's order."""
    status = ds["status"]
    coords = [d for d in status.dims if d in ds.coords]
    vals = {d: np.ravel(ds[d].broadcast_like(status).transpose(*status.dims).values) for d in coords}
    return [", ".join(f"{d}={vals[d][k]}" for d in coords) for k in range(status.size)]


def _flat(ds: xr.Dataset, name: str) -> np.ndarray:
    return np.ravel(ds[name].transpose(*ds["status"].dims).values)


def render_report(ds: xr.Dataset, store: Optional[str] = None, sweep=None) -> str:
    """The report of `ds` (a store's Dataset) as one HTML document; `store` names it on the page. `sweep`: the
    store's sweep when the caller has it parsed (ResultsStore.sweep()), else read from `ds` (stored_sweep)."""
    a = ds.attrs
    try:
        name = json.loads(a.get("sweep_normalized", "{}")).get("name", "")
    except ValueError:
        name = ""
    try:
        table = cells_table(ds)
    except DoesNotFit as exc:  # the table without observables: per-cell scalars only
        table = cells_table(ds, observables=[])
        table.attrs["observables"] = f"no observable columns: {str(exc).split('; --observable')[0]}"
    labels = _cell_labels(ds)
    status = _flat(ds, "status")
    parts = [f"<h1>Sweep report: {esc(name or a.get('sweep_source', ''))}</h1>"]
    facts = [("store", store), ("sweep file", a.get("sweep_source")), ("created", a.get("created")),
             ("written by", f"rbm-sweep {a.get('package_version', '?')}"), ("spec hash", a.get("spec_hash")),
             ("report made", time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()) + f" by rbm-sweep {__version__}")]
    parts.append("<table class=facts>" + "".join(f"<tr><th>{esc(k)}</th><td style='text-align:left'>{esc(v)}</td></tr>"
                                                 for k, v in facts if v) + "</table>")
    sweep = sweep if sweep is not None else stored_sweep(ds)
    parts.append("<h2 id=summary>Summary</h2>" + _pre(summary(ds, None, driver_known=False, sweep=sweep)))
    parts.append("<h2 id=sweep>Sweep file</h2>" + _pre(a.get("sweep_yaml", "(not recorded)")))
    dims = default_axes(ds["status"].dims)
    parts.append("<h2 id=status>Status map</h2>")
    if dims:
        parts.append(_pre(status_map(ds, dims[0], dims[1] if len(dims) > 1 else None)))
    else:
        parts.append("<p class=note>one cell, no grid dimension</p>")
    failed = np.flatnonzero(status == FAILED)
    parts.append(f"<h2 id=failures>Failures ({len(failed)})</h2>")
    if len(failed):
        errors = _flat(ds, "error")
        for k in failed:
            text = str(errors[k]).strip()
            last = text.splitlines()[-1] if text else "(no error recorded)"
            parts.append(f"<details><summary>{esc(labels[k])}: {esc(last)}</summary>{_pre(text)}</details>")
    else:
        parts.append("<p class=note>no failed cell</p>")
    parts.append("<h2 id=plots>Plots</h2>")
    for title, uri, note in plot_items(ds, table):
        if uri:
            parts.append(f'<figure><img src="{uri}" alt="{esc(title)}"><figcaption><b>{esc(title)}</b>'
                         f'{": " + esc(note) if note else ""}</figcaption></figure>')
        else:
            parts.append(f"<p class=note><b>{esc(title)}</b>: {esc(note)}</p>")
    parts.append(f"<h2 id=table>Cells ({len(table)})</h2><p class=note>Click a column header to sort. "
                 f"{esc(table.attrs.get('observables', ''))}</p>" + table_html(table))
    parts.append("<h2 id=provenance>Provenance</h2><h3>Environment the store was computed in</h3>"
                 + _pre(_json_text(a.get("environment", "(not recorded)"))))
    parts.append("<h3>Runs</h3>" + _pre(_json_text(a.get("runs", "[]"))))
    prov = _flat(ds, "provenance")
    rows = "".join(f"<tr><td style='text-align:left'>{esc(labels[k])}</td><td style='text-align:left'>"
                   f"<code>{esc(prov[k])}</code></td></tr>" for k in range(len(prov)) if str(prov[k]))
    parts.append(f"<details><summary>Per-cell provenance ({sum(1 for p in prov if str(p))} cells)</summary>"
                 f"<table><tr><th>cell</th><th>provenance</th></tr>{rows}</table></details>")
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            '<link rel=icon href="data:,">'
            f"<title>{esc(name or 'sweep')} report</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(parts) + f"\n<script>{SORT_JS}</script>\n</body></html>\n")


def write_report(ds_or_store, out, storage_options: Optional[dict] = None, sweep=None) -> Path:
    """Write the report of a store (a Dataset, or a store path or URL) to `out` (HTML, UTF-8), atomically
    (sweep.views.export.write_atomically: its folder must exist); returns `out`. `sweep`: the store's, when the
    caller has it parsed (render_report). OutputError (a ValueError) for a refused path, OSError when the file
    cannot be written."""
    from ..store.results_store import open_results

    if isinstance(ds_or_store, xr.Dataset):
        ds, store = ds_or_store, None
    else:
        store = str(ds_or_store)
        ds = open_results(store, storage_options)
    from .export import check_output, write_atomically

    out = check_output(out)  # before the work: a path that cannot be written is refused first
    text = render_report(ds, store, sweep)
    return write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))


__all__ = ["esc", "plot_items", "render_report", "table_html", "write_report"]
