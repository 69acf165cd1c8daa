"""Integer NCG learning core: contract tables, agreement with the float reference, randomness."""

from dataclasses import replace

import numpy as np
import pytest

from spikesmith.sim import ncg, ncg_learning
from spikesmith.sim import ncg_reference as ref
from spikesmith.sim.encoders import EncoderParams, Encoding, encode
from spikesmith.sim.fixed import FixedFormat, Rounding
from spikesmith.sim.lfsr import LFSR24, jump_columns, lfsr_draws
from spikesmith.sim.ncg_random import draw_block, lane_seeds
from spikesmith.sim.ncg_types import (
    ClassMap,
    Method,
    NCGConfig,
    Rates,
    Regulation,
    WeightNorm,
)

FLOOR8 = FixedFormat(9, 8, signed=False, rounding=Rounding.FLOOR)
STOCH8 = FixedFormat(9, 8, signed=False, rounding=Rounding.STOCHASTIC)


def small_params(**kw):
    cfg = NCGConfig(n_inputs=5, class_map=ClassMap(2, 2, 0), threshold=1.0, t_gap=0.25,
                    a_plus=0.25, a_minus=-0.5, thr_lr=1.0, w_norm=False)
    cfg = replace(cfg, **{k: v for k, v in kw.items() if hasattr(cfg, k)})
    pk = {k: v for k, v in kw.items() if not hasattr(cfg, k)}
    pk.setdefault("time_bins", 16)
    pk.setdefault("weight_format", FLOOR8)
    return ncg.NCGParams(cfg, **pk)


W_EXACT = np.array(
    [[0.5, 0.25, 0.25, 0.5, 0.0],
     [0.75, 0.5, 0.0, 0.25, 0.0],
     [0.25, 0.25, 0.75, 0.0, 0.0],
     [0.5, 0.375, 0.125, 0.5, 0.0]], dtype=np.float32)
BINS = np.array([0, 2, 4, 16, 15])  # input 3 silent; input 4 (weight 0) is the last spike


def exact_states(params):
    fst = ref.init_state(params.config, seed=0)
    fst = replace(fst, weights=W_EXACT.copy(), norm_target=W_EXACT.sum(axis=1))
    return fst, ncg.quantize_state(fst, params, seed=1)


# --- coding and forward ------------------------------------------------------------------

def test_latency_bins_match_the_latency_encoder():
    x = np.array([[0, 1, 17, 128, 254, 255]])
    for k in (8, 256):
        spikes = encode(x, EncoderParams(Encoding.LATENCY), timesteps=k)[:, 0, :]
        expect = np.where(spikes.any(axis=0), spikes.argmax(axis=0), k)
        assert ncg.latency_bins(x[0], time_bins=k).tolist() == expect.tolist()


def test_events_are_ordered_by_bin_then_feature():
    feats, bins = ncg.events(np.array([3, 1, 8, 1, 0]), time_bins=8)
    assert feats.tolist() == [4, 1, 3, 0]
    assert bins.tolist() == [0, 1, 1, 3]


def test_forward_integer_table():
    t, v = ncg.forward(np.rint(W_EXACT * 256).astype(np.int64), np.full(4, 256), BINS,
                       time_bins=16)
    assert t.tolist() == [16, 2, 4, 16]
    assert v.tolist() == [256, 320, 320, 256]


def test_forward_checks_after_the_last_bin_unlike_the_float_code():
    w = np.array([[128, 154]])
    t, v = ncg.forward(w, np.array([256]), np.array([1, 3]), time_bins=4)
    assert (t.tolist(), v.tolist()) == ([3], [282])
    tf, _ = ref.forward(w.astype(np.float32) / 256, np.float32([1.0]), np.float32([0.25, 0.75]))
    assert tf.tolist() == [1.0]


# --- agreement with the float reference where quantisation is exact -----------------------

