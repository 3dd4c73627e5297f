"""Training speed: this project's Numba kernels vs scikit-learn's BernoulliRBM and a plain NumPy RBM.

All three train on the same data in the same run (N = 100 Ising ring at beta = 0.6, 1e5 samples,
batch 100, as many persistent chains as the batch), single-threaded (BLAS, OpenMP and Numba pinned to
one thread). Reports seconds per epoch, ratios, sample-passes per second and visible-unit Gibbs updates
per second per core.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_training.py [--samples 100000]

(the OPENBLAS_* variables set on some machines slow a current NumPy, so unset them for a fair baseline).
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

import kernels  # noqa: E402
from kernels.train import TrainConfig, fit  # noqa: E402


# ----------------------------------------------------------------------------------- NumPy baseline
def numpy_epoch(V, W, chains, lr, B, k, exact, rng):
    """One epoch of plain NumPy training: spin visible and hidden units, zero fields, batch updates."""
    n = V.shape[0]
    perm = rng.permutation(n)
    M = W.shape[0]
    if exact:
        H = np.array([[2 * ((c >> m) & 1) - 1 for m in range(M)] for c in range(1 << M)], float)
    for start in range(0, n, B):
        vb = V[perm[start:start + B]]
        pos = np.tanh(vb @ W.T).T @ vb / len(vb)
        if exact:
            F = H @ W  # (2^M, N) visible fields for each hidden state
            logw = np.logaddexp(F, -F).sum(1)
            p = np.exp(logw - logw.max())
            p /= p.sum()
            neg = (H * p[:, None]).T @ np.tanh(F)
        else:
            for _ in range(k):
                ph = 0.5 * (1 + np.tanh(chains @ W.T))
                h = np.where(rng.random(ph.shape) < ph, 1.0, -1.0)
                pv = 0.5 * (1 + np.tanh(h @ W))
                chains = np.where(rng.random(pv.shape) < pv, 1.0, -1.0)
            neg = np.tanh(chains @ W.T).T @ chains / len(chains)
        W += lr * (pos - neg)
    return chains


def time_numpy(V, M, k, exact, epochs, B=100, lr=0.01):
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.01, (M, V.shape[1]))
    chains = V[rng.integers(0, len(V), B)].copy()
    t = time.perf_counter()
    for _ in range(epochs):
        chains = numpy_epoch(V, W, chains, lr, B, k, exact, rng)
    return (time.perf_counter() - t) / epochs


# ----------------------------------------------------------------------------------- scikit-learn
def time_sklearn(V01, M, epochs, B=100, lr=0.01):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=M, learning_rate=lr, batch_size=B, n_iter=epochs, random_state=0)
    t = time.perf_counter()
    rbm.fit(V01)
    return (time.perf_counter() - t) / epochs


# ----------------------------------------------------------------------------------- ours
def time_ours(V, M, k, exact, epochs, B=100, lr=0.01):
    """Seconds per epoch: (time of 1 + epochs epochs - time of 1 epoch) / epochs, so the one-off set-up
    of a run (data check, initialisation, first record) is not counted as epoch time."""
    cfg = TrainConfig(method="exact" if exact else "pcd", pcd_steps=k, n_hidden=M, batch_size=B,
                      learning_rate=lr, epochs=1, record_every=1, loglik=False)
    fit(cfg, V[:2000], seed=0)  # compile / load the cache
    t = time.perf_counter()
    fit(cfg, V, seed=0)
    one = time.perf_counter() - t
    more = TrainConfig(**{**cfg.__dict__, "epochs": 1 + epochs, "record_every": 1 + epochs})
    t = time.perf_counter()
    fit(more, V, seed=0)
    return (time.perf_counter() - t - one) / epochs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--visible", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5, help="epochs timed per configuration (ours)")
    ap.add_argument("--json", default="benchmarks/out/training.json")
    args = ap.parse_args()
    N, n, B = args.visible, args.samples, 100
    V8 = kernels.sample_ising(n, N, 0.6, 0)
    Vf = V8.astype(np.float64)
    V01 = (Vf + 1) / 2
    rows = []
    with threadpool_limits(limits=1):
        for label, M, k, exact in [("exact", 1, 0, True), ("exact", 5, 0, True), ("PCD-1", 1, 1, False),
                                   ("PCD-1", 5, 1, False), ("PCD-20", 1, 20, False), ("PCD-20", 5, 20, False)]:
            ours = time_ours(V8, M, max(k, 1), exact, args.epochs)
            base_epochs = 1
            npy = time_numpy(Vf, M, max(k, 1), exact, base_epochs)
            skl = time_sklearn(V01, M, base_epochs) if k == 1 else float("nan")
            updates = -(-n // B)
            gibbs = updates * B * k * N / ours if k else float("nan")
            rows.append(dict(method=label, M=M, ours_s=ours, numpy_s=npy, sklearn_s=skl,
                             x_numpy=npy / ours, x_sklearn=skl / ours, sample_passes_per_s=n / ours,
                             visible_updates_per_s=gibbs))
            r = rows[-1]
            print(f"{label:7s} M={M}  ours {ours:8.4f} s/epoch | numpy {npy:8.3f} ({r['x_numpy']:6.1f}x) | "
                  f"sklearn {skl:8.3f} ({r['x_sklearn']:6.1f}x) | {r['sample_passes_per_s']:.3g} sample-passes/s"
                  f" | {gibbs:.3g} visible updates/s", flush=True)
    print()
    print("| method | M | ours s/epoch | NumPy s/epoch | sklearn s/epoch | vs NumPy | vs sklearn |"
          " sample-passes/s | visible-unit updates/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        skl = "n/a" if np.isnan(r["sklearn_s"]) else f"{r['sklearn_s']:.3f}"
        xs = "n/a" if np.isnan(r["x_sklearn"]) else f"{r['x_sklearn']:.1f}x"
        vu = "n/a" if np.isnan(r["visible_updates_per_s"]) else f"{r['visible_updates_per_s']:.2e}"
        print(f"| {r['method']} | {r['M']} | {r['ours_s']:.4f} | {r['numpy_s']:.3f} | {skl} | "
              f"{r['x_numpy']:.1f}x | {xs} | {r['sample_passes_per_s']:.2e} | {vu} |")
    blas = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
    meta = dict(samples=n, visible=N, batch=B, cpu=platform.processor() or platform.machine(), blas=blas,
                numpy=np.__version__)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    print(f"\n{meta}")


if __name__ == "__main__":
    main()
