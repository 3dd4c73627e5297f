"""Empirical spectrum of sampled ring data (docs/physics.md sections 5-6): what a `train.method: statistics` cell
records, and the same numbers for any array of configurations.

    Ising (data +-1, shape (n, N)):  C = V^T V / n (known mean 0)
    XY (data 0..q-1, shape (n, N)):  C = covariance of the one-hot vectors [x_i = a], centred with the
                                     known mean 1/q (dimension N q)

top_eigen gives the top eigenvalue of C and the weight of its unit eigenvector u on the signal modes;
sweep.science.theory gives the model's eigenvalue and the null-model edge to compare them with. numpy and scipy
only, except data_statistics, which samples exact ring data with the kernels.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import theory

__all__ = ["top_eigen", "pair_correlation", "data_statistics", "CHUNK"]

CHUNK = 8192
"""Rows per chunk of the Gram matrix (float32 products of small integers are exact in chunks <= 2^24)."""


def _gram(rows_fn, n, dim, chunk):
    """sum_s x_s x_s^T and sum_s x_s over n rows given chunkwise by rows_fn(lo, hi) -> float32 (hi-lo, dim);
    chunks are summed in float64."""
    s = np.zeros((dim, dim))
    m = np.zeros(dim)
    for lo in range(0, n, chunk):
        x = rows_fn(lo, min(n, lo + chunk))
        s += (x.T @ x).astype(np.float64)
        m += x.sum(axis=0, dtype=np.float64)
    return s, m


def _top_eigh(c):
    from scipy.linalg import eigh

    dim = c.shape[0]
    vals, vecs = eigh(c, subset_by_index=[dim - 1, dim - 1])
    return float(vals[0]), vecs[:, 0]


def _mode_weights(spectrum, k_sel):
    """Sum of |u_hat|^2 over the spatial modes with |k| <= k_sel (spectrum: |fft|^2 / dim along axis 0)."""
    nv = spectrum.shape[0]
    k = np.arange(nv)
    return float(spectrum[np.minimum(k, nv - k) <= k_sel].sum())


def top_eigen(data, model="ising", q=None, k_max=None, chunk=None):
    """Top eigenvalue and eigenvector weights on the signal modes of sampled ring data.

    Ising: u_hat = fft(u) / sqrt(N); top_mode_weight = sum over |k| <= k_max (default 3) of |u_hat_k|^2
    (1 for the uniform vector; about (2 k_max + 1)/N for noise); uniform_mode_weight = |u_hat_0|^2 =
    (sum_i u_i)^2 / N, the squared overlap with the uniform vector.
    XY: the signal eigenspace is spatially uniform and in the first angular harmonic: the plane waves
    exp(2 pi i (k i/N +- a/q)) with k = 0 (dimension 2, 1 for q = 2). top_mode_weight = |projection of u
    on the waves with |k| <= k_max (default 0)|^2, from the unitary 2-D FFT of u reshaped (N, q);
    uniform_mode_weight = the k = 0 projection (the exact signal eigenspace).
    low_mode_weight: the same with |k| <= 3 for both models. At N = 100 the low spatial modes are nearly
    degenerate, so the k = 0 weight stays well below 1 and varies between data sets even far above the
    crossover (XY, beta 1, q 10, N 100, 1e5 samples: 0.17 and 0.73 for two seeds, low_mode_weight 0.98).
    Returns dict(top_eigenvalue, top_mode_weight, uniform_mode_weight, low_mode_weight, top_vector
    (float64[N] or [N, q]), n_samples).
    """
    chunk = CHUNK if chunk is None else int(chunk)
    v = np.asarray(data)
    if v.ndim != 2 or v.shape[0] < 1:
        raise ValueError(f"data must be a 2-D array (n_samples, n_visible), got shape {v.shape}")
    n, nv = v.shape
    if model == "ising":
        if not np.all(np.abs(v) == 1):
            raise ValueError("Ising data must be +-1")
        s, _ = _gram(lambda lo, hi: v[lo:hi].astype(np.float32), n, nv, chunk)
        lam, u = _top_eigh(s / n)
        spec = np.abs(np.fft.fft(u)) ** 2 / nv
        km = 3 if k_max is None else int(k_max)
        vec = u
    elif model == "xy":
        if q is None:
            raise ValueError("q is required for model='xy'")
        q = int(q)
        if v.min() < 0 or v.max() >= q:
            raise ValueError(f"XY data must be states 0..{q - 1}")
        dim = nv * q
        offs = (np.arange(nv) * q)[None, :]

        def rows(lo, hi):
            x = np.zeros((hi - lo, dim), dtype=np.float32)
            np.put_along_axis(x, v[lo:hi].astype(np.int64) + offs, 1.0, axis=1)
            return x

        s, m = _gram(rows, n, dim, chunk)
        m /= n
        c = s / n - (m[:, None] + m[None, :]) / q + 1.0 / q**2
        lam, u = _top_eigh(c)
        harm = sorted({1 % q, (q - 1) % q})
        spec = (np.abs(np.fft.fft2(u.reshape(nv, q))) ** 2 / dim)[:, harm].sum(axis=1)
        km = 0 if k_max is None else int(k_max)
        vec = u.reshape(nv, q)
    else:
        raise ValueError(f"model must be 'ising' or 'xy', got {model!r}")
    return {"top_eigenvalue": lam, "top_mode_weight": _mode_weights(spec, km),
            "uniform_mode_weight": float(spec[0]), "low_mode_weight": _mode_weights(spec, 3),
            "top_vector": vec, "n_samples": n}


def pair_correlation(data, d, model="ising", q=None):
    """Empirical pair correlation at ring distance d, averaged over the sites of each configuration:
    c_s = (1/N) sum_i v_i v_(i+d) (Ising) or (1/N) sum_i cos(2 pi (x_i - x_(i+d)) / q) (XY). Returns
    (mean over configurations, its standard error std(c_s) / sqrt(n)) per d (configurations are
    independent for the exact samplers); compare with theory.ising_pair_correlation / xy_pair_correlation."""
    v = np.asarray(data)
    ds = np.atleast_1d(np.asarray(d, dtype=np.int64))
    if model == "ising":
        x = v.astype(np.float64)
        vals = [np.mean(x * np.roll(x, -k, axis=1), axis=1) for k in ds]
    elif model == "xy":
        if q is None:
            raise ValueError("q is required for model='xy'")
        ang = 2 * np.pi * v.astype(np.float64) / int(q)
        vals = [np.mean(np.cos(ang - np.roll(ang, -k, axis=1)), axis=1) for k in ds]
    else:
        raise ValueError(f"model must be 'ising' or 'xy', got {model!r}")
    mean = np.array([c.mean() for c in vals])
    err = np.array([c.std(ddof=1) / np.sqrt(len(c)) if len(c) > 1 else np.nan for c in vals])
    return (mean, err) if np.ndim(d) else (float(mean[0]), float(err[0]))


def data_statistics(model, n_visible, beta, n_samples, seed, q=None, kernel="cosine", k_max=None):
    """Sample exact ring data (kernels.samplers) and return its spectrum statistics with the theory.

    dict(top_eigenvalue, top_mode_weight, uniform_mode_weight, low_mode_weight) from top_eigen, and
    signal_eigenvalue (exact finite N) and null_edge (MP edge of the null model) for the same
    (N, n_samples, q). No RBM; cost: sampling plus one N x N (Ising) or Nq x Nq (XY) Gram matrix.
    """
    from kernels.samplers import sample_ising, sample_xy

    if model == "ising":
        data = sample_ising(n_samples, n_visible, beta, seed)
        sig = theory.ising_signal_eigenvalue(beta, n_visible)
        edge = theory.mp_edge(n_visible / n_samples)
    elif model == "xy":
        if q is None:
            raise ValueError("q is required for model='xy'")
        data = sample_xy(n_samples, n_visible, q, beta, seed, kernel=kernel)
        sig = theory.xy_signal_eigenvalue(beta, q, n_visible, kernel=kernel)
        edge = theory.xy_null_edge(q, n_visible, n_samples)
    else:
        raise ValueError(f"model must be 'ising' or 'xy', got {model!r}")
    st = top_eigen(data, model=model, q=q, k_max=k_max)
    out = {k: st[k] for k in ("top_eigenvalue", "top_mode_weight", "uniform_mode_weight", "low_mode_weight")}
    return dict(out, signal_eigenvalue=float(sig), null_edge=float(edge))