@pytest.mark.parametrize("method", [Method.S2STDP, Method.SSTDP])
def test_train_step_equals_float_reference_on_exact_case(method):
    p = small_params(regulation=Regulation.CR2, method=method)
    fst, ist = exact_states(p)
    times = np.where(BINS < 16, BINS / 16, 1.0).astype(np.float32)
    f2, ftr = ref.train_step(fst, times, 0, config=p.config)
    i2, itr = ncg_learning.train_step(ist, BINS, 0, params=p)
    assert (ftr.times * 16).astype(np.int64).tolist() == itr.bins.tolist()
    assert (ftr.potentials * 256).astype(np.int64).tolist() == itr.potentials.tolist()
    assert (ftr.errors * 4096).astype(np.int64).tolist() == itr.errors.tolist()
    assert itr.updated.tolist() == ftr.updated.tolist() == [1, 2]
    assert (f2.weights * 256).astype(np.int64).tolist() == i2.weights.tolist()
    assert (f2.thresholds_train * 256).astype(np.int64).tolist() == i2.thresholds_train.tolist()
    assert ftr.prediction == itr.prediction


def test_integer_errors_table():
    p = small_params()
    err = ncg_learning.s2stdp_errors(np.array([3, 1, 2, 16]), np.zeros(4, np.int64), 0, params=p)
    # winners 1 (bin 1) and 2 (bin 2): t_base = floor((256 + 512) / 2) = 384;
    # g_t = g_nt = 0.125 * 4096 = 512; neuron 1: 256 - (384 - 512); neuron 2: 512 - 896
    assert err.tolist() == [0, 384, -384, 0]
    err = ncg_learning.s2stdp_errors(np.array([1, 2, 16, 16]), np.array([0, 0, 5, 9]), 1, params=p)
    # t_base = floor((256 + 512 * 0 + ...)): winners 0 (bin 1) and 3 (no spike, larger V)
    assert err.tolist() == [256 - (256 + 512), 0, 0, 4096 - (256 - 512)]


def test_program_rates_eta_registers():
    cfg = NCGConfig(n_inputs=4, class_map=ClassMap(10, 5, 1), threshold=25.0, thr_lr=10.0)
    p = ncg.NCGParams(cfg)
    r = ncg.program_rates(Rates(0.05, -0.1, -0.05, 0.1, 10.0), p)
    assert (r.eta_win, r.eta_lose) == (30720, 10240)  # 7.5 and 2.5 in 2**-12 units
    assert (r.a_plus, r.a_minus, r.anti_a_plus, r.anti_a_minus) == (3277, -6554, -3277, 6554)
    assert (p.threshold, p.gaps) == (102400, (111, 12))


# --- update rows: rounding, draws, normalisation -----------------------------------------

def test_update_rows_draw_order_matches_explicit_lane_loop():
    cfg = NCGConfig(n_inputs=11, class_map=ClassMap(2, 1, 0), threshold=1.0, w_norm=False)
    p = ncg.NCGParams(cfg, time_bins=16, weight_format=STOCH8, lanes=4)
    rng = np.random.default_rng(0)
    w = rng.integers(30, 200, size=(2, 11))
    in_bins = rng.integers(0, 17, size=11)
    out_bins = np.array([7, 16])
    err = np.array([300, -1000])
    rates = ncg.program_rates(Rates(0.05, -0.1, -0.05, 0.1, 0.0), p)
    lfsr = lane_seeds(LFSR24, seed=9, lanes=5)
    got, lfsr2 = ncg_learning.update_rows(w, w.sum(axis=1), np.array([0, 1]), in_bins, out_bins,
                                          err, lfsr, params=p, rates=rates)
    # explicit: row u, lane l serves synapses l, l+4, l+8 (3 draws per row, padding included)
    states = lfsr[:4].copy()
    expect = w.copy()
    for u in range(2):
        a = (rates.a_plus, rates.a_minus) if err[u] > 0 else (rates.anti_a_plus,
                                                               rates.anti_a_minus)
        for g in range(3):
            for lane in range(4):
                d, s = lfsr_draws(states[lane:lane + 1], LFSR24)
                states[lane] = s[0]
                i = g * 4 + lane
                if i >= 11:
                    continue
                rate = a[0] if in_bins[i] <= out_bins[u] else a[1]
                dd = (abs(int(err[u])) * rate) >> (12 + 16 - 8 - 8)
                expect[u, i] = min(max(w[u, i] + ((dd + int(d[0])) >> 8), 0), 256)
    assert got.tolist() == expect.tolist()
    assert lfsr2[:4].tolist() == states.tolist()
    assert lfsr2[4] == lfsr[4]


