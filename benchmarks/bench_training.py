"""Training speed: this project's Numba kernels vs scikit-learn's BernoulliRBM and a plain NumPy RBM.

All three train on the same data in the same run, single-threaded (BLAS, OpenMP and Numba pinned to
one thread), and every row prints its ratios to NumPy and to scikit-learn (PCD-1 rows: BernoulliRBM is
PCD-1) from that run. Ising rows: N = 100 ring at beta = 0.6, spin visible and hidden units, zero
fields; XY rows: the discretized XY ring (q = 10, beta = 2) with Potts visible and double-well hidden
units (gamma 1, theta -1), as in Figs. 8-11. 1e5 samples, batch 100, as many persistent chains as the
batch. Reports seconds per epoch, ratios, sample-passes per second and visible-unit Gibbs updates per
second per core.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_training.py [--samples 100000]

(the OPENBLAS_* variables set on some machines slow a current NumPy, so unset them for a fair baseline).
`--only exact,PCD-1` keeps some methods; `--epochs` sets the epochs timed for ours. NumPy and scikit-learn
are timed over one epoch, except NumPy's XY rows (about 40 s an epoch): timed over the first
`--numpy-xy-updates` updates (default 100) and scaled to the epoch's updates (the cost per update is
the same throughout).
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

XY = dict(q=10, beta=2.0, gamma=1.0, theta=-1.0)


# ----------------------------------------------------------------------------------- NumPy baselines
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


def numpy_double_well(I, gamma, theta, rng):
    """Double-well hidden units (docs/physics.md 3.1): <h | I> and one draw h ~ P(h | I), elementwise.

    Branch weights from erfcx; each branch a normal of variance 1/gamma truncated to h > 0 (mirrored
    for h < 0), drawn by inverse CDF (exact away from the far tail, where the workload never goes)."""
    from scipy.special import erfcx, ndtr, ndtri

    r, sd = np.sqrt(2 * gamma), 1 / np.sqrt(gamma)
    ep, em = erfcx((theta - I) / r), erfcx((theta + I) / r)
    p_plus = ep / (ep + em)
    m_plus, m_minus = (I - theta) / gamma, -(I + theta) / gamma  # means of the two (mirrored) branches

    def trunc_mean(m):  # E[X | X > 0], X ~ N(m, sd^2)
        a = -m / sd
        return m + sd * np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi) / ndtr(-a)

    mean = p_plus * trunc_mean(m_plus) - (1 - p_plus) * trunc_mean(m_minus)
    pos = rng.random(I.shape) < p_plus
    m = np.where(pos, m_plus, m_minus)
    z = -ndtri(rng.random(I.shape) * ndtr(m / sd))  # Z | Z > -m/sd
    return mean, np.where(pos, 1.0, -1.0) * (m + sd * z)


def numpy_potts_epoch(X, W, chains, lr, B, k, gamma, theta, rng):
    """One epoch of plain NumPy PCD-k: Potts visible units, double-well hidden units, zero fields,
    zero-sum gauge after each update. W (M, q, N) (state-major, so that reductions over states run over
    contiguous rows of sites); X, chains (n, N) / (C, N) integer states."""
    n, N = X.shape
    M, q, _ = W.shape
    perm = rng.permutation(n)
    sites = np.arange(N)
    states = np.arange(q)[:, None]

    def inputs(x):  # I[c, mu] = sum_i W[mu, x_ci, i]
        return W[:, x, sites].sum(-1).T

    def stats(t, x):  # sum_c t[c, mu] [x_ci = a] -> (M, q, N)
        return np.einsum("cm,cai->mai", t, (x[:, None, :] == states).astype(float))

    for start in range(0, n, B):
        xb = X[perm[start:start + B]]
        t, _ = numpy_double_well(inputs(xb), gamma, theta, rng)
        pos = stats(t, xb) / len(xb)
        for _ in range(k):
            _, h = numpy_double_well(inputs(chains), gamma, theta, rng)
            f = np.tensordot(h, W, axes=(1, 0))  # (C, q, N)
            p = np.exp(f - f.max(1, keepdims=True))
            cdf = np.cumsum(p, 1)
            u = rng.random((len(chains), 1, N)) * cdf[:, -1:]
            chains = np.minimum((cdf < u).sum(1), q - 1)
        t, _ = numpy_double_well(inputs(chains), gamma, theta, rng)
        neg = stats(t, chains) / len(chains)
        W += lr * (pos - neg)
        W -= W.mean(1, keepdims=True)
    return chains


def time_numpy(V, M, k, exact, epochs, B=100, lr=0.01):
    rng = np.random.default_rng(0)
    W = rng.normal(0, 0.01, (M, V.shape[1]))
    chains = V[rng.integers(0, len(V), B)].copy()
    t = time.perf_counter()
    for _ in range(epochs):
        chains = numpy_epoch(V, W, chains, lr, B, k, exact, rng)
    return (time.perf_counter() - t) / epochs


def time_numpy_potts(X, M, k, updates, B=100, lr=0.01):
    """Seconds per epoch of numpy_potts_epoch, from `updates` updates scaled to the len(X) / B of an epoch."""
    rng = np.random.default_rng(0)
    per_epoch = -(-len(X) // B)
    X = X[:min(len(X), updates * B)]
    import scipy.special  # noqa: F401 - imported before the clock starts

    q = XY["q"]
    W = rng.normal(0, 0.01, (M, q, X.shape[1]))
    W -= W.mean(1, keepdims=True)
    chains = X[rng.integers(0, len(X), B)].copy()
    t = time.perf_counter()
    numpy_potts_epoch(X, W, chains, lr, B, k, XY["gamma"], XY["theta"], rng)
    return (time.perf_counter() - t) * per_epoch / -(-len(X) // B)


# ----------------------------------------------------------------------------------- scikit-learn
def time_sklearn(V01, M, epochs, B=100, lr=0.01):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=M, learning_rate=lr, batch_size=B, n_iter=epochs, random_state=0)
    t = time.perf_counter()
    rbm.fit(V01)
    return (time.perf_counter() - t) / epochs


# ----------------------------------------------------------------------------------- ours
def time_ours(V, epochs, **cfg):
    """Seconds per epoch: (time of 1 + epochs epochs - time of 1 epoch) / epochs, so the one-off set-up
    of a run (data check, initialisation, first record) is not counted as epoch time."""
    cfg = TrainConfig(epochs=1, record_every=1, loglik=False, batch_size=100, learning_rate=0.01, **cfg)
    fit(cfg, V[:2000], seed=0)  # compile / load the cache
    t = time.perf_counter()
    fit(cfg, V, seed=0)
    one = time.perf_counter() - t
    more = TrainConfig(**{**cfg.__dict__, "epochs": 1 + epochs, "record_every": 1 + epochs})
    t = time.perf_counter()
    fit(more, V, seed=0)
    return (time.perf_counter() - t - one) / epochs


ROWS = [("exact", 1, 0), ("exact", 5, 0), ("PCD-1", 1, 1), ("PCD-1", 5, 1), ("PCD-1", 20, 1), ("PCD-1", 100, 1),
        ("PCD-20", 1, 20), ("PCD-20", 5, 20), ("PCD-20", 20, 20), ("PCD-20", 100, 20), ("XY PCD-20", 1, 20),
        ("XY PCD-20", 5, 20)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--visible", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5, help="epochs timed per configuration (ours)")
    ap.add_argument("--only", default="", help="comma-separated methods to keep (e.g. exact,PCD-1)")
    ap.add_argument("--numpy-xy-updates", type=int, default=100, help="updates timed for NumPy's XY rows")
    ap.add_argument("--json", default="benchmarks/out/training.json")
    args = ap.parse_args()
    N, n, B = args.visible, args.samples, 100
    keep = {m.strip() for m in args.only.split(",") if m.strip()}
    V8 = kernels.sample_ising(n, N, 0.6, 0)
    Vf = V8.astype(np.float64)
    V01 = (Vf + 1) / 2
    X8 = None
    rows = []
    t_start = time.time()
    with threadpool_limits(limits=1):
        for label, M, k in ROWS:
            if keep and label not in keep:
                continue
            if label.startswith("XY"):
                if X8 is None:
                    X8 = kernels.sample_xy(n, N, XY["q"], XY["beta"], 0)
                ours = time_ours(X8, args.epochs, visible="potts", q=XY["q"], hidden="double_well",
                                 gamma=XY["gamma"], theta=XY["theta"], method="pcd", pcd_steps=k, n_hidden=M)
                npy = time_numpy_potts(X8, M, k, args.numpy_xy_updates)
                skl = float("nan")
            else:
                exact = label == "exact"
                ours = time_ours(V8, args.epochs, method="exact" if exact else "pcd", pcd_steps=max(k, 1),
                                 n_hidden=M)
                npy = time_numpy(Vf, M, max(k, 1), exact, 1)
                skl = time_sklearn(V01, M, 1) if k == 1 else float("nan")
            updates = -(-n // B)
            gibbs = updates * B * k * N / ours if k else float("nan")
            rows.append(dict(method=label, M=M, ours_s=ours, numpy_s=npy, sklearn_s=skl,
                             x_numpy=npy / ours, x_sklearn=skl / ours, sample_passes_per_s=n / ours,
                             visible_updates_per_s=gibbs))
            r = rows[-1]
            print(f"{label:9s} M={M:<3d} ours {ours:8.4f} s/epoch | numpy {npy:8.3f} ({r['x_numpy']:6.1f}x) | "
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
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    meta = dict(samples=n, visible=N, batch=B, cpu=platform.processor() or platform.machine(), blas=blas,
                numpy=np.__version__, wall_s=round(time.time() - t_start, 1), loadavg_at_end=load)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(dict(meta=meta, rows=rows), f, indent=1)
    print(f"\n{meta}")


if __name__ == "__main__":
    main()
