"""Training loop: determinism, checkpoint/resume, recording, learning, and the place-field transition."""

import numpy as np
import pytest

import kernels
from kernels.train import TrainConfig, TrainState, exact_loglik, fit


def localization(w):
    """R = |sum_i w_i^2 exp(i phi_i)| / sum_i w_i^2 (docs/physics.md section 5), for one weight vector."""
    phi = 2 * np.pi * np.arange(w.shape[-1]) / w.shape[-1]
    w2 = w ** 2
    return np.abs((w2 * np.exp(1j * phi)).sum(-1)) / w2.sum(-1)


def _assert_same_state(a, b):
    for key, x in a.to_arrays().items():
        y = b.to_arrays()[key]
        assert x.dtype == y.dtype and x.shape == y.shape, key
        assert np.array_equal(x, y, equal_nan=True), key


CONFIGS = {
    "spin-exact": (TrainConfig(method="exact", n_hidden=2, epochs=6, batch_size=50, record_every=2,
                               fields="learned"), "ising"),
    "spin-pcd": (TrainConfig(method="pcd", pcd_steps=3, n_hidden=2, epochs=6, batch_size=50,
                             hidden="double_well", gamma=2.0, theta=-1.0), "ising"),
    "potts-pcd": (TrainConfig(visible="potts", q=4, method="pcd", pcd_steps=2, n_hidden=2, epochs=6,
                              batch_size=40, hidden="gaussian", fields="learned"), "xy"),
    "potts-exact": (TrainConfig(visible="potts", q=4, method="exact", hidden="bernoulli", n_hidden=2,
                                epochs=6, batch_size=40, record_every=3), "xy"),
}


def _data(model, n, N=12, seed=0):
    if model == "ising":
        return kernels.sample_ising(n, N, 0.8, seed)
    return kernels.sample_xy(n, N, 4, 1.0, seed)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_resume_is_bit_identical(name):
    cfg, model = CONFIGS[name]
    train, test = _data(model, 300), _data(model, 60, seed=1)
    full = fit(cfg, train, test, seed=5)
    half = fit(cfg, train, test, seed=5, stop_epoch=3)
    assert half.epoch == 3
    # the checkpoint goes through plain arrays, as a store would keep it
    restored = TrainState.from_arrays({k: np.copy(v) for k, v in half.to_arrays().items()})
    resumed = fit(cfg, train, test, seed=5, state=restored)
    assert resumed.epoch == cfg.epochs
    _assert_same_state(full, resumed)
    # stopping twice more is no different
    again = fit(cfg, train, test, seed=5, state=fit(cfg, train, test, seed=5, state=half, stop_epoch=4))
    _assert_same_state(full, again)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_seed_same_bits_other_seed_other_bits(name):
    cfg, model = CONFIGS[name]
    train = _data(model, 200)
    a, b, c = fit(cfg, train, seed=1), fit(cfg, train, seed=1), fit(cfg, train, seed=2)
    _assert_same_state(a, b)
    assert not np.array_equal(a.weights, c.weights)


def test_recording_schedule_and_shapes():
    cfg = TrainConfig(method="exact", n_hidden=3, epochs=7, record_every=3, batch_size=20)
    st = fit(cfg, _data("ising", 100), _data("ising", 40, seed=3), seed=0)
    tr = st.trajectory()
    assert tr["epoch"].tolist() == [0, 3, 6, 7]  # every 3 epochs, and the last one
    assert tr["weights"].shape == (4, 3, 12)
    assert tr["visible_fields"].shape == (4, 12) and np.all(tr["visible_fields"] == 0)
    assert tr["theta"].shape == (4, 3) and np.all(tr["theta"] == 0)
    assert np.all(np.isfinite(tr["loglik_train"])) and np.all(np.isfinite(tr["loglik_test"]))
    # epoch 0 holds the initial weights: small Gaussian of the configured std
    assert 0.003 < tr["weights"][0].std() < 0.02
    assert cfg.n_records() == 4
    # resumed in pieces (as checkpointing does): the same records, the same bits
    half = fit(cfg, _data("ising", 100), _data("ising", 40, seed=3), seed=0, stop_epoch=5)
    whole = fit(cfg, _data("ising", 100), _data("ising", 40, seed=3), seed=0, state=half)
    assert whole.trajectory()["epoch"].tolist() == [0, 3, 6, 7]
    np.testing.assert_array_equal(whole.trajectory()["weights"], tr["weights"])


def test_pcd_without_exact_path_records_nan_loglik():
    cfg = TrainConfig(hidden="gaussian", method="pcd", pcd_steps=1, epochs=2, batch_size=20)
    tr = fit(cfg, _data("ising", 60), seed=0).trajectory()
    assert np.all(np.isnan(tr["loglik_train"]))


@pytest.mark.parametrize("method", ["exact", "pcd"])
def test_training_increases_exact_loglik(method):
    cfg = TrainConfig(method=method, pcd_steps=5, n_hidden=2, epochs=15, batch_size=50,
                      learning_rate=0.05, fields="learned", init_std=0.01)
    train = _data("ising", 2000, N=10)
    test = _data("ising", 2000, N=10, seed=9)
    st = fit(cfg, train, test, seed=3)
    ll = st.trajectory()["loglik_test"]
    assert ll[-1] > ll[0] + 0.1
    # the independent-site model (all weights zero) has log-likelihood -N log 2 on this unbiased data
    assert ll[-1] > -10 * np.log(2) + 0.1


def test_potts_gauge_is_kept():
    cfg, model = CONFIGS["potts-pcd"]
    st = fit(cfg, _data(model, 200), seed=0)
    np.testing.assert_allclose(st.weights.sum(-1), 0.0, atol=1e-12)
    np.testing.assert_allclose(st.visible_fields.sum(-1), 0.0, atol=1e-12)


def test_bad_inputs_are_refused():
    cfg = TrainConfig(batch_size=500)
    with pytest.raises(ValueError, match="batch_size 500 is larger"):
        fit(cfg, _data("ising", 100), seed=0)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        fit(TrainConfig(), np.zeros((200, 10), dtype=np.int8), seed=0)
    with pytest.raises(ValueError, match="0..3"):
        fit(TrainConfig(visible="potts", q=4), np.full((200, 10), 4, dtype=np.int8), seed=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=0)
    with pytest.raises(ValueError, match="hidden must be one of"):
        TrainConfig(hidden="relu")


def test_place_field_emerges_above_and_not_below_the_transition():
    """N = 100 Ising data, one hidden unit: beta = 1.0 with 1e4 samples localizes (R > 0.8);
    beta = 0.1 with 300 samples overfits noise (R < 0.35)."""
    cfg = TrainConfig(method="exact", n_hidden=1, batch_size=100, learning_rate=0.05, init_std=0.001,
                      epochs=60, record_every=60)
    data = kernels.sample_ising(10_000, 100, 1.0, 1)
    R_hi = localization(fit(cfg, data, seed=0).weights[0])
    cfg_lo = TrainConfig(method="exact", n_hidden=1, batch_size=100, learning_rate=0.05, init_std=0.001,
                         epochs=2000, record_every=2000)
    R_lo = [localization(fit(cfg_lo, kernels.sample_ising(300, 100, 0.1, s), seed=s).weights[0])
            for s in range(3)]
    assert R_hi > 0.8
    assert max(R_lo) < 0.35
