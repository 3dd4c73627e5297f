"""`sweep report`: one self-contained HTML file, loaded in a real headless Chromium (Debian's `chromium`, installed by
scripts/install-test-deps; without it the test skips and says so) driven over the DevTools protocol: no console
error, no request beyond the file itself and data: URIs, a screenshot that is not blank, one table row per cell,
sorting by a header click, and store text (the sweep file, a traceback) shown as text, never run as markup."""

import asyncio
import base64
import io
import json
import os
import queue
import re
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _limits import Deadline, scaled
from sweep import open_results, run_sweep
from sweep.cli import app
from sweep.views.report import write_report

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
HOSTILE = '<script>document.title="pwned"</script><img src="x.png"> & </pre>'

SWEEP = f"""
# a comment that must stay text: {HOSTILE}
name: report-test
seed: 7
data: {{model: ising, n_visible: 12}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: exact, learning_rate: 0.05, batch_size: 20, record_every: 2, test_fraction: 0.2}}
grid:
  data.beta: [0.3, 0.9]
  train.seed: [0, 1]
  zip:
    - {{data.n_samples: [100, 200], train.epochs: [6, 4]}}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store of 8 cells run by sweep.run_sweep on local Ray; one cell fails with a traceback whose message is
    markup."""
    import ray

    from sweep.run import tasks

    folder = tmp_path_factory.mktemp("report")
    (folder / "s.yaml").write_text(SWEEP)
    url = str(folder / "r.zarr")
    orig = tasks.execute_cell

    def failing(store, cell, attempt):
        from sweep.run import cell as cell_module

        compute = cell_module.cell_arrays

        def broken(*args, **kwargs):
            raise RuntimeError(f"injected {HOSTILE}")

        if cell.label().startswith("beta=0.9, seed=1, n_samples=100"):
            cell_module.cell_arrays = broken
        try:
            return orig(store, cell, attempt)
        finally:
            cell_module.cell_arrays = compute

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024 * 1024,
             runtime_env={"env_vars": {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}},
             logging_level="ERROR", log_to_driver=False)
    tasks.execute_cell = failing
    try:
        summary = run_sweep(folder / "s.yaml", store=url, progress=False)
    finally:
        tasks.execute_cell = orig
        ray.shutdown()
    assert summary.done == 7 and summary.failed == 1
    return url


def references(text: str) -> list:
    """Every address an element of the page refers to (src, href, ... of the real tags, not of escaped text)."""
    from html.parser import HTMLParser

    found = []

    class Refs(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(v or "" for k, v in attrs if k in ("src", "href", "action", "srcset", "poster", "data",
                                                            "formaction", "background"))

    Refs().feed(text)
    return found


def test_report_file_is_self_contained_and_escapes_store_text(store, tmp_path):
    out = write_report(store, tmp_path / "r.html")
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    refs = references(text)
    assert refs and all(r.startswith("data:") for r in refs), [r for r in refs if not r.startswith("data:")]
    assert "url(" not in text and "@import" not in text
    assert len(re.findall(r"<script", text)) == 1  # the sorting script; the store's "<script>" is text
    assert HOSTILE not in text
    assert text.count("&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;") >= 2  # sweep file, traceback
    assert text.count('src="data:image/png;base64,') >= 5  # phase diagram, width, trajectories, msd, weights x2
    for section in ("Sweep file", "Status map", "Failures (1)", "Plots", "Cells (8)", "Provenance", "Runs"):
        assert section in text, section
    assert "RuntimeError: injected" in text and "Traceback (most recent call last)" in text
    assert "top eigenvalue vs noise ratio</b>: skipped: statistics stores only" in text


def test_cli_report_and_its_refusals(store, tmp_path):
    cli = CliRunner()
    r = cli.invoke(app, ["report", store, "--out", str(tmp_path / "c.html")])
    assert r.exit_code == 0 and "wrote" in r.output, r.output
    assert (tmp_path / "c.html").read_text().count("<tr><td") >= 8
    for args, msg in ((["report", store, "--out", str(tmp_path / "c.txt")], "the report is written as .html"),
                      (["report", str(tmp_path / "none.zarr"), "--out", str(tmp_path / "n.html")],
                       "no sweep store there")):
        r = cli.invoke(app, args)
        assert r.exit_code == 2 and msg in r.output and len(r.output.strip().splitlines()) == 1, r.output
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "x.html").mkdir()  # a folder where the file should go
    r = cli.invoke(app, ["report", store, "--out", str(tmp_path / "ro" / "x.html")])
    assert r.exit_code == 2 and "cannot write" in r.output and "Traceback" not in r.output, r.output


# ------------------------------------------------------------------------------------------------ the browser
class Page:
    """A Chromium tab over the DevTools protocol (flattened sessions on the browser's websocket)."""

    def __init__(self, ws):
        self.ws, self.next_id, self.session, self.events, self.waiting = ws, 0, None, [], {}

    async def pump(self):
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def send(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        await self.ws.send_str(json.dumps(msg))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def js(self, expression):
        r = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    async def wait_for(self, method, timeout=30):
        deadline = Deadline(timeout)  # seconds on an idle machine, stretched by the load
        while not deadline.expired():
            if any(e["method"] == method for e in self.events):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no {method} within {deadline}")


def start_chromium(profile: Path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed: `bash scripts/install-test-deps` as root installs Debian's "
                    "`chromium` package")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1280,2400", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True)  # its own process group: every chromium process is killed at the end
    lines = queue.Queue()  # stderr read by a thread to its end: chromium never blocks on a full pipe
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stderr] + [lines.put(None)], daemon=True).start()
    seen, deadline = [], Deadline(60)
    while not deadline.expired():
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:  # chromium exited
            break
        seen.append(line)
        m = re.search(r"DevTools listening on (ws://127\.0\.0\.1:\d+/\S+)", line)
        if m:
            return proc, m.group(1)
    stop_chromium(proc)
    pytest.fail("chromium did not start its DevTools endpoint:\n" + "".join(seen[-20:]))


