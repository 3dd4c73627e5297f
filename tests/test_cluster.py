"""A sweep on a real multi-node Ray cluster that loses a worker node mid-sweep; the cluster definitions.

Inside a loopback-only network namespace (see _netns.py): a head node (0 CPUs) and two worker nodes
(`--num-cpus 1`), started with cluster/loopback.py, token authentication on. A driver runs
`sweep run --address`; once both workers are busy, one worker node is lost: its raylet SIGKILLed by PID,
then at once the rest of its processes (the cell it was running included). The sweep must
still finish with every cell done and data bit-identical to a single-node (local Ray) run. Outside the
namespace: cluster/aws.yaml passes Ray's own config validation, cluster/kuberay.yaml Ray's own parsing of
a RayCluster, and both keep the security defaults.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml

from _limits import Deadline, scaled
from _netns import INNER, ROOT, finish, loopback, record_path, record_pids, run_inner, start_sweep

CLUSTER = ROOT / "cluster"

# 12 cells of ~3 s (PCD-20, N = 100), checkpointed every 150 epochs: long enough to lose a node mid-sweep
SWEEP = """
name: cluster-test
seed: 11
data: {model: ising, n_visible: 100}
rbm: {hidden: spin, n_hidden: 2}
train: {method: pcd, pcd_steps: 20, learning_rate: 0.05, batch_size: 20, record_every: 30, checkpoint_every: 150,
        test_fraction: 0.2}
grid:
  data.beta: [0.2, 0.5, 0.8]
  train.seed: [0, 1]
  zip:
    - {data.n_samples: [1000, 2000], train.epochs: [900, 450]}