def test_stochastic_rounding_is_unbiased():
    f = 8192
    cfg = NCGConfig(n_inputs=f, class_map=ClassMap(2, 1, 0), threshold=1.0, w_norm=False)
    p = ncg.NCGParams(cfg, time_bins=16, weight_format=STOCH8, lanes=8)
    rates = ncg.NCGRates(a_plus=77, a_minus=-77, anti_a_plus=-77, anti_a_minus=77,
                         eta_win=0, eta_lose=0)
    w = np.full((2, f), 128)
    # |e| = 2**12 (1.0): d = 77 * 2**12 >> 12 = 77 ext units = 77/256 LSB
    new, _ = ncg_learning.update_rows(w, w.sum(axis=1), np.array([0]), np.zeros(f, np.int64),
                             np.array([16, 16]), np.array([4096, 0]),
                             lane_seeds(LFSR24, seed=3, lanes=9), params=p, rates=rates)
    dw = new[0] - 128
    assert set(np.unique(dw).tolist()) == {0, 1}
    assert dw.mean() == pytest.approx(77 / 256, abs=0.02)
    floor = ncg_learning.update_rows(w, w.sum(axis=1), np.array([0]), np.zeros(f, np.int64),
                            np.array([16, 16]), np.array([4096, 0]), np.ones(9, np.int64),
                            params=replace(p, weight_format=FLOOR8), rates=rates)[0]
    assert (floor[0] == 128).all()  # floor rounding loses every sub-LSB update


def test_additive_normalisation_holds_the_row_sum():
    f = 64
    cfg = NCGConfig(n_inputs=f, class_map=ClassMap(2, 1, 0), threshold=1.0)
    rates = ncg.NCGRates(a_plus=3000, a_minus=-6000, anti_a_plus=-3000, anti_a_minus=6000,
                         eta_win=0, eta_lose=0)
    w = np.full((2, f), 77)
    in_bins = np.arange(f) % 17
    args = (w, w.sum(axis=1), np.array([0]), in_bins, np.array([5, 16]), np.array([2000, 0]),
            lane_seeds(LFSR24, seed=1, lanes=9))
    for norm in (WeightNorm.ADDITIVE, WeightNorm.MULTIPLICATIVE):
        p = ncg.NCGParams(cfg, time_bins=16, weight_format=FLOOR8, norm=norm)
        new, _ = ncg_learning.update_rows(*args, params=p, rates=rates)
        assert abs(int(new[0].sum()) - 77 * f) < f  # floor rounding: < 1 LSB per synapse
        assert new[0].tolist() != w[0].tolist()
    p = ncg.NCGParams(replace(cfg, w_norm=False), time_bins=16, weight_format=FLOOR8)
    new, _ = ncg_learning.update_rows(*args, params=p, rates=rates)
    assert int(new[0].sum()) - 77 * f < -f


# --- randomness helpers ------------------------------------------------------------------

def test_draw_block_equals_repeated_lfsr_draws():
    s = lane_seeds(LFSR24, seed=5, lanes=3)
    vals, new = draw_block(s, LFSR24, draws=40)
    st = s.copy()
    for k in range(40):
        d, st = lfsr_draws(st, LFSR24)
        assert vals[:, k].tolist() == d.tolist()
    assert new.tolist() == st.tolist()


def test_lane_seeds_are_evenly_spread_and_jump_zero_is_identity():
    s = lane_seeds(LFSR24, seed=0, lanes=4)
    assert s[0] == 1
    step = jump_columns(LFSR24, LFSR24.period // 4)
    assert int(np.bitwise_xor.reduce(((s[0] >> np.arange(24)) & 1) * step)) == s[1]
    assert jump_columns(LFSR24, 0).tolist() == [1 << b for b in range(24)]
    assert len(set(s.tolist())) == 4


# --- epochs, determinism, dropout --------------------------------------------------------

def toy_data(n=24, f=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, f))
    x[x < 80] = 0
    return x, rng.integers(0, 3, n)


