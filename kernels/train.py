"""Training an RBM by stochastic gradient ascent on the log-likelihood (docs/physics.md section 4).

Each epoch reshuffles the training set (a permutation drawn from the training stream) and walks it in
minibatches of `batch_size` (the last batch holds the remainder). Per minibatch, with a fixed
learning rate lr:

    W  += lr * ( <v Gamma'(I)>_batch       - <v h>_model )
    g  += lr * ( <v>_batch                 - <v>_model )          (fields: learned)
    theta += lr * ( <-dU/dtheta | I>_batch  - <-dU/dtheta>_model ) (fields: learned; not double_well)

The model term is exact (sum over 2^M hidden states, spin/bernoulli hidden units) or estimated by
PCD-k: persistent chains advanced by k Gibbs sweeps per update, averaged with the conditional mean
Gamma'(I) at the chain states. Potts weights and fields are projected on the zero-sum gauge after every
update. The whole run is a deterministic function of (data, config, seed): one xoshiro256** stream
drives initialisation, shuffling and Gibbs sampling, and its state is part of the checkpoint.
"""

from dataclasses import dataclass, field, fields as dc_fields

import numpy as np
from numba import njit

from . import exact
from . import potentials as pot
from .rbm import (
    dot_potts,
    dot_spin,
    gibbs_potts,
    gibbs_potts_table,
    gibbs_spin,
    gibbs_spin_table,
    hidden_inputs_potts,
    hidden_inputs_spin,
    log_p_unnorm_potts,
    log_p_unnorm_spin,
    table_pays,
    visible_table_potts,
    visible_table_spin,
)
from .rng import fill_normal, new_state, permutation, randbelow


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run besides the data and the seed."""

    visible: str = "spin"  # "spin" (data +-1) or "potts" (data 0..q-1)
    q: int = 2  # Potts states (visible == "potts")
    hidden: str = "spin"  # spin | bernoulli | gaussian | double_well
    n_hidden: int = 1
    fields: str = "zero"  # "zero": g = 0 and hidden theta fixed; "learned"
    gamma: float = 1.0  # hidden potential parameters (initial values, per unit)
    theta: float = 0.0
    method: str = "pcd"  # "pcd" or "exact"
    pcd_steps: int = 20
    n_chains: int | None = None  # PCD chains; None: batch_size
    learning_rate: float = 0.01
    batch_size: int = 100
    epochs: int = 100
    record_every: int = 1
    init_std: float = 0.01
    loglik: bool = True  # record exact log-likelihoods when the 2^M sum is available

    def __post_init__(self):
        errors = []
        if self.visible not in ("spin", "potts"):
            errors.append(f"visible must be 'spin' or 'potts', got {self.visible!r}")
        if self.hidden not in pot.POTENTIALS:
            errors.append(f"hidden must be one of {sorted(pot.POTENTIALS)}, got {self.hidden!r}")
        if self.fields not in ("zero", "learned"):
            errors.append(f"fields must be 'zero' or 'learned', got {self.fields!r}")
        if self.method not in ("pcd", "exact"):
            errors.append(f"method must be 'pcd' or 'exact', got {self.method!r}")
        if self.visible == "potts" and not 2 <= self.q <= 127:
            errors.append(f"q must be in [2, 127] for Potts visible units, got {self.q}")
        for name, lo in (("n_hidden", 1), ("pcd_steps", 1), ("batch_size", 1), ("epochs", 0),
                         ("record_every", 1)):
            if int(getattr(self, name)) < lo:
                errors.append(f"{name} must be >= {lo}, got {getattr(self, name)}")
        if self.n_chains is not None and self.n_chains < 1:
            errors.append(f"n_chains must be >= 1, got {self.n_chains}")
        if not self.learning_rate > 0:
            errors.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.init_std >= 0:
            errors.append(f"init_std must be >= 0, got {self.init_std}")
        if self.hidden in ("gaussian", "double_well") and not self.gamma > 0:
            errors.append(f"gamma must be > 0 for {self.hidden} hidden units, got {self.gamma}")
        if self.method == "exact" and self.hidden in pot.POTENTIALS:
            try:
                exact.check_exact_possible(pot.POTENTIALS[self.hidden], self.n_hidden)
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("; ".join(errors))

    @property
    def kind(self):
        return pot.POTENTIALS[self.hidden]

    @property
    def chains(self):
        return self.batch_size if self.n_chains is None else self.n_chains

    @property
    def learn_fields(self):
        return self.fields == "learned"

    @property
    def learn_theta(self):
        """Hidden fields are theta for spin/bernoulli/gaussian units; double_well's theta is its shape."""
        return self.learn_fields and self.hidden != "double_well"

    @property
    def has_exact_loglik(self):
        return self.loglik and self.kind in (pot.SPIN, pot.BERNOULLI) and self.n_hidden <= 12

    def n_records(self):
        """Recorded epochs: 0, record_every, 2 record_every, ... <= epochs, and the last epoch."""
        return self.epochs // self.record_every + 1 + (self.epochs % self.record_every != 0)


