"""A fault campaign: a seeded random schedule of faults, each followed by reruns of the same command, checking
every time that no cell is lost or corrupt and that the data are bit-identical to an uninterrupted run.

Faults (each trial draws one, with its instant, from `random.Random(seed)`):
- kill-driver: SIGKILL of the driver's process group at a random moment of the run;
- kill-worker: a worker SIGKILLed while computing a random cell (Ray retries it);
- kill-checkpoint: every cell's worker SIGKILLed after its first checkpoint (resumed from it);
- kill-create: the driver SIGKILLed at a random file write of the store's creation;
- kill-grow: the driver SIGKILLed at a random file write while the store grows along beta;
- sigint: Ctrl-C (SIGINT) at a random moment: exit 130, the rerun resumes;
- enospc: the store on a tmpfs too small for it (random size): exit 2 with a message; reruns after the tmpfs
  is made larger (root only; otherwise drawn again);
- two-drivers: two drivers started at one instant on a new store: one runs, the other is refused;
- sigterm, sighup: SIGTERM or SIGHUP to the driver alone at a random moment; sigterm-group: SIGTERM to its
  whole process group (as systemd and Slurm send it): each as Ctrl-C, an exit of 129, 130 or 143 with the
  resume line, or 0 when the run had finished, no traceback, the lease released;
- swap-chunks, dup-chunk, recrc-chunk: a finished store whose data chunks are damaged so that every chunk
  still decodes: two cells' chunks of a random variable swapped, one cell's chunk copied over another's, or a
  bit flipped inside a chunk with its CRC32C recomputed; `verify` must find the damage, `verify --repair`
  marks the cells for recomputation, and the rerun restores them;
- wrong-repair: a finished store whose root `zarr.json` was deleted; `verify --repair --sweep` with a sweep of
  the same grid shape but other beta values or another master seed must be refused, the right file accepted;
- clock-ahead: the driver (lease period SWEEP_LEASE_SECONDS=3) SIGKILLed at a random moment, then its lease
  file rewritten as by a driver on another host whose clock runs an hour ahead: the rerun must take the store
  over after watching the lease unchanged for one period of its own clock, not after an hour.

Used by tests/test_integrity.py (a few trials) and benchmarks/bench_faults.py (a longer campaign).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _limits import scaled  # noqa: E402 - the tests' load-scaled time limits

HERE = Path(__file__).resolve().parent
FAULTS = str(HERE / "faults.py")
KINDS = ("kill-driver", "kill-worker", "kill-checkpoint", "kill-create", "kill-grow", "sigint", "enospc",
         "two-drivers", "sigterm", "sighup", "sigterm-group", "swap-chunks", "dup-chunk", "recrc-chunk",
         "wrong-repair", "clock-ahead")
SIGNALS = {"sigint": (signal.SIGINT, True), "sigterm": (signal.SIGTERM, False), "sighup": (signal.SIGHUP, False),
           "sigterm-group": (signal.SIGTERM, True)}
"""Signal kinds: (the signal, sent to the driver's whole process group or to the driver alone)."""
CELLS = [(i, j) for i in range(2) for j in range(3)]
"""Grid positions of the base sweep's cells (beta x train.seed)."""
DAMAGED = ("weights", "visible_fields", "hidden_theta", "hidden_gamma", "loglik_train", "loglik_test")
SWEEP = """
name: campaign
seed: 21
data: {{model: ising, n_visible: 16, n_samples: 1000}}
rbm: {{hidden: spin, n_hidden: 2}}
train: {{method: pcd, pcd_steps: 5, learning_rate: 0.05, batch_size: 50, epochs: 40, record_every: 5,
        checkpoint_every: 10, test_fraction: 0.2}}
grid:
  data.beta: {betas}
  train.seed: [0, 1, 2]
"""
BASE, GROWN = "[0.3, 0.9]", "[0.3, 0.9, 0.6]"
VARIABLES = ("weights", "visible_fields", "hidden_theta", "hidden_gamma", "loglik_train", "loglik_test",
             "cell_data_seed", "cell_train_seed", "status")


@dataclass
class Outcome:
    trial: int
    kind: str
    detail: str
    ok: bool
    problems: list = field(default_factory=list)
    seconds: float = 0.0


def _default_sigint() -> None:
    """In the child: Ctrl-C as in a terminal (a parent started in the background may ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cmd(faults: bool) -> list:
    return [sys.executable, FAULTS] if faults else [sys.executable, "-m", "sweep.cli"]


def run(*args, env=None, faults=False, timeout=300) -> tuple[int, str]:
    """Run the `sweep` command (or the fault driver) in a new session: (exit code, stdout and stderr)."""
    r = subprocess.run(_cmd(faults) + [str(a) for a in args], capture_output=True, text=True, timeout=scaled(timeout),
                       env=dict(os.environ, **(env or {})), start_new_session=True, preexec_fn=_default_sigint)
    return r.returncode, r.stdout + r.stderr


def start(*args, env=None, faults=False) -> subprocess.Popen:
    return subprocess.Popen(_cmd(faults) + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, **(env or {})), start_new_session=True,
                            preexec_fn=_default_sigint)


def data(url) -> dict:
    import xarray as xr

    from sweep.store.location import Location

    ds = xr.open_zarr(Location(str(url)).zarr_store()).load()
    return {v: ds[v].values for v in VARIABLES}


def differences(ref: dict, got: dict) -> list:
    return [k for k in ref if not (ref[k].shape == got[k].shape and np.array_equal(ref[k], got[k], equal_nan=True))]


def done_cells(url) -> int:
    from sweep.store.results_store import DONE, ResultsStore

    try:
        return int((ResultsStore(str(url)).group("r")["status"][...] == DONE).sum())
    except Exception:  # noqa: BLE001 - not created yet
        return -1


def leases(url) -> list:
    """The lease files a store holds (none once its driver released it)."""
    folder = Path(url) / "_lease"
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else []


def cell_chunk(url, var: str, cell: tuple) -> Path:
    """The file holding the chunk of `var` of the cell at grid position `cell` (flat keys: c.i.j.0...)."""
    stem = "c." + ".".join(str(i) for i in cell)
    found = [p for p in (Path(url) / var).iterdir() if p.name == stem or p.name.startswith(stem + ".")]
    if len(found) != 1:
        raise FileNotFoundError(f"{var}: {len(found)} chunk files of cell {cell}")
    return found[0]


def recrc(raw: bytes, byte: int, bit: int) -> bytes:
    """A stored chunk (zstd, then a little-endian CRC32C of the compressed bytes) with one bit of its decoded
    values flipped and both the compression and the checksum redone: a change only a digest bound to the
    chunk's content finds."""
    import google_crc32c
    from numcodecs import Zstd

    data = bytearray(Zstd(level=3).decode(raw[:-4]))
    data[byte % len(data)] ^= 1 << bit
    comp = bytes(Zstd(level=3).encode(bytes(data)))
    return comp + int(google_crc32c.value(comp)).to_bytes(4, "little")


def _tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


class Campaign:
    """Trials in `folder`; `reference()` first computes the uninterrupted stores."""

    def __init__(self, folder: Path, seed: int = 0):
        self.folder, self.rng = Path(folder), random.Random(seed)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.base = self.folder / "base.yaml"
        self.grown = self.folder / "grown.yaml"
        self.base.write_text(SWEEP.format(betas=BASE))
        self.grown.write_text(SWEEP.format(betas=GROWN))
        self.ref: dict = {}
        self.mounts: list = []

    def reference(self) -> None:
        for key, f in (("base", self.base), ("grown", self.grown)):
            url = self.folder / f"ref-{key}.zarr"
            code, out = run("run", f, "--store", url)
            assert code == 0, out
            self.ref[key] = data(url)

    def _finish(self, f: Path, url: Path, key: str, problems: list, reruns: int = 3, env=None) -> None:
        """Rerun until the sweep is done (a refused rival may need its lease to expire), then check it."""
        for _ in range(reruns):
            code, out = run("run", f, "--store", url, env=env)
            if code == 0:
                break
            if "Traceback" in out:
                problems.append(f"rerun printed a traceback: {out[-600:]}")
            time.sleep(2)
        else:
            problems.append(f"the sweep did not finish after {reruns} reruns: {out[-600:]}")
            return
        code, out = run("verify", url)
        if code != 0:
            problems.append(f"verify after the reruns: {out[-600:]}")
        diff = differences(self.ref[key], data(url))
        if diff:
            problems.append(f"data differ from the uninterrupted run: {diff}")

    def _kill_when(self, p: subprocess.Popen, url: Path, wait: float, sig=signal.SIGKILL,
                   group: bool = True) -> tuple[str, str]:
        """Send `sig` to the run's process group (or, with `group` False, to the driver alone) `wait` seconds
        after its store exists (if it still runs): a moment of the run, not of Python's start: (detail,
        output)."""
        deadline = time.time() + scaled(100)
        while done_cells(url) < 0 and p.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        t0 = time.time()
        while time.time() - t0 < wait and p.poll() is None:
            time.sleep(0.05)
        done = done_cells(url)
        if p.poll() is None:
            (os.killpg if group else os.kill)(p.pid, sig)
        out, _ = p.communicate(timeout=scaled(100))
        return f"{wait:.1f} s after creation ({done} cells done); exit {p.returncode}", out

    def trial(self, n: int, kind: str) -> Outcome:
        t0 = time.time()
        url = self.folder / f"t{n}-{kind}.zarr"
        problems: list = []
        key, f = "base", self.base
        if kind == "kill-driver":
            detail, _ = self._kill_when(start("run", f, "--store", url, "--max-parallel", "1"), url,
                                        self.rng.uniform(0.0, 12))
        elif kind in SIGNALS:
            sig, group = SIGNALS[kind]
            # cells slowed by half a second (same bits): a signal at a random moment finds the run going
            detail, out = self._kill_when(start("run", f, "--store", url, "--max-parallel", "1", faults=True,
                                                env={"FAULT_CELL_DELAY": "0.5"}), url,
                                          self.rng.uniform(0.0, 8), sig, group)
            code = int(detail.rsplit("exit ", 1)[1])
            if "Traceback" in out or code not in (0, 129, 130, 143) or \
                    (code and not ("interrupted" in out and "to resume" in out)):
                problems.append(f"the {kind} run's output: {out[-600:]}")
            if leases(url):
                problems.append(f"the {kind} run left its lease: {leases(url)}")
        elif kind == "kill-worker":
            label = f"beta={self.rng.choice([0.3, 0.9])}, seed={self.rng.randrange(3)}"
            code, out = run("run", f, "--store", url, env={"FAULT_KILL_WORKER_AT_CELL": label}, faults=True)
            detail = f"worker of {label} killed; exit {code}"
        elif kind == "kill-checkpoint":
            k = self.rng.randrange(1, 4)
            code, out = run("run", f, "--store", url, env={"FAULT_KILL_AFTER_CHECKPOINT": str(k)}, faults=True)
            detail = f"after checkpoint {k}; exit {code}"
        elif kind == "kill-create":
            at = self.rng.randrange(1, 28)
            code, out = run("run", f, "--store", url, env={"FAULT_KILL_DRIVER_AT_WRITE": str(at)}, faults=True)
            detail = f"at write {at}; exit {code}"
        elif kind == "kill-grow":
            code, out = run("run", f, "--store", url)
            if code != 0:
                problems.append(f"the first run failed: {out[-600:]}")
            at = self.rng.randrange(1, 27)
            key, f = "grown", self.grown
            code, out = run("run", f, "--store", url, env={"FAULT_KILL_DRIVER_AT_WRITE": str(at)}, faults=True)
            detail = f"at write {at} of the growth; exit {code}"
        elif kind == "enospc":
            disk = self.folder / f"disk{n}"
            size = self.rng.choice(["24k", "120k", "300k", "600k"])
            if not _tmpfs(disk, size):
                return self.trial(n, "kill-driver")
            self.mounts.append(disk)
            url = disk / "s.zarr"
            # --allow-large: past run's disk estimate (which refuses a store that may not fit), to the real ENOSPC
            code, out = run("run", f, "--store", url, "--max-parallel", "1", "--allow-large")
            detail = f"tmpfs of {size}; exit {code}"
            if code not in (0, 2) or "Traceback" in out or (code == 2 and "no space left on device" not in out):
                problems.append(f"the full-disk run's output: {out[-600:]}")
            if [p for p in url.rglob("*") if ".partial" in p.name]:
                problems.append("partial files left behind")
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        elif kind == "two-drivers":
            procs = [start("run", f, "--store", url) for _ in range(2)]
            outs = [p.communicate(timeout=scaled(200))[0] for p in procs]
            codes = sorted(p.returncode for p in procs)
            detail = f"exits {codes}"
            if codes != [0, 2] or any("Traceback" in o for o in outs):
                problems.append(f"two drivers: {codes}: {outs[0][-300:]} | {outs[1][-300:]}")
        elif kind in ("swap-chunks", "dup-chunk", "recrc-chunk"):
            detail = self._corrupt(kind, f, url, problems)
        elif kind == "wrong-repair":
            detail = self._wrong_repair(n, f, url, problems)
        elif kind == "clock-ahead":
            detail, _ = self._kill_when(start("run", f, "--store", url, "--max-parallel", "1", faults=True,
                                              env={"SWEEP_LEASE_SECONDS": "3", "FAULT_CELL_DELAY": "1"}),
                                        url, self.rng.uniform(0.0, 4))
            if not leases(url):
                problems.append("no lease left to rewrite: the run had finished before the kill")
            for lease in (url / "_lease").glob("*.json"):
                held = json.loads(lease.read_text())
                held.update(host="a-host-an-hour-ahead", heartbeat=time.time() + 3600)
                lease.write_text(json.dumps(held))
            self._finish(f, url, key, problems)
            return Outcome(n, kind, detail, not problems, problems, time.time() - t0)
        else:
            raise ValueError(kind)
        self._finish(f, url, key, problems)
        return Outcome(n, kind, detail, not problems, problems, time.time() - t0)

    def _corrupt(self, kind: str, f: Path, url: Path, problems: list) -> str:
        """Finish the sweep, damage its chunks so that each still decodes, and check that verify finds it and
        that `verify --repair` marks the cells for recomputation (the caller's rerun restores them)."""
        code, out = run("run", f, "--store", url)
        if code != 0:
            problems.append(f"the first run failed: {out[-600:]}")
            return f"first run exit {code}"
        while True:  # two chunks that differ: a swap or copy of equal bytes (zero fields, say) changes nothing
            var = self.rng.choice(DAMAGED)
            a, b = self.rng.sample(CELLS, 2)
            pa, pb = cell_chunk(url, var, a), cell_chunk(url, var, b)
            if kind == "recrc-chunk" or pa.read_bytes() != pb.read_bytes():
                break
        if kind == "swap-chunks":
            ra, rb = pa.read_bytes(), pb.read_bytes()
            pa.write_bytes(rb)
            pb.write_bytes(ra)
            what = f"{var} of cells {a} and {b} swapped"
        elif kind == "dup-chunk":
            pb.write_bytes(pa.read_bytes())
            what = f"{var} of cell {a} copied over cell {b}'s"
        else:
            byte, bit = self.rng.randrange(1 << 20), self.rng.randrange(8)
            pa.write_bytes(recrc(pa.read_bytes(), byte, bit))
            what = f"bit {bit} of byte {byte} of cell {a}'s {var} flipped, CRC32C recomputed"
        code, out = run("verify", url)
        if code == 0:
            problems.append(f"verify found nothing after {what}: {out[-600:]}")
        if "Traceback" in out:
            problems.append(f"verify printed a traceback: {out[-600:]}")
        code, out = run("verify", url, "--repair")
        if "Traceback" in out:
            problems.append(f"verify --repair printed a traceback: {out[-600:]}")
        return f"{what}; verify --repair exit {code}"

    def _wrong_repair(self, n: int, f: Path, url: Path, problems: list) -> str:
        """Finish the sweep, delete its root metadata, and check that a repair with a sweep file of the same
        grid shape but other values is refused and leaves the store unrepaired, then repair with the right
        file (the caller's rerun and verify check the result)."""
        code, out = run("run", f, "--store", url)
        if code != 0:
            problems.append(f"the first run failed: {out[-600:]}")
            return f"first run exit {code}"
        (url / "zarr.json").unlink()
        wrong = self.folder / f"wrong{n}.yaml"
        if self.rng.random() < 0.5:
            wrong.write_text(SWEEP.format(betas="[0.35, 0.9]"))
            what = "beta [0.35, 0.9] for [0.3, 0.9]"
        else:
            wrong.write_text(SWEEP.format(betas=BASE).replace("seed: 21", "seed: 22"))
            what = "master seed 22 for 21"
        code, out = run("verify", url, "--repair", "--sweep", wrong)
        if code != 2 or "Traceback" in out:
            problems.append(f"the repair with the wrong file ({what}) was not refused in one line: exit {code}: "
                            f"{out[-600:]}")
        if (url / "zarr.json").exists():
            problems.append(f"the refused repair ({what}) wrote the root metadata")
        code, out = run("verify", url, "--repair", "--sweep", f)
        if code != 0:
            problems.append(f"the repair with the right file failed: exit {code}: {out[-600:]}")
        return f"repair with {what} refused; right file exit {code}"

    def schedule(self, trials: int, kinds=KINDS) -> list:
        """`trials` kinds drawn from the campaign's generator, every kind at least once when trials allow."""
        first = list(kinds)[:trials]
        self.rng.shuffle(first)
        return first + [self.rng.choice(kinds) for _ in range(trials - len(first))]

    def cleanup(self) -> None:
        for disk in self.mounts:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