def stop_chromium(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


async def drive(ws_url: str, page_url: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as ws:
        page = Page(ws)
        pump = asyncio.create_task(page.pump())
        target = (await page.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        page.session = (await page.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            await page.send(f"{domain}.enable")
        await page.send("Page.navigate", {"url": page_url})
        await page.wait_for("Page.loadEventFired")
        await asyncio.sleep(1.0)  # late console messages or requests
        found = {"rows": await page.js("document.querySelectorAll('#cells tbody tr').length"),
                 "images": await page.js("Array.from(document.images).map(i => i.complete && i.naturalWidth > 100)"),
                 "scripts": await page.js("document.scripts.length"),
                 "title": await page.js("document.title"),
                 "text_has_markup": await page.js(f"document.body.innerText.includes({json.dumps(HOSTILE)})")}
        shot = await page.send("Page.captureScreenshot", {"format": "png"})
        found["screenshot"] = base64.b64decode(shot["data"])
        col = ("function col(name) { var ths = Array.from(document.querySelectorAll('#cells thead th'));"
               " var i = ths.findIndex(h => h.textContent.replace(/[\\u25B2\\u25BC ]/g, '') === name);"
               " return Array.from(document.querySelectorAll('#cells tbody tr'), r => r.cells[i].getAttribute('data-v')); }"
               " function click(name) { Array.from(document.querySelectorAll('#cells thead th'))"
               ".find(h => h.textContent.replace(/[\\u25B2\\u25BC ]/g, '') === name).click(); }")
        found["sorts"] = {}
        for name in ("wall_time", "R", "host", "status"):
            found["sorts"][name] = await page.js(f"(function () {{ {col} click({json.dumps(name)}); var up = col({json.dumps(name)});"
                                                 f" click({json.dumps(name)}); return [up, col({json.dumps(name)})]; }})()")
        found["events"] = list(page.events)
        pump.cancel()
        return found


def test_report_in_headless_chromium(store, tmp_path):
    ds = open_results(store)
    n_cells = int(ds["status"].size)
    out = write_report(store, tmp_path / "report.html")
    page_url = out.resolve().as_uri()
    proc, ws_url = start_chromium(tmp_path / "profile")
    try:
        found = asyncio.run(asyncio.wait_for(drive(ws_url, page_url), scaled(120)))
    finally:
        stop_chromium(proc)
    events = found["events"]
    errors = [e["params"] for e in events if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == [], errors
    requests = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    assert page_url in requests  # the protocol did see the page's own load
    assert [u for u in requests if u != page_url and not u.startswith("data:")] == []
    assert found["rows"] == n_cells == 8
    assert len(found["images"]) >= 5 and all(found["images"])  # every embedded PNG decoded
    assert found["scripts"] == 1 and found["title"] != "pwned" and found["text_has_markup"]
    # the screenshot is a page, not a blank
    from matplotlib.image import imread

    img = np.round(imread(io.BytesIO(found["screenshot"]), format="png")[..., :3] * 255).astype(np.uint8)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 200, len(colours)
    assert (img.reshape(-1, 3) != img[0, 0]).any(axis=1).mean() > 0.05  # more than a few marks on a background
    # a header click sorts (numbers as numbers, missing values last), a second click reverses
    for name, (up, down) in found["sorts"].items():
        assert len(up) == len(down) == n_cells
        filled = [v for v in up if v != ""]
        assert up[len(filled):] == [""] * (n_cells - len(filled))  # missing values last
        key = (lambda v: float(v)) if name != "host" else (lambda v: v)
        assert filled == sorted(filled, key=key), (name, up)
        dfilled = [v for v in down if v != ""]
        assert dfilled == sorted(dfilled, key=key, reverse=True), (name, down)
    assert found["sorts"]["R"][0].count("") == 1  # the failed cell has no R
    assert len(set(found["sorts"]["status"][0])) == 2  # done and failed, by flag order


def test_xy_and_statistics_stores_get_their_own_plots_and_notes(tmp_path):
    """Stores built without Ray (tests/test_cells_table.py): the plots that do not apply are notes, never errors."""
    from test_cells_table import STATS, XY, build

    xy, _ = build(tmp_path, XY, "xy")
    text = write_report(xy, tmp_path / "xy.html").read_text()
    assert "width vs correlation length</b>: skipped: Ising stores only" in text
    assert "phase diagram</b>: skipped: needs two numeric grid dimensions" in text  # one grid dimension
    assert text.count('src="data:image/png;base64,') == 4  # trajectories, msd, final profiles, site x state map
    assert "not drawn" not in text and "Cells (2)" in text
    stats, _ = build(tmp_path, STATS, "stats", skip={(1, 1)})
    text = write_report(stats, tmp_path / "stats.html").read_text()
    assert text.count('src="data:image/png;base64,') == 1 and "top eigenvalue vs noise ratio" in text
    assert "skipped: a statistics store (train.method: statistics) has no weights" in text
    assert "top_eigenvalue</th>" in text and text.count("<tr><td") == 4  # one row per cell