_HISTORY_KEYS = ("epoch", "weights", "visible_fields", "theta", "gamma", "loglik_train", "loglik_test")


@dataclass
class TrainState:
    """A resumable training run: parameters, PCD chains, random stream, epoch and recorded history."""

    weights: np.ndarray  # (M, N) or (M, N, q)
    visible_fields: np.ndarray  # (N,) or (N, q)
    theta: np.ndarray  # (M,)
    gamma: np.ndarray  # (M,)
    chains: np.ndarray  # (n_chains, N) int8; (0, N) for the exact method
    rng: np.ndarray  # uint64[4]
    epoch: int = 0
    history: dict = field(default_factory=lambda: {k: [] for k in _HISTORY_KEYS})

    def copy(self):
        return TrainState.from_arrays(self.to_arrays())

    def to_arrays(self):
        """Flat dict of NumPy arrays (the checkpoint): no pickling needed to store it."""
        out = {name: np.array(getattr(self, name)) for name in
               ("weights", "visible_fields", "theta", "gamma", "chains", "rng")}
        out["epoch"] = np.array(self.epoch, dtype=np.int64)
        for key, items in self.history.items():
            if key in ("epoch", "loglik_train", "loglik_test"):
                out["history_" + key] = np.array(items, dtype=np.int64 if key == "epoch" else np.float64)
            else:
                shape = getattr(self, key).shape
                out["history_" + key] = np.array(items, dtype=np.float64).reshape((len(items),) + shape)
        return out

    @classmethod
    def from_arrays(cls, arrays):
        history = {k: [np.array(x) if np.ndim(x) else x.item() for x in arrays["history_" + k]]
                   for k in _HISTORY_KEYS}
        return cls(
            weights=np.array(arrays["weights"], dtype=np.float64),
            visible_fields=np.array(arrays["visible_fields"], dtype=np.float64),
            theta=np.array(arrays["theta"], dtype=np.float64),
            gamma=np.array(arrays["gamma"], dtype=np.float64),
            chains=np.array(arrays["chains"], dtype=np.int8),
            rng=np.array(arrays["rng"], dtype=np.uint64),
            epoch=int(arrays["epoch"]),
            history=history,
        )

    def trajectory(self):
        """The recorded history as stacked arrays: epoch (R,), weights (R, M, N[, q]), ..."""
        return {k: np.array(v) for k, v in self.history.items()}


def check_data(cfg, data, name="data"):
    """Return `data` as a C-contiguous int8 array after checking its values against the config."""
    arr = np.ascontiguousarray(data, dtype=np.int8)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"{name} must be a 2-D array (samples, visible units) with at least one row")
    if cfg.visible == "spin":
        if not _all_spins(arr):
            raise ValueError(f"{name}: spin visible units take values -1 and +1")
    elif arr.min() < 0 or arr.max() >= cfg.q:
        raise ValueError(f"{name}: Potts visible units take values 0..{cfg.q - 1}")
    return arr


@njit(cache=True)
def _all_spins(arr):
    """Whether every entry is -1 or +1 (one pass, early exit)."""
    flat = arr.reshape(arr.size)
    for k in range(flat.size):
        if flat[k] != 1 and flat[k] != -1:
            return False
    return True


