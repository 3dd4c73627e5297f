"""The Python API has the CLI's reach: sweep.plan, sweep.status, sweep.verify, sweep.unlock and sweep.report give
what `sweep plan / status / verify / unlock / report` print, on a small store run in this process (serial
launcher, no Ray)."""

import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sweep
from sweep.cli import app
from sweep.config.errors import StoreError

SMALL = """
name: api
seed: 3
data: {model: ising, n_visible: 8}
rbm: {hidden: spin, n_hidden: 1}
train: {method: exact, learning_rate: 0.05, batch_size: 20, epochs: 4, record_every: 2, test_fraction: 0.2}
grid:
  data.beta: [0.4, 1.0]
  data.n_samples: [60, 100]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("api")
    f = d / "s.yaml"
    f.write_text(SMALL)
    url = str(d / "s.zarr")
    before = sweep.plan(f, url)
    assert before.describe() == CliRunner().invoke(app, ["plan", str(f), "--store", url]).output.rstrip("\n")
    assert "create" in before.describe()
    sweep.run_sweep(f, store=url, launcher="serial", progress="off")
    return f, url


def cli(*args) -> tuple:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.output


def test_every_command_has_its_function():
    for name in ("plan", "run_sweep", "status", "verify", "unlock", "report", "open_results", "cells_table",
                 "load_sweep", "parse_sweep", "run_cell"):
        assert callable(getattr(sweep, name)), name
        assert name in sweep.__all__ and name in sweep.__doc__, name
    assert list(inspect.signature(sweep.verify).parameters)[:3] == ["store", "repair", "sweep"]


def test_plan_after_the_run_has_nothing_to_do(store):
    f, url = store
    p = sweep.plan(f, url)
    assert p.describe() == cli("plan", f, "--store", url)[1].rstrip("\n")
    assert p.action == "resume" and p.done == 4 and len(p.todo) == 0


def test_status_is_the_command_s_text(store):
    f, url = store
    st = sweep.status(url)
    assert st.counts == {"pending": 0, "running": 0, "done": 4, "failed": 0} and st.finished and st.holder is None
    code, out = cli("status", url)
    assert code == 0 and out.rstrip("\n") == st.text()
    assert cli("status", url, "--map", "n_samples")[1].rstrip("\n") == st.text(["n_samples"])
    with pytest.raises(ValueError):
        st.text(["beta", "n_samples", "seed"])


def test_verify_and_unlock(store, tmp_path):
    f, url = store
    result = sweep.verify(url)
    assert result.ok and result.report.cells == 4 and not result.restored
    assert cli("verify", url)[0] == 0
    assert sweep.unlock(url) is None
    assert cli("unlock", url)[1].strip() == f"{url}: no run holds this store"
    with pytest.raises(StoreError, match="no sweep store there"):
        sweep.status(str(tmp_path / "nothing.zarr"))


def test_report_writes_the_page(store, tmp_path):
    f, url = store
    out = sweep.report(url, tmp_path / "r.html")
    text = Path(out).read_text()
    assert text.startswith("<!DOCTYPE html>") or text.lower().startswith("<!doctype html>")
    assert "api" in text and "s.yaml" in text
