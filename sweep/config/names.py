"""The store's vocabulary: the names of its per-cell dimensions and of its variables.

Grid coordinates share one namespace with these names in the store (and in the xarray Dataset that opens
it), so a grid key may never be named like one of them (sweep.config.grid refuses or renames it). Kept apart from
the store so that the grid, the cell and the store read one list without importing each other.
"""

PER_CELL_DIMS = ("epoch", "hidden", "visible", "state")
"""The dimensions a cell's own arrays have after the grid dimensions."""

TRAJECTORY_VARIABLES = ("weights", "visible_fields", "hidden_theta", "hidden_gamma", "loglik_train", "loglik_test")
"""Variables of a trained cell (over epoch, hidden, visible[, state])."""

STATISTICS_VARIABLES = ("top_eigenvalue", "top_mode_weight")
"""Variables of a `train.method: statistics` cell (no RBM), scalars per cell."""

TABLE_VARIABLES = ("status", "attempts", "wall_time", "host", "error", "provenance", "cell_data_seed",
                   "cell_train_seed")
"""The cell table, written by the driver: one value per cell."""

DIGEST = "chunk_digest"
DIGEST_DIM = "variable"
"""The cell table's digests of each cell's data chunks [grid..., variable] (sweep.store.layout; stores written before
them have neither), and their dimension, whose coordinate names the data variables."""

STORE_NAMES = frozenset(PER_CELL_DIMS + TRAJECTORY_VARIABLES + STATISTICS_VARIABLES + TABLE_VARIABLES
                        + (DIGEST, DIGEST_DIM))
"""Every name the store uses for itself; no grid coordinate may take one."""

REPLICA_DIMS = ("seed", "train_seed", "data_seed")
"""Grid dimensions of replicas (train.seed alone, or train.seed and data.seed together): observables average over
them, maps and tables aggregate them."""

VARIABLE_ATTRS = {  # CF attributes of every variable, in a cell's Dataset and in the store
    "weights": {"long_name": "RBM weights w_{i mu}(v_i)"},
    "visible_fields": {"long_name": "visible fields g_i(v_i)"},
    "hidden_theta": {"long_name": "hidden potential theta (the hidden field of spin/bernoulli/gaussian units)"},
    "hidden_gamma": {"long_name": "hidden potential gamma"},
    "loglik_train": {"long_name": "exact mean log-likelihood of the training set", "units": "nats per sample"},
    "loglik_test": {"long_name": "exact mean log-likelihood of the test set", "units": "nats per sample"},
    "top_eigenvalue": {"long_name": "top eigenvalue of the data correlation matrix"},
    "top_mode_weight": {"long_name": "weight of the top eigenvector on the signal modes "
                                     "(lowest Fourier modes |k| <= 3 for Ising; uniform first angular harmonic for XY)"},
}


def variable_dims(potts: bool) -> dict:
    """The per-cell dimensions of each trajectory variable (`state` for Potts visible units)."""
    vis = ("visible", "state") if potts else ("visible",)
    return {"weights": ("epoch", "hidden") + vis, "visible_fields": ("epoch",) + vis,
            "hidden_theta": ("epoch", "hidden"), "hidden_gamma": ("epoch", "hidden"),
            "loglik_train": ("epoch",), "loglik_test": ("epoch",)}