def init_state(cfg, train, seed):
    """Initial parameters: W ~ N(0, init_std^2) (gauge-projected for Potts); fields zero, or for learned
    fields the independent-site fit of the data; PCD chains start on random training samples."""
    train = check_data(cfg, train, "train")
    s = new_state(seed)
    M, N = cfg.n_hidden, train.shape[1]
    shape = (M, N) if cfg.visible == "spin" else (M, N, cfg.q)
    W = np.empty(shape)
    fill_normal(s, W, float(cfg.init_std))
    g = np.zeros(shape[1:])
    if cfg.visible == "potts":
        W -= W.mean(axis=-1, keepdims=True)
    if cfg.learn_fields:
        if cfg.visible == "spin":
            m = np.clip(train.mean(axis=0), -1 + 1e-3, 1 - 1e-3)
            g = np.arctanh(m)
        else:
            freq = np.stack([(train == a).mean(axis=0) for a in range(cfg.q)], axis=-1)
            g = np.log(np.clip(freq, 1e-3, None))
            g -= g.mean(axis=-1, keepdims=True)
    n_chains = cfg.chains if cfg.method == "pcd" else 0
    chains = np.empty((n_chains, N), dtype=np.int8)
    for c in range(n_chains):
        chains[c] = train[randbelow(s, train.shape[0])]
    return TrainState(
        weights=W,
        visible_fields=g,
        theta=np.full(M, float(cfg.theta)),
        gamma=np.full(M, float(cfg.gamma)),
        chains=chains,
        rng=s,
        epoch=0,
    )


def exact_loglik(cfg, state, data):
    """Mean exact log-likelihood of `data` (spin/bernoulli hidden units): <log P(v)>."""
    data = check_data(cfg, data)
    W, g, th, ga = state.weights, state.visible_fields, state.theta, state.gamma
    if cfg.visible == "spin":
        logZ = exact.log_partition_spin(W, g, th, cfg.kind)
        return float(log_p_unnorm_spin(W, g, cfg.kind, ga, th, data).mean() - logZ)
    logZ = exact.log_partition_potts(W, g, th, cfg.kind)
    return float(log_p_unnorm_potts(W, g, cfg.kind, ga, th, data).mean() - logZ)


def _record(cfg, state, train, test):
    h = state.history
    h["epoch"].append(state.epoch)
    h["weights"].append(state.weights.copy())
    h["visible_fields"].append(state.visible_fields.copy())
    h["theta"].append(state.theta.copy())
    h["gamma"].append(state.gamma.copy())
    if cfg.has_exact_loglik:
        h["loglik_train"].append(exact_loglik(cfg, state, train))
        h["loglik_test"].append(exact_loglik(cfg, state, test) if test is not None and len(test) else np.nan)
    else:
        h["loglik_train"].append(np.nan)
        h["loglik_test"].append(np.nan)


def fit(cfg, train, test=None, seed=0, state=None, stop_epoch=None):
    """Train (or resume `state`) up to epoch min(cfg.epochs, stop_epoch); returns the TrainState.

    Records at every epoch that is a multiple of record_every, from epoch 0, and at the last epoch (cfg.epochs),
    so a trajectory always ends with the trained state. Resuming a state returned
    by an earlier call (or rebuilt with TrainState.from_arrays) gives bit-identical results to an
    uninterrupted run. `state` is not modified; a new state is returned.
    """
    train = check_data(cfg, train, "train")
    test = None if test is None or len(test) == 0 else check_data(cfg, test, "test")
    if cfg.batch_size > train.shape[0]:
        raise ValueError(f"batch_size {cfg.batch_size} is larger than the {train.shape[0]} training samples")
    if state is None:
        state = init_state(cfg, train, seed)
        _record(cfg, state, train, test)
    else:
        state = state.copy()
        expected = (cfg.n_hidden, train.shape[1]) + ((cfg.q,) if cfg.visible == "potts" else ())
        if state.weights.shape != expected:
            raise ValueError(f"state weights have shape {state.weights.shape}, config and data need {expected}")
    last = cfg.epochs if stop_epoch is None else min(cfg.epochs, stop_epoch)
    spin = cfg.visible == "spin"
    table = cfg.method == "pcd" and table_pays(cfg.kind, cfg.n_hidden, cfg.chains, cfg.pcd_steps)
    while state.epoch < last:
        if spin:
            _epoch_spin(train, state.weights, state.visible_fields, state.theta, state.gamma, cfg.kind,
                        cfg.learning_rate, cfg.batch_size, cfg.learn_fields, cfg.learn_theta,
                        cfg.method == "exact", state.chains, cfg.pcd_steps, state.rng, table)
        else:
            _epoch_potts(train, state.weights, state.visible_fields, state.theta, state.gamma, cfg.kind,
                         cfg.learning_rate, cfg.batch_size, cfg.learn_fields, cfg.learn_theta,
                         cfg.method == "exact", state.chains, cfg.pcd_steps, state.rng, table)
        state.epoch += 1
        if state.epoch % cfg.record_every == 0 or state.epoch == cfg.epochs:
            _record(cfg, state, train, test)
    return state