def test_train_epoch_is_deterministic_for_a_seed():
    x, y = toy_data()
    cfg = NCGConfig(n_inputs=16, class_map=ClassMap(3, 3, 1), threshold=2.0, thr_lr=0.5)
    p = ncg.NCGParams(cfg, time_bins=32)
    bins = ncg.latency_bins(x, time_bins=32)
    a, acc_a = ncg_learning.train_epoch(ncg.init_state(p, seed=4), bins, y, params=p)
    b, acc_b = ncg_learning.train_epoch(ncg.init_state(p, seed=4), bins, y, params=p)
    c, _ = ncg_learning.train_epoch(ncg.init_state(p, seed=5), bins, y, params=p)
    assert a.weights.tolist() == b.weights.tolist()
    assert a.thresholds_train.tolist() == b.thresholds_train.tolist()
    assert acc_a == acc_b
    assert a.weights.tolist() != c.weights.tolist()
    assert a.epoch == 1


def test_dropout_draws_one_value_per_neuron_from_the_last_register():
    x, y = toy_data()
    cfg = NCGConfig(n_inputs=16, class_map=ClassMap(3, 2, 1), threshold=2.0,
                    regulation=Regulation.DROPOUT, dropout=0.5, method=Method.RSTDP)
    p = ncg.NCGParams(cfg, time_bins=32)
    st = ncg.init_state(p, seed=0)
    st2, tr = ncg_learning.train_step(st, ncg.latency_bins(x[0], time_bins=32), int(y[0]), params=p)
    draws, _ = draw_block(st.lfsr[-1:], LFSR24, draws=6)
    assert tr.active.tolist() == (draws[0] >= 128).tolist()
    assert (tr.bins[~tr.active] == 32).all()
    assert tr.updated.size == 1  # R-STDP: only the global winner
    assert st2.lfsr[-1] == draw_block(st.lfsr[-1:], LFSR24, draws=6)[1][0]


def test_rstdp_epoch_rates_follow_last_accuracy():
    x, y = toy_data()
    cfg = NCGConfig(n_inputs=16, class_map=ClassMap(3, 1, 0), threshold=2.0,
                    method=Method.RSTDP, regulation=Regulation.NONE, a_plus=0.05)
    p = ncg.NCGParams(cfg, time_bins=32)
    st, acc = ncg_learning.train_epoch(ncg.init_state(p, seed=0),
                                       ncg.latency_bins(x, time_bins=32), y, params=p)
    st = ncg_learning.start_epoch(st, params=p)
    assert st.rates.a_plus == round(0.05 * 0.98 * (1 - acc) * 65536)


def test_params_errors_name_the_value():
    cfg = NCGConfig(n_inputs=4, class_map=ClassMap(2, 1, 0), threshold=1.0)
    with pytest.raises(ValueError, match="time_bins must be a power of two in 2..65536, not 12"):
        ncg.NCGParams(cfg, time_bins=12)
    with pytest.raises(ValueError, match="time_frac must be in log2"):
        ncg.NCGParams(cfg, time_bins=256, time_frac=4)
    with pytest.raises(ValueError, match="weight_format must be an unsigned FixedFormat"):
        ncg.NCGParams(cfg, weight_format=FixedFormat(9, 8))
    with pytest.raises(ValueError, match=r"must hold \[w_min, w_max\] = \[0, 256\]"):
        ncg.NCGParams(cfg, weight_format=FixedFormat(8, 8, signed=False))
    with pytest.raises(ValueError, match="weight_format rounding must be one of "
                                         r"\['stochastic', 'floor', 'half_even'\], not 'half_up'"):
        ncg.NCGParams(cfg, weight_format=FixedFormat(9, 8, signed=False,
                                                     rounding=Rounding.HALF_UP))
    with pytest.raises(ValueError, match="image intensities must lie in 0..255"):
        ncg.latency_bins(np.array([256]), time_bins=8)