"""


# ------------------------------------------------------------------------------------- outside
if not INNER:

    @pytest.mark.cluster  # the servers and the sweeps in a loopback-only network namespace: minutes
    def test_multinode_cluster_in_loopback_namespace(tmp_path):
        """Runs this module's cluster tests inside a loopback-only network namespace (see the docstring)."""
        run_inner(__file__, tmp_path, timeout=300)

    def _start_commands(config, key):
        return " ; ".join(config[key])

    def test_aws_launcher_config_passes_rays_validation():
        from ray.autoscaler._private.util import prepare_config, validate_config

        raw = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
        config = prepare_config(raw)  # merges Ray's AWS defaults, as `ray up` does (no cloud call)
        validate_config(config)  # Ray's JSON schema (ray-schema.json) and its own consistency checks
        with pytest.raises(Exception, match="Additional properties"):  # the check is strict: a typo fails
            validate_config({**config, "setup_comands": []})
        assert config["provider"]["type"] == "aws"
        head, workers = config["head_node_type"], [t for t in config["available_node_types"] if t != config["head_node_type"]]
        assert workers and config["available_node_types"][head]["resources"] == {"CPU": 0}
        # this package installed on every node: file_mounts of the checkout + setup_commands (head and workers)
        assert "~/rbm-sweep" in config["file_mounts"]
        assert any("pip install" in c and "rbm-sweep[s3]" in c for c in config["head_setup_commands"])
        assert any("pip install" in c and "rbm-sweep[s3]" in c for c in config["worker_setup_commands"])
        head_start = _start_commands(config, "head_start_ray_commands")
        worker_start = _start_commands(config, "worker_start_ray_commands")
        assert "--dashboard-host=127.0.0.1" in head_start  # dashboard on localhost (`ray dashboard` tunnels it)
        for cmd in (head_start, worker_start):
            assert "RAY_AUTH_MODE=token" in cmd and "--disable-usage-stats" in cmd
            assert "NUMBA_NUM_THREADS=1" in cmd
        assert config["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"  # the token reaches every node
        text = (CLUSTER / "aws.yaml").read_text()
        for secret in ("AKIA", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY=", "RAY_AUTH_TOKEN="):
            assert secret not in text  # credentials come from the nodes' instance role, the token from a file

    def test_kuberay_manifest_structure():
        from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

        docs = [d for d in yaml.safe_load_all((CLUSTER / "kuberay.yaml").read_text()) if d]
        cr = next(d for d in docs if d.get("kind") == "RayCluster")
        assert cr["apiVersion"] == "ray.io/v1"
        spec = cr["spec"]
        assert tuple(int(x) for x in spec["rayVersion"].split(".")[:2]) >= (2, 52)  # token auth needs Ray >= 2.52
        assert spec["authOptions"] == {"mode": "token"}
        # Ray's own reading of a RayCluster (what its autoscaler does), ending in its config validation
        derived = _derive_autoscaling_config_from_ray_cr(cr)
        assert derived["available_node_types"]["headgroup"]["resources"]["CPU"] == 0
        groups = [spec["headGroupSpec"]] + spec["workerGroupSpecs"]
        assert spec["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        for group in groups:
            pod = group["template"]["spec"]
            init = {c["name"]: c for c in pod.get("initContainers", [])}
            assert "install-rbm-sweep" in init, "every pod installs the package"
            assert "pip install" in " ".join(init["install-rbm-sweep"]["command"] + init["install-rbm-sweep"].get("args", []))
            ray_container = pod["containers"][0]
            env = {e["name"]: e for e in ray_container["env"]}
            assert env["PYTHONPATH"]["value"].startswith("/opt/rbm-sweep")
            assert env["NUMBA_NUM_THREADS"]["value"] == "1"
            for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # from a Secret, never a literal
                assert "value" not in env[var] and env[var]["valueFrom"]["secretKeyRef"]["optional"] is True
            mounts = {m["mountPath"] for m in ray_container["volumeMounts"]}
            assert "/opt/rbm-sweep" in mounts
        for group in spec["workerGroupSpecs"]:
            assert group["rayStartParams"].get("num-cpus") is None or int(group["rayStartParams"]["num-cpus"]) >= 1


# ------------------------------------------------------------------------------------- inside
else:
    from sweep.run.cell import VARIABLES
    from sweep.store.lease import read_holder
    from sweep.store.results_store import DONE, RUNNING, ResultsStore

    @pytest.fixture(scope="module")
    def cluster():
        c = loopback.LoopbackCluster(workers=2, cpus_per_worker=1,
                                     on_node=lambda node: record_pids([node.pid], "cluster"))
        record_path(c.root)
        try:
            c.start(timeout=scaled(90))
            record_pids(c.pids(), "cluster")
            yield c
        finally:
            record_pids(c.pids(), "cluster")
            c.stop()

    @pytest.fixture
    def sweep_file(tmp_path):
        f = tmp_path / "cluster-test.yaml"
        f.write_text(SWEEP)
        return f

    def _sweep(args, env, cwd):
        """A driver, `sweep ARGS`, recorded with its session (the local Ray of a single-node run)."""
        return start_sweep(args, "driver", env=env, cwd=cwd)

    def _data(path):
        import xarray as xr

        ds = xr.open_zarr(path).load()
        return {v: ds[v].values for v in VARIABLES + ("cell_data_seed", "cell_train_seed")}

    def test_driver_without_the_token_gets_a_clear_message(cluster, sweep_file, tmp_path):
        env = cluster.env()
        del env["RAY_AUTH_TOKEN"]
        p = _sweep(["run", str(sweep_file), "--store", str(tmp_path / "x.zarr"), "--address", cluster.address],
                   env, cwd=tmp_path)
        out = finish(p, 30, "a driver without the token")  # the preflight answers in about a second
        assert p.returncode == 2, out
        assert f"cannot join the Ray cluster at {cluster.address}" in out and "RAY_AUTH_TOKEN" in out, out
        assert "Traceback" not in out, out

    def test_sweep_survives_losing_a_worker_node_bit_identical(cluster, sweep_file, tmp_path):
        # the single-node reference: local Ray in this namespace, its own temp folder
        env_local = cluster.env()
        env_local.pop("RAY_ADDRESS")
        env_local["RAY_TMPDIR"] = str(cluster.root / "local")
        ref = tmp_path / "ref.zarr"
        p = _sweep(["run", str(sweep_file), "--store", str(ref)], env_local, cwd=tmp_path)
        out = finish(p, 120, "the single-node reference run")
        assert p.returncode == 0, out

        # the same sweep file on the cluster, with a relative store path (workers do not share the driver's cwd)
        p = _sweep(["run", str(sweep_file), "--store", "cl.zarr", "--address", cluster.address], cluster.env(),
                   cwd=tmp_path)
        url = str(tmp_path / "cl.zarr")
        victim = cluster.workers[0]
        killed, deadline, status = None, Deadline(120), None
        while not deadline.expired() and p.poll() is None:
            time.sleep(0.05)
            try:
                status = ResultsStore(url).group("r")["status"][...]
            except Exception:  # noqa: BLE001 - not created yet
                continue
            # both workers busy (head has no CPU) and some cells done: the victim is surely running a cell
            if (status == DONE).sum() >= 2 and (status == RUNNING).sum() >= 2 and (status == DONE).sum() < status.size - 2:
                victim.note()
                record_pids(victim.pids, "victim")
                killed = cluster.kill_node(victim)  # its raylet first, then its cells' workers
                break
        assert killed, f"could not kill mid-sweep (driver exit {p.poll()}, status {status})"
        n_done_at_kill = int((status == DONE).sum())
        out = finish(p, 180, "the cluster run")
        assert p.returncode == 0, out
        assert "12/12 cells done, 0 failed" in out, out

        ds_status = ResultsStore(url).group("r")
        assert (ds_status["status"][...] == DONE).all()
        attempts = ds_status["attempts"][...]
        assert attempts.max() >= 2, f"no cell was retried: the kill hit no running cell ({attempts})"
        ref_data, got = _data(ref), _data(url)
        for k in ref_data:
            assert np.array_equal(ref_data[k], got[k], equal_nan=True), f"{k} differs from the single-node run"

        # the lost node is gone for good, and the cluster knows it
        assert not victim.still_running()
        cluster.wait_alive(2, timeout=scaled(30))  # head + the surviving worker
        print(f"killed raylet {killed[0]} and {len(killed) - 1} other processes of a worker node after "
              f"{n_done_at_kill} cells; retried cells: {int((attempts >= 2).sum())}")

    def test_local_store_unreachable_from_a_node_is_refused_before_any_cell(cluster, sweep_file, tmp_path):
        """A worker node that does not see the driver's folder (its own mount namespace, an empty tmpfs over the
        folder: another machine's disk) makes a local-path store unusable: refused before any cell runs."""
        folder = tmp_path / "local-disk"
        folder.mkdir()
        blind = cluster.add_worker(hide=(folder,))
        record_pids(blind.note() + [blind.pid], "cluster")
        url = folder / "l.zarr"
        p = _sweep(["run", str(sweep_file), "--store", str(url), "--address", cluster.address], cluster.env(),
                   cwd=tmp_path)
        out = finish(p, 120, "the run on a store one node cannot see")
        assert p.returncode == 2, out
        assert "a local path that 1 of the cluster's" in out and "no cell was run" in out, out
        assert "s3://" in out and "mounted at the same path on every node" in out and "Traceback" not in out, out
        st = ResultsStore(str(url))
        assert (st.group("r")["status"][...] == 0).all()  # nothing ran, nothing marked running
        assert not list((url / "weights").rglob("c/*")), "a cell wrote data"
        assert read_holder(st.location) is None  # the refused run let go of the store