# ---------------------------------------------------------------------------------------------
# jitted epochs


@njit(cache=True)
def _gather_rows(data, perm, start, stop, out):
    """out[b] = data[perm[start + b]]: one short independent copy per row, so the cache misses of the
    shuffled rows overlap (the compute below then reads the batch sequentially)."""
    N = data.shape[1]
    for b in range(stop - start):
        r = perm[start + b]
        for i in range(N):
            out[b, i] = data[r, i]


@njit(cache=True)
def _positive_spin(data, perm, start, stop, W, kind, gamma, theta, X, V, posW, posg, posth, learn_g,
                   learn_theta):
    """Data term of one minibatch: sums of v Gamma'(I), v and <-dU/dtheta | I> over rows perm[start:stop]
    (the last two only when learned). The rows are first copied to V (>= batch, N); then staged (all
    inputs, all Gamma', all sums) so independent rows overlap in the pipeline. X (>= batch, M) is scratch."""
    M, N = W.shape
    nb = stop - start
    _gather_rows(data, perm, start, stop, V)
    for b in range(nb):
        for mu in range(M):
            X[b, mu] = dot_spin(W, mu, V[b])
    posth[:] = 0.0
    for b in range(nb):
        for mu in range(M):
            x = X[b, mu]
            if learn_theta:
                posth[mu] -= pot.mean_dU_dtheta(kind, x, gamma[mu], theta[mu])
            X[b, mu] = pot.cgf_prime(kind, x, gamma[mu], theta[mu])
    posW[:, :] = 0.0
    posg[:] = 0.0
    for b in range(nb):
        v = V[b]
        for mu in range(M):
            t = X[b, mu]
            for i in range(N):
                posW[mu, i] += t * v[i]
        if learn_g:
            for i in range(N):
                posg[i] += v[i]


@njit(cache=True)
def _negative_pcd_spin(W, g, kind, gamma, theta, chains, k, s, I, negW, negg, negth, thr, use_table):
    """Model term from the persistent chains after k Gibbs sweeps (averages, not sums)."""
    M, N = W.shape
    if use_table:
        visible_table_spin(W, g, kind, thr)
        gibbs_spin_table(W, kind, gamma, theta, chains, k, s, thr)
    else:
        gibbs_spin(W, g, kind, gamma, theta, chains, k, s)
    negW[:, :] = 0.0
    negg[:] = 0.0
    negth[:] = 0.0
    C = chains.shape[0]
    for c in range(C):
        v = chains[c]
        hidden_inputs_spin(W, v, I)
        for mu in range(M):
            t = pot.cgf_prime(kind, I[mu], gamma[mu], theta[mu])
            negth[mu] -= pot.mean_dU_dtheta(kind, I[mu], gamma[mu], theta[mu])
            for i in range(N):
                negW[mu, i] += t * v[i]
        for i in range(N):
            negg[i] += v[i]
    inv = 1.0 / C
    negW *= inv
    negg *= inv
    negth *= inv


@njit(cache=True)
def _epoch_spin(data, W, g, theta, gamma, kind, lr, B, learn_g, learn_theta, use_exact, chains, k, s,
                use_table):
    n, N = data.shape
    M = W.shape[0]
    perm = permutation(s, n)
    I = np.empty(M)
    posW = np.empty((M, N))
    posg = np.empty(N)
    posth = np.empty(M)
    negW = np.empty((M, N))
    negg = np.empty(N)
    negth = np.empty(M)
    thr = np.empty((1 << M, N) if use_table else (1, 1), dtype=np.uint64)
    X = np.empty((B, M))
    V = np.empty((B, N), dtype=np.int8)
    for start in range(0, n, B):
        stop = min(start + B, n)
        _positive_spin(data, perm, start, stop, W, kind, gamma, theta, X, V, posW, posg, posth, learn_g,
                       learn_theta)
        if use_exact:
            exact.moments_spin(W, g, theta, kind, negW, negg, negth)  # -dU/dtheta = h here
        else:
            _negative_pcd_spin(W, g, kind, gamma, theta, chains, k, s, I, negW, negg, negth, thr, use_table)
        inv = 1.0 / (stop - start)
        for mu in range(M):
            for i in range(N):
                W[mu, i] += lr * (posW[mu, i] * inv - negW[mu, i])
        if learn_g:
            for i in range(N):
                g[i] += lr * (posg[i] * inv - negg[i])
        if learn_theta:
            for mu in range(M):
                theta[mu] += lr * (posth[mu] * inv - negth[mu])


