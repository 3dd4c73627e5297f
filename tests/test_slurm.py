"""cluster/slurm/sweep.sbatch on a real Slurm: submitted with sbatch, interrupted, resubmitted, bit-identical.

Inside a loopback-only network namespace (see _netns.py): munged (its own key and socket), slurmctld and two
slurmd, for nodes n1 and n2 of one CPU each, both on 127.0.0.1 (ports 6818 and 6819), from Debian's
slurm-wlm and munge packages, configured in a temporary folder (config, state, spool, logs). The batch
script starts a Ray head on n1 and a Ray worker on n2 with srun, runs `sweep run --address` on n1 with the
store in the test's folder (the "shared file system" of both nodes), and stops the Ray nodes. The test
interrupts the first job mid-sweep (`scancel --batch --signal=USR1`, the signal the script asks for before
the time limit), resubmits the same command, and checks that the store is complete and bit-identical to
`sweep.run_cell` on every cell; a third submission finds nothing to run and starts no Ray cluster. Two
one-node jobs with bad input (no sweep file; an invalid one) end with the message, exit 2, no traceback.

Every Slurm process runs with the hostname `localhost` (its own UTS namespace: Slurm resolves the host's
name with every bind when `CommunicationParameters=NoInAddrAny`, which keeps slurmd and srun on 127.0.0.1)
and sees a second loopback address, 127.0.0.2 on lo (glibc's AI_ADDRCONFIG, which Slurm uses for every name
lookup, counts no IPv4 address when 127.0.0.1 is the only one). Still nothing but lo: every server listens
on 127.0.0.1 (slurmctld binds the wildcard address, which here is lo alone; checked while the job runs).
Every process started here carries a marker in its environment: after the tests none may be left.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

from _limits import Deadline
from _limits import run as run_within
from _netns import (INNER, ROOT, kill_pids, loopback, own_hostname, record_pids, run_inner, short_folder,
                    system_program)

SCRIPT = ROOT / "cluster" / "slurm" / "sweep.sbatch"
PROGRAMS = (("munged", "munge"), ("mungekey", "munge"), *((b, "slurm-wlm") for b in (
    "slurmctld", "slurmd", "sbatch", "srun", "scontrol", "scancel", "squeue")), ("hostname", "hostname"))
"""(program, Debian package) of what the tests start besides unshare and ip (scripts/install-test-deps)."""
MARKER = "SWEEP_SLURM_TEST"

# 8 cells of about 3 s (PCD-20, N = 100), checkpointed every 150 epochs: long enough to interrupt mid-sweep
SWEEP = """
name: slurm-test
seed: 17
data: {model: ising, n_visible: 100}
rbm: {hidden: spin, n_hidden: 2}
train: {method: pcd, pcd_steps: 20, learning_rate: 0.05, batch_size: 20, record_every: 30, checkpoint_every: 150,
        test_fraction: 0.2}
grid:
  data.beta: [0.3, 0.8]
  train.seed: [0, 1]
  zip:
    - {data.n_samples: [1000, 2000], train.epochs: [900, 450]}
"""


# ------------------------------------------------------------------------------------- outside
if not INNER:

    @pytest.mark.cluster  # the servers and the sweeps in a loopback-only network namespace: minutes
    def test_slurm_sweep_in_loopback_namespace(tmp_path):
        """Runs this module's Slurm tests inside a loopback-only network namespace (see the docstring)."""
        run_inner(__file__, tmp_path, timeout=360, programs=PROGRAMS)

    def test_batch_script_is_valid_bash_with_the_documented_sbatch_options():
        text = SCRIPT.read_text()
        assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0
        head = [line for line in text.splitlines() if line.startswith("#SBATCH")]
        for option in ("--nodes=", "--ntasks-per-node=1", "--cpus-per-task=", "--time=", "--signal=B:USR1@"):
            assert any(option in line for line in head), option
        assert "RAY_AUTH_TOKEN=" not in text.replace("RAY_AUTH_TOKEN=$(", "")  # a token is never written down
        assert "ray stop" not in text  # it would stop every Ray process of the node, other jobs' too


