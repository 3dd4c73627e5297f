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
drives initialisation, shuffling and the real-valued hidden units; at the start of every epoch it also
seeds the lockstep lanes (kernels.rng) that give the Gibbs sweeps their uniforms, so its state is the
whole random state of a checkpoint.

One update (kernels.rbm, kernels.products): the batch's data rows and the persistent chains share one
array of rows; after the chains' k sweeps, the hidden inputs of all rows are computed together (table
lookups), each row gets its weight (+1/batch for data, -1/chains for chains), and the whole gradient,
data term minus model term, is one product of the weighted hidden means with the rows (again by
lookup, in one pass). PCD works in float32 (the sweeps' working precision); the exact method's data
term in float64 and its model term is exact.moments_*. Parameters are kept and updated in float64.
"""

from dataclasses import dataclass, field, fields as dc_fields

import numpy as np
from numba import njit

from collections import namedtuple

from . import exact
from . import potentials as pot
from .products import (accumulate_rows, column_codes, gather_columns, group_table, n_groups, padded_width,
                       transpose_into)
from .rbm import (
    VIS_REAL,
    binary_levels,
    chain_scratch,
    direct_products,
    gibbs_sweeps_potts,
    gibbs_sweeps_spin,
    hidden_inputs_potts,
    hidden_inputs_spin,
    load_potts_model,
    load_spin_model,
    log_p_unnorm_potts,
    log_p_unnorm_spin,
    potts_model,
    spin_model,
    visible_route,
)
from .rng import fill_normal, lanes_from_stream, new_state, permutation, randbelow
from .vecmath import cast_like, sigmoid_fast


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


FLAGS = {"contract", "reassoc", "nsz", "arcp"}  # SIMD sums (kernels.products)


@njit(cache=True, fastmath=False)
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
    if state.epoch < last:
        run_epochs = _epochs_runner(cfg, train.shape[1], state.chains.shape[0])
    while state.epoch < last:
        run_epochs(train, state)
        state.epoch += 1
        if state.epoch % cfg.record_every == 0 or state.epoch == cfg.epochs:
            _record(cfg, state, train, test)
    return state


def _epochs_runner(cfg, n_visible, n_chains):
    """A function (train, state) -> None running one epoch in place, with its scratch allocated here, once."""
    M, N, B, k = cfg.n_hidden, n_visible, cfg.batch_size, cfg.pcd_steps
    exact_method = cfg.method == "exact"
    C = 0 if exact_method else n_chains
    potts = cfg.visible == "potts"
    q = cfg.q if potts else None
    dtype = np.float64 if exact_method else np.float32
    route = VIS_REAL if exact_method else visible_route(cfg.kind, M, C, k)
    lo, hi = binary_levels(cfg.kind)
    if potts:
        model = potts_model(M, N, q, route, dtype)
    else:
        model = spin_model(M, N, route, dtype)
    chains = chain_scratch(C, M, N, q)
    work = minibatch_scratch(B, C, M, N, q, cfg.learn_fields, exact_method, cfg.kind, dtype)
    epoch = epoch_potts if potts else epoch_spin

    def run(train, state):
        epoch(train, state.weights, state.visible_fields, state.theta, state.gamma, state.chains, state.rng,
              cfg.kind, lo, hi, route, cfg.learning_rate, B, k, cfg.learn_fields, cfg.learn_theta,
              exact_method, model, chains, work)

    return run


def chain_averages(W, g, theta, gamma, kind, chains, dtype=np.float32):
    """The PCD estimate of the model term at the chain states, computed as the updates compute it:
    (vh, v, dth) = (<v_i <h_mu | v>>, <v_i>, <-dU_mu/dtheta_mu>) averaged over the chains (one-hot
    [x_i = a] for Potts: vh (M, N, q), v (N, q)). W (M, N[, q]) float64; chains (C, N) int8."""
    M, N = W.shape[:2]
    C = chains.shape[0]
    potts = W.ndim == 3
    q = W.shape[2] if potts else None
    lo, hi = binary_levels(kind)
    X = minibatch_scratch(0, C, M, N, q, True, False, kind, dtype)
    X.rows[:, :N] = chains
    gamma = np.asarray(gamma, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    if potts:
        P = potts_model(M, N, q, VIS_REAL, dtype)
        load_potts_model(W, g, theta, lo, hi, VIS_REAL, P)
        hidden_inputs_potts(P, X.rows, X.I)
    else:
        P = spin_model(M, N, VIS_REAL, dtype)
        load_spin_model(W, g, theta, lo, hi, VIS_REAL, P)
        hidden_inputs_spin(P, X.rows, X.codes, X.I)
    row_weights(0, 0, C, X.w)
    X.w[:] = -X.w  # +1/C: averages
    hidden_means(kind, lo, hi, X.I, P.theta, gamma, X.w, True, X.dth)
    if potts:
        gradient_potts(X.rows, X.I, X.w, X.dWT)
        d = np.moveaxis(X.dWT.astype(np.float64), -1, 0)  # (M + 1, N, q)
    else:
        gradient_spin(X.rows, X.I, X.w, X.T, X.gcodes, X.gtab, X.dWT, X.dW)
        d = X.dW[:, :N].astype(np.float64)
    return d[:M], d[M], X.dth.copy()


# ---------------------------------------------------------------------------------------------
# jitted epochs

Minibatch = namedtuple("Minibatch", "rows w codes I T gcodes gtab dWT dW dth negW negg negth mscratch")
Minibatch.__doc__ = """Scratch of one parameter update: B batch rows, C chains, R = B + C rows, F working precision.

    rows     (R, Np) int8         the batch's data rows, then the persistent chains (rows[B:]); padding 0
    w        (R,) F               row weights (row_weights): data +1/batch, chains -1/C, unused rows 0
    codes    (R, Gv) uint8        visible block codes of the rows (spin visible; else (R, 0))
    I        (R, M) F             hidden inputs of the rows, then their means <h | I>
    T        (4 Gr, L) F          row weight times <h | I> (L = M, or M + 1 with the weight itself in the
                                  last column when fields are learned); rows >= R stay zero (Gr = n_groups(R));
                                  spin visible, M > DIRECT_MAX_HIDDEN (else empty)
    gcodes   (Gr, N) uint8        column codes of the rows (spin visible, M > DIRECT_MAX_HIDDEN; else empty)
    gtab     (Gr, 16, L) F        group_table(T, -1, 1) (idem)
    dWT      (N, L) F             sum_r T[r] (x) v_r by lookup (idem); Potts: (N, q, L), by scatter
    dW       (L, Np) F            the gradient of W (and of the fields, last row), spin visible
    dth      (M,) float64         gradient of theta
    negW, negg, negth             exact model term (method exact): (M, N[, q]), (N[, q]), (M,) float64
    mscratch (2^M, N + 1) float64 scratch of exact.moments_spin_into ((0, N + 1) when unused)
"""


def minibatch_scratch(B, C, M, N, q, learn_fields, exact_method, kind, dtype):
    """Allocate a Minibatch (q=None: spin visible units)."""
    R = B + C
    L = M + int(bool(learn_fields))
    gr = n_groups(R)
    spin = q is None
    lookup = spin and not direct_products(M)
    Np = padded_width(N)
    vis = (N,) if spin else (N, q)
    n_conf = (1 << M) if exact_method and spin and exact.moments_fit_in_scratch(M, N) else 0
    return Minibatch(
        rows=np.zeros((R, Np), np.int8), w=np.zeros(R, dtype), codes=np.zeros((R, n_groups(N) if spin else 0), np.uint8),
        I=np.zeros((R, M), dtype), T=np.zeros((4 * gr if lookup else 0, L), dtype),
        gcodes=np.zeros((gr if lookup else 0, N), np.uint8), gtab=np.zeros((gr if lookup else 0, 16, L), dtype),
        dWT=np.zeros((N if lookup or not spin else 0,) + vis[1:] + (L,), dtype),
        dW=np.zeros((L, Np) if spin else (0, 0), dtype), dth=np.zeros(M),
        negW=np.zeros((M,) + vis if exact_method else (0,) * (1 + len(vis))),
        negg=np.zeros(vis if exact_method else (0,) * len(vis)), negth=np.zeros(M if exact_method else 0),
        mscratch=np.zeros((n_conf, N + 1)))


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gather_batch(data, perm, start, stop, rows):
    """rows[b] = data[perm[start + b]] for b < stop - start: one short independent copy per row, so the
    cache misses of the shuffled rows overlap."""
    N = data.shape[1]
    for b in range(stop - start):
        src = data[perm[start + b]]
        dst = rows[b]
        for i in range(N):
            dst[i] = src[i]


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def row_weights(nb, B, C, w):
    """w[r] = 1/nb for the data rows r < nb, 0 for the unused rows nb <= r < B, -1/C for the chains (r >= B)."""
    for r in range(nb):
        w[r] = 1.0 / nb
    for r in range(nb, B):
        w[r] = 0.0
    for r in range(B, B + C):
        w[r] = -1.0 / C


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def hidden_means(kind, lo, hi, I, theta, gamma, w, learn_theta, dth):
    """I <- <h | I + theta> in place, and dth[mu] = sum_r w[r] <-dU_mu/dtheta_mu | I_r> (the theta gradient;
    left at zero when not learn_theta, except for one binary unit, where it comes with the means for free).

    I (R, M), theta (M,) and w (R,) in the working precision (float32 or float64); gamma (M,) float64;
    dth (M,) float64. Binary units: <h | I> = lo + (hi - lo) sigmoid((hi - lo)(I + theta)) (tanh for
    spins), which is also <-dU/dtheta | I>. Real-valued units: potentials.cgf_prime, one by one.
    """
    R, M = I.shape
    for mu in range(M):
        dth[mu] = 0.0
    if kind == pot.SPIN or kind == pot.BERNOULLI:
        d = cast_like(hi - lo, I)
        lo = cast_like(lo, I)
        flat = I.reshape(R * M)
        if M == 1:  # flat loops: no inner loop of one
            th = theta[0]
            acc = 0.0
            for r in range(R):
                m = lo + d * sigmoid_fast(d * (flat[r] + th))
                flat[r] = m
                acc += w[r] * m
            dth[0] = acc
            return
        zero_theta = True
        for mu in range(M):
            zero_theta = zero_theta and theta[mu] == 0
        if zero_theta:  # one flat loop (d (x + 0) = d x, so the same bits)
            for k in range(R * M):
                flat[k] = lo + d * sigmoid_fast(d * flat[k])
        else:
            for r in range(R):
                for mu in range(M):
                    I[r, mu] = d * (I[r, mu] + theta[mu])
            for k in range(R * M):
                flat[k] = lo + d * sigmoid_fast(flat[k])
        if not learn_theta:
            return
        for r in range(R):
            wr = w[r]
            x = I[r]
            for mu in range(M):
                dth[mu] += wr * x[mu]
        return
    for r in range(R):
        for mu in range(M):
            y = np.float64(I[r, mu])
            th = np.float64(theta[mu])
            if learn_theta:
                dth[mu] -= w[r] * pot.mean_dU_dtheta(kind, y, gamma[mu], th)
            I[r, mu] = pot.cgf_prime(kind, y, gamma[mu], th)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gradient_spin(rows, means, w, T, gcodes, gtab, dWT, dW):
    """dW[m, i] = sum_r w[r] means[r, m] v_r[i], v_r = rows[r] (+-1), with dW[M] = sum_r w[r] v_r when dW
    has M + 1 rows (fields). Direct, or (gtab not empty) by lookup over blocks of four rows: T (4 Gr, L)
    receives the weighted means (rows >= R stay zero), dWT (N, L) the product, then transposed."""
    if gtab.shape[0] == 0:
        accumulate_rows(means, w, rows, dW)
        return
    R, M = means.shape
    L, N = dW.shape
    for r in range(R):
        for m in range(M):
            T[r, m] = w[r] * means[r, m]
        if L > M:
            T[r, M] = w[r]
    column_codes(rows, R, gcodes)
    group_table(T, -1.0, 1.0, gtab)
    gather_columns(gtab, gcodes, dWT)
    transpose_into(dWT, dW)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def gradient_potts(rows, means, w, dWT):
    """dWT[i, a, m] = sum_r w[r] means[r, m] [x_r[i] = a] (x_r = rows[r]), with dWT[:, :, M] = sum_r w[r]
    [x_r[i] = a] when dWT has M + 1 columns: one scatter of a weighted row of means per site."""
    R = rows.shape[0]
    N = dWT.shape[0]
    M = means.shape[1]
    L = dWT.shape[2]
    dWT[:, :, :] = 0
    for r in range(R):
        if w[r] == 0:
            continue
        x = rows[r]
        if L == 1:
            t = w[r] * means[r, 0]
            for i in range(N):
                dWT[i, x[i], 0] += t
            continue
        for i in range(N):
            d = dWT[i, x[i]]
            for m in range(M):
                d[m] += w[r] * means[r, m]
            if L > M:
                d[M] += w[r]


@njit(cache=True, fastmath=False)
def copy_chains(state_chains, rows, B, into_rows):
    """Copy the persistent chains between the state (C, N) and rows[B:] (into_rows: state -> rows)."""
    C, N = state_chains.shape
    for c in range(C):
        if into_rows:
            rows[B + c, :N] = state_chains[c]
        else:
            state_chains[c] = rows[B + c, :N]


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def epoch_spin(data, W, g, theta, gamma, chains, s, kind, lo, hi, route, lr, B, k, learn_g, learn_theta,
               exact_method, P, S, X):
    """One epoch of training, spin visible units, in place on W (M, N), g (N,), theta (M,) (float64),
    the persistent chains (C, N) int8 and the scalar stream s; P, S, X: SpinModel, ChainScratch,
    Minibatch (see minibatch_scratch). lo, hi: binary_levels; route: visible_route."""
    n, N = data.shape
    M = W.shape[0]
    C = chains.shape[0]
    perm = permutation(s, n)
    lanes = lanes_from_stream(s)
    load_spin_model(W, g, theta, lo, hi, route, P)
    copy_chains(chains, X.rows, B, True)
    for start in range(0, n, B):
        stop = min(start + B, n)
        nb = stop - start
        gather_batch(data, perm, start, stop, X.rows)
        if not exact_method:
            gibbs_sweeps_spin(P, kind, gamma, theta, lo, hi, route, X.rows[B:], k, s, lanes, S)
        hidden_inputs_spin(P, X.rows, X.codes, X.I)
        row_weights(nb, B, C, X.w)
        hidden_means(kind, lo, hi, X.I, P.theta, gamma, X.w, learn_theta, X.dth)
        gradient_spin(X.rows, X.I, X.w, X.T, X.gcodes, X.gtab, X.dWT, X.dW)
        if exact_method:
            exact.moments_spin_into(W, g, theta, kind, X.negW, X.negg, X.negth, X.mscratch)
        for mu in range(M):
            for i in range(N):
                W[mu, i] += lr * X.dW[mu, i]
        if learn_g:
            for i in range(N):
                g[i] += lr * X.dW[M, i]
        if learn_theta:
            for mu in range(M):
                theta[mu] += lr * X.dth[mu]
        if exact_method:
            for mu in range(M):
                for i in range(N):
                    W[mu, i] -= lr * X.negW[mu, i]
            if learn_g:
                for i in range(N):
                    g[i] -= lr * X.negg[i]
            if learn_theta:
                for mu in range(M):
                    theta[mu] -= lr * X.negth[mu]  # -dU/dtheta = h for binary units
        load_spin_model(W, g, theta, lo, hi, route, P)
    copy_chains(chains, X.rows, B, False)


@njit(cache=True, fastmath=False)
def gauge(a):
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


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def epoch_potts(data, W, g, theta, gamma, chains, s, kind, lo, hi, route, lr, B, k, learn_g, learn_theta,
                exact_method, P, S, X):
    """One epoch of training, Potts visible units: as epoch_spin with W (M, N, q), g (N, q) and a PottsModel."""
    n, N = data.shape
    M, _, q = W.shape
    C = chains.shape[0]
    perm = permutation(s, n)
    lanes = lanes_from_stream(s)
    load_potts_model(W, g, theta, lo, hi, route, P)
    copy_chains(chains, X.rows, B, True)
    for start in range(0, n, B):
        stop = min(start + B, n)
        nb = stop - start
        gather_batch(data, perm, start, stop, X.rows)
        if not exact_method:
            gibbs_sweeps_potts(P, kind, gamma, theta, lo, hi, route, X.rows[B:], k, s, lanes, S)
        hidden_inputs_potts(P, X.rows, X.I)
        row_weights(nb, B, C, X.w)
        hidden_means(kind, lo, hi, X.I, P.theta, gamma, X.w, learn_theta, X.dth)
        gradient_potts(X.rows, X.I, X.w, X.dWT)
        if exact_method:
            exact.moments_potts(W, g, theta, kind, X.negW, X.negg, X.negth)
        for mu in range(M):
            for i in range(N):
                for a in range(q):
                    W[mu, i, a] += lr * X.dWT[i, a, mu]
                    if exact_method:
                        W[mu, i, a] -= lr * X.negW[mu, i, a]
        gauge(W)
        if learn_g:
            for i in range(N):
                for a in range(q):
                    g[i, a] += lr * X.dWT[i, a, M]
                    if exact_method:
                        g[i, a] -= lr * X.negg[i, a]
            gauge(g)
        if learn_theta:
            for mu in range(M):
                theta[mu] += lr * X.dth[mu]
                if exact_method:
                    theta[mu] -= lr * X.negth[mu]
        load_potts_model(W, g, theta, lo, hi, route, P)
    copy_chains(chains, X.rows, B, False)