@njit(cache=True)
def _positive_potts(data, perm, start, stop, W, kind, gamma, theta, I, posW, posg, posth, learn_g, learn_theta):
    M, N, q = W.shape
    posW[:, :, :] = 0.0
    posg[:, :] = 0.0
    posth[:] = 0.0
    for j in range(start, stop):
        x = data[perm[j]]
        for mu in range(M):
            y = dot_potts(W, mu, x)
            t = pot.cgf_prime(kind, y, gamma[mu], theta[mu])
            if learn_theta:
                posth[mu] -= pot.mean_dU_dtheta(kind, y, gamma[mu], theta[mu])
            for i in range(N):
                posW[mu, i, x[i]] += t
        if learn_g:
            for i in range(N):
                posg[i, x[i]] += 1.0


@njit(cache=True)
def _negative_pcd_potts(W, g, kind, gamma, theta, chains, k, s, I, negW, negg, negth, thr, use_table):
    M, N, q = W.shape
    if use_table:
        visible_table_potts(W, g, kind, thr)
        gibbs_potts_table(W, kind, gamma, theta, chains, k, s, thr)
    else:
        gibbs_potts(W, g, kind, gamma, theta, chains, k, s)
    negW[:, :, :] = 0.0
    negg[:, :] = 0.0
    negth[:] = 0.0
    C = chains.shape[0]
    for c in range(C):
        x = chains[c]
        hidden_inputs_potts(W, x, I)
        for mu in range(M):
            t = pot.cgf_prime(kind, I[mu], gamma[mu], theta[mu])
            negth[mu] -= pot.mean_dU_dtheta(kind, I[mu], gamma[mu], theta[mu])
            for i in range(N):
                negW[mu, i, x[i]] += t
        for i in range(N):
            negg[i, x[i]] += 1.0
    inv = 1.0 / C
    negW *= inv
    negg *= inv
    negth *= inv


@njit(cache=True)
def _gauge(a):
    """Zero-sum gauge over the last axis, in place."""
    flat = a.reshape(a.size // a.shape[-1], a.shape[-1])
    q = flat.shape[1]
    for r in range(flat.shape[0]):
        m = 0.0
        for c in range(q):
            m += flat[r, c]
        m /= q
        for c in range(q):
            flat[r, c] -= m


@njit(cache=True)
def _epoch_potts(data, W, g, theta, gamma, kind, lr, B, learn_g, learn_theta, use_exact, chains, k, s,
                 use_table):
    n, N = data.shape
    M, _, q = W.shape
    perm = permutation(s, n)
    I = np.empty(M)
    posW = np.empty((M, N, q))
    posg = np.empty((N, q))
    posth = np.empty(M)
    negW = np.empty((M, N, q))
    negg = np.empty((N, q))
    negth = np.empty(M)
    thr = np.empty((1 << M, N, q - 1) if use_table else (1, 1, 1), dtype=np.uint64)
    for start in range(0, n, B):
        stop = min(start + B, n)
        _positive_potts(data, perm, start, stop, W, kind, gamma, theta, I, posW, posg, posth, learn_g, learn_theta)
        if use_exact:
            exact.moments_potts(W, g, theta, kind, negW, negg, negth)
        else:
            _negative_pcd_potts(W, g, kind, gamma, theta, chains, k, s, I, negW, negg, negth, thr, use_table)
        inv = 1.0 / (stop - start)
        for mu in range(M):
            for i in range(N):
                for a in range(q):
                    W[mu, i, a] += lr * (posW[mu, i, a] * inv - negW[mu, i, a])
        _gauge(W)
        if learn_g:
            for i in range(N):
                for a in range(q):
                    g[i, a] += lr * (posg[i, a] * inv - negg[i, a])
            _gauge(g)
        if learn_theta:
            for mu in range(M):
                theta[mu] += lr * (posth[mu] * inv - negth[mu])