# ------------------------------------------------------------------------------------- inside
else:
    import xarray as xr

    from sweep import parse_sweep, run_cell
    from sweep.run.cell import VARIABLES
    from sweep.config.grid import expand
    from sweep.store.lease import read_holder
    from sweep.store.results_store import DONE, RUNNING, ResultsStore

    TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE"}

    def _marked() -> dict:
        """pid -> command of every live process whose environment carries this run's marker."""
        out = {}
        want = f"{MARKER}={os.environ[MARKER]}".encode()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        env = f.read().split(b"\0")
                except OSError:
                    continue
                if want in env and loopback._alive(int(entry)):
                    out[int(entry)] = loopback._comm(int(entry))
        return out

    class Slurm:
        """munged + slurmctld + two slurmd (nodes n1, n2) on 127.0.0.1, configured under `root`."""

        nodes = ("n1", "n2")

        def __init__(self, root: Path):
            self.root = root
            self.procs: dict[str, subprocess.Popen] = {}
            self.env = dict(os.environ)
            scripts = sysconfig.get_path("scripts")  # this Python's `sweep` and `ray`, as an activated venv has
            self.env.update({
                "SLURM_CONF": str(root / "slurm.conf"), "HOME": str(root / "home"),
                "PATH": os.pathsep.join([scripts, os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
                "RAY_USAGE_STATS_ENABLED": "0"})
            for k in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "SBATCH_EXPORT", "SLURM_JOB_ID"):
                self.env.pop(k, None)

        def conf(self) -> str:
            r = self.root
            nodes = "\n".join(f"NodeName={n} NodeAddr=127.0.0.1 NodeHostname=localhost Port={6818 + i} CPUs=1 "
                              "State=UNKNOWN" for i, n in enumerate(self.nodes))
            return f"""ClusterName=sweeptest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=6817
SlurmdPort=6818
CommunicationParameters=NoInAddrAny
AuthType=auth/munge
AuthInfo=socket={r}/msock/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool-%n
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd-%n.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=10
{nodes}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

        def _daemon(self, name: str, cmd: list) -> None:
            log = open(self.root / "log" / f"{name}.out", "wb")
            proc = subprocess.Popen(own_hostname(cmd), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            log.close()
            self.procs[name] = proc
            record_pids([proc.pid], "slurm")

        def _wait(self, what: str, ok, timeout: float = 60) -> None:
            deadline = Deadline(timeout)  # seconds on an idle machine, stretched by the load
            while not deadline.expired():
                for name, p in self.procs.items():
                    if p.poll() is not None:
                        raise RuntimeError(f"{name} exited with {p.returncode} while waiting for {what}:\n"
                                           + self.logs())
                if ok():
                    return
                time.sleep(0.3)
            raise TimeoutError(f"{what}: not ready after {deadline}:\n" + self.logs())

        def logs(self) -> str:
            out = []
            for f in sorted((self.root / "log").glob("*")):
                out.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-2000:])
            return "\n".join(out)

        def start(self) -> "Slurm":
            r = self.root
            r.chmod(0o755)  # munged wants every folder above its socket searchable by all
            for d in ("munge", "msock", "state", "log", "home", *(f"spool-{n}" for n in self.nodes)):
                (r / d).mkdir()
            (r / "munge").chmod(0o700)  # munged refuses a key others can read, and a socket folder others cannot
            (r / "msock").chmod(0o755)
            subprocess.run([system_program("mungekey"), "--create", "--keyfile", str(r / "munge" / "key")],
                           check=True, capture_output=True)
            (r / "slurm.conf").write_text(self.conf())
            # glibc's AI_ADDRCONFIG needs an IPv4 address besides 127.0.0.1 (see the docstring)
            subprocess.run(["ip", "addr", "add", "127.0.0.2/8", "dev", "lo"], check=True, capture_output=True)
            assert loopback.loopback_only()
            self._daemon("munged", [system_program("munged"), "--foreground", f"--key-file={r}/munge/key",
                                    f"--socket={r}/msock/munge.socket", f"--pid-file={r}/munge/munged.pid",
                                    f"--seed-file={r}/munge/seed", f"--log-file={r}/log/munged.log"])
            self._wait("munged", lambda: (r / "msock" / "munge.socket").exists())
            self._daemon("slurmctld", [system_program("slurmctld"), "-D", "-i", "-f", str(r / "slurm.conf")])
            self._wait("slurmctld", lambda: "is UP" in self.run(["scontrol", "ping"], check=False).stdout)
            for n in self.nodes:
                self._daemon(f"slurmd-{n}", [system_program("slurmd"), "-D", "-N", n, "-f", str(r / "slurm.conf")])
            self._wait("both nodes idle", lambda: self.run(["sinfo", "-h", "-N", "-o", "%N %t"], check=False)
                       .stdout.split() == ["n1", "idle", "n2", "idle"])
            return self

        def run(self, cmd: list, check: bool = True, env=None, **kw) -> subprocess.CompletedProcess:
            p = run_within(own_hostname([system_program(cmd[0]), *cmd[1:]]), 60, env=env or self.env,
                           capture_output=True, text=True, **kw)
            if check and p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
            return p

        def submit(self, args: list, env: dict, cwd: Path) -> str:
            out = self.run(["sbatch", "--parsable", "--export=ALL", *args], env=env, cwd=cwd).stdout.strip()
            record_pids(_marked(), "jobs")
            return out.split(";")[0]

        def job(self, job_id: str) -> dict:
            out = self.run(["scontrol", "show", "job", "-o", job_id]).stdout
            return dict(tok.split("=", 1) for tok in out.split() if "=" in tok)

        def wait_job(self, job_id: str, timeout: float) -> dict:
            deadline, info = Deadline(timeout), {}  # seconds on an idle machine, stretched by the load
            while not deadline.expired():
                info = self.job(job_id)
                if info.get("JobState") in TERMINAL:
                    return info
                time.sleep(0.5)
            self.run(["scancel", job_id], check=False)
            raise TimeoutError(f"job {job_id} not finished after {deadline} ({info.get('JobState')})")

        def stop(self) -> list:
            """Cancel every job, stop the daemons by PID; returns what of ours was still alive (then killed)."""
            if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
                self.run(["scancel", "--user=root"], check=False)
                deadline = Deadline(30)
                while not deadline.expired() and self.run(["squeue", "-h"], check=False).stdout.strip():
                    time.sleep(0.5)
            record_pids(_marked(), "jobs")
            for name in ["slurmd-n2", "slurmd-n1", "slurmctld", "munged"]:
                p = self.procs.get(name)
                if p is not None and p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait(5)
            left = _marked()
            kill_pids(left)
            return [f"{pid} ({comm})" for pid, comm in sorted(left.items())]

    @pytest.fixture(scope="module")
    def slurm():
        os.environ[MARKER] = secrets.token_hex(8)  # every process started below inherits it
        root = short_folder("slurm")  # short: the munge socket path
        cluster = Slurm(root)
        try:
            t0 = time.time()
            cluster.start()
            print(f"Slurm started in {time.time() - t0:.1f} s")
            yield cluster
        finally:
            left = cluster.stop()
            shutil.rmtree(root, ignore_errors=True)
            assert not left, f"processes left after the Slurm tests (now killed): {', '.join(left)}"

    @pytest.fixture
    def job_env(slurm, tmp_path):
        ray_tmp = short_folder("rays")  # short: Ray's socket paths
        env = dict(slurm.env, SWEEP_RAY_TMPDIR=str(ray_tmp), SWEEP_START_TIMEOUT="90",
                   SWEEP_RAY_ARGS="--object-store-memory=80000000")
        yield env
        shutil.rmtree(ray_tmp, ignore_errors=True)

    def _status(url):
        try:
            return ResultsStore(url).group("r")["status"][...]
        except Exception:  # noqa: BLE001 - not created yet
            return None

    def _listeners() -> list:
        """(address, port) of every listening TCP socket in this network namespace."""
        out = []
        for path, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
            try:
                lines = Path(path).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    addr, port = fields[1].split(":")
                    out.append((addr, int(port, 16)))
        return out

    LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}

    def test_bad_input_is_a_message_and_the_ray_head_is_stopped(slurm, job_env, tmp_path):
        """Two one-node jobs at once (n1 and n2): a missing sweep file (refused before Ray), a bad sweep file
        (refused by `sweep run --dry-run` while the Ray head starts, which is then stopped)."""
        (tmp_path / "bad.yaml").write_text(SWEEP.replace("model: ising", "model: isng"))
        jobs = {name: slurm.submit(["-N1", "--cpus-per-task=1", "-o", str(tmp_path / f"{name}.out"), str(SCRIPT),
                                    f"{name}.yaml", str(tmp_path / "x.zarr")], job_env, tmp_path)
                for name in ("missing", "bad")}
        infos = {name: slurm.wait_job(job, 90) for name, job in jobs.items()}
        texts = {name: (tmp_path / f"{name}.out").read_text() for name in jobs}
        for name, info in infos.items():
            assert info["JobState"] == "FAILED" and info["ExitCode"] == "2:0", (info, texts[name])
            assert "Traceback" not in texts[name], texts[name]
        assert "sweep.sbatch: error: sweep file 'missing.yaml' not found" in texts["missing"], texts["missing"]
        assert "Ray head" not in texts["missing"]  # nothing was started
        assert "data.model: must be one of 'ising', 'xy'" in texts["bad"], texts["bad"]
        assert "Ray nodes stopped" in texts["bad"], texts["bad"]
        assert not (tmp_path / "x.zarr").exists()

    def test_sweep_interrupted_and_resubmitted_is_complete_and_bit_identical(slurm, job_env, tmp_path):
        (tmp_path / "slurm-test.yaml").write_text(SWEEP)
        store = tmp_path / "shared" / "slurm.zarr"
        store.parent.mkdir()
        args = ["-N2", "--ntasks-per-node=1", "--cpus-per-task=1", "--time=10", str(SCRIPT), "slurm-test.yaml",
                str(store)]
        t0 = time.time()
        first = slurm.submit(["-o", str(tmp_path / "first.out"), *args], job_env, tmp_path)

        # interrupt once both Ray nodes run cells and some are done, with the signal of --signal=B:USR1@120
        status, deadline, listeners = None, Deadline(150), []
        while not deadline.expired():
            status = _status(str(store))
            if status is not None and (status == RUNNING).sum() >= 2 and not listeners:
                listeners = _listeners()  # a snapshot while Slurm, Ray and the driver all run
            if status is not None and (status == DONE).sum() >= 2 and (status != DONE).sum() >= 3:
                slurm.run(["scancel", "--batch", "--signal=USR1", first])
                break
            if slurm.job(first).get("JobState") in TERMINAL:
                break
            time.sleep(0.1)
        record_pids(_marked(), "jobs")
        info = slurm.wait_job(first, 90)
        t_first = time.time() - t0
        text = (tmp_path / "first.out").read_text()
        assert "Ray cluster ready: 2 nodes, 2 CPUs for cells" in text, text
        assert "got SIGUSR1: stopping the sweep" in text and "resubmit the same sbatch command" in text, text
        assert "Ray nodes stopped" in text and "Traceback" not in text, text
        ray_log = (tmp_path / f"rbm-sweep-{first}-ray.log").read_text()
        assert ray_log.count("Ray runtime started") == 2, ray_log  # the head and the worker, each by its srun
        assert info["JobState"] == "FAILED", (info, text)  # the sweep did not finish: a non-zero exit
        status = _status(str(store))
        n_done = int((status == DONE).sum())
        assert 2 <= n_done < status.size, f"not interrupted mid-sweep: {status}\n{text}"
        assert read_holder(ResultsStore(str(store)).location) is None, "the interrupted driver kept the store's lease"

        wild = [(a, p) for a, p in listeners if a not in LOOPBACK and p != 6817]
        assert listeners and not wild, f"servers listening beyond 127.0.0.1: {wild} (all: {listeners})"

        # the same command again finishes the sweep
        second = slurm.submit(["-o", str(tmp_path / "second.out"), *args], job_env, tmp_path)
        t1 = time.time()
        info = slurm.wait_job(second, 150)
        t_second = time.time() - t1
        text = (tmp_path / "second.out").read_text()
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, text)
        assert f"8/8 cells done, 0 failed, {8 - n_done} run now" in text, text
        assert "Ray nodes stopped" in text and "Traceback" not in text, text

        # once more: nothing left to run, no Ray cluster needed
        third = slurm.submit(["-o", str(tmp_path / "third.out"), *args], job_env, tmp_path)
        t2 = time.time()
        info = slurm.wait_job(third, 60)
        t_third = time.time() - t2
        text = (tmp_path / "third.out").read_text()
        assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (info, text)
        assert "nothing left to run" in text and "8/8 cells done, 0 failed, 0 run now" in text, text
        assert "Ray cluster ready" not in text, text

        # complete, readable with plain xarray, and bit-identical to run_cell on every cell
        ds = xr.open_zarr(store).load()
        assert (ds["status"].values == DONE).all()
        t3 = time.time()
        sweep = parse_sweep(SWEEP)
        grid = expand(sweep)
        for cell in grid:
            one = run_cell({**cell.config.as_dict(), "seed": sweep.seed})
            stored = ds.isel(dict(zip(grid.dims, cell.index)))
            n = one.sizes["epoch"]
            for v in VARIABLES:
                got = stored[v].isel(epoch=slice(0, n)).values
                assert np.array_equal(got, one[v].values, equal_nan=True), f"{v} of {cell.label()} differs"
                assert np.isnan(stored[v].isel(epoch=slice(n, None)).values).all()
        print(f"interrupted after {n_done}/8 cells; jobs: {t_first:.0f} s (interrupted), {t_second:.0f} s (resumed), "
              f"{t_third:.0f} s (nothing to run); run_cell reference {time.time() - t3:.0f} s")
