"""NCGCore in Verilator (cocotb runner, free-running harness) in lockstep with sim.ncg.

After every training sample every weight, every training threshold and every LFSR register of
the RTL must equal the golden model (and every neuron's spike bin and potential, and the
prediction, of every sample); then the predictions on the test split must be equal. Builds are
cached under ``build/rtl/ncg_core/<hash of the Verilog>``; hypothesis varies the values
(thresholds, rates, gaps, weights, samples) on already-built structures.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.datasets import split_80_20
from spikesmith.learn import default_config, run_learning
from spikesmith.learn_run import verify_learning_on_rtl
from spikesmith.sim import ncg, ncg_learning
from spikesmith.sim.fixed import FixedFormat, Rounding
from spikesmith.sim.ncg_types import ClassMap, Method, NCGConfig, Regulation
from spikesmith.verification.ncg import run_lockstep

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "ncg_core"
N_TRAIN = 300


@cache
def _data(dataset: str, time_bins: int):
    x_tr, y_tr, x_te, y_te = split_80_20(dataset)
    return (ncg.latency_bins(x_tr, time_bins=time_bins), y_tr,
            ncg.latency_bins(x_te, time_bins=time_bins), y_te)


def _dataset_params(dataset: str, m: int) -> ncg.NCGParams:
    return ncg.NCGParams(default_config(dataset=dataset, neurons_per_class=m))


@pytest.mark.parametrize(("dataset", "m", "n_test"), [
    ("digits", 5, None), ("digits", 1, None), ("mnist5k", 5, 100), ("mnist5k", 1, 100),
])
def test_dataset_lockstep(dataset, m, n_test):
    params = _dataset_params(dataset, m)
    b_tr, y_tr, b_te, y_te = _data(dataset, params.time_bins)
    n_test = b_te.shape[0] if n_test is None else n_test
    state = ncg_learning.start_epoch(ncg.init_state(params, seed=0), params=params)
    rep = run_lockstep(params=params, state=state, train_samples=(b_tr[:N_TRAIN], y_tr[:N_TRAIN]),
                       test_samples=(b_te[:n_test], y_te[:n_test]), build_root=BUILD)
    assert rep.first_mismatch is None
    assert rep.mismatches == 0
    assert rep.samples_checked == N_TRAIN
    assert rep.test_samples == n_test
    assert rep.rtl_test_accuracy == rep.golden_test_accuracy
    # the run really learned: weights moved, and (M = 5) the regulation moved thresholds
    assert not np.array_equal(rep.final_state.weights, state.weights)
    if m > 1:
        assert not np.array_equal(rep.final_state.thresholds_train, state.thresholds_train)
    assert rep.cycles_per_train_sample > rep.cycles_per_infer_sample > 0


def _perturb_weight(s: ncg.NCGState) -> ncg.NCGState:
    w = s.weights.copy()
    w[7, 3] += 1
    return replace(s, weights=w)


def _perturb_a_plus(s: ncg.NCGState) -> ncg.NCGState:
    return replace(s, rates=replace(s.rates, a_plus=s.rates.a_plus + 64))


def _perturb_eta(s: ncg.NCGState) -> ncg.NCGState:
    return replace(s, rates=replace(s.rates, eta_win=s.rates.eta_win + 1))


@pytest.mark.parametrize(("perturb", "expect"), [
    (_perturb_weight, "training sample 0"),
    (_perturb_a_plus, "weight expected"),
    (_perturb_eta, "training threshold expected"),
])
def test_perturbed_reference_is_reported(perturb, expect):
    params = _dataset_params("digits", 5)
    b_tr, y_tr, _, _ = _data("digits", params.time_bins)
    state = ncg_learning.start_epoch(ncg.init_state(params, seed=0), params=params)
    rep = run_lockstep(params=params, state=state, train_samples=(b_tr[:20], y_tr[:20]),
                       build_root=BUILD, reference=perturb)
    assert rep.mismatches > 0
    assert expect in rep.first_mismatch


# structures for randomised values: the digits M = 5 build, and a small build with the other
# rule, dropout, half-even rounding, no normalisation and two lanes
def _small_config(**values) -> NCGConfig:
    return NCGConfig(n_inputs=10, class_map=ClassMap(3, 2, 0), method=Method.RSTDP,
                     regulation=Regulation.DROPOUT, dropout=0.2, class_wta=False,
                     w_norm=False, **values)


def _small_params(cfg: NCGConfig) -> ncg.NCGParams:
    return ncg.NCGParams(cfg, time_bins=16, lanes=2, time_frac=8, rate_frac=12,
                         weight_format=FixedFormat(9, 8, signed=False,
                                                   rounding=Rounding.HALF_EVEN))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    small=st.booleans(),
    threshold=st.floats(0.2, 12.0),
    t_gap=st.floats(0.0, 0.3),
    a_plus=st.floats(0.001, 0.5),
    a_minus=st.floats(-0.5, -0.001),
    thr_lr=st.floats(0.0, 2.0),
    w_mean=st.floats(0.05, 0.95),
    w_std=st.floats(0.0, 0.3),
    seed=st.integers(0, 2**16),
    density=st.floats(0.05, 1.0),
)
def test_random_values_lockstep(small, threshold, t_gap, a_plus, a_minus, thr_lr, w_mean,
                                w_std, seed, density):
    values = {"threshold": threshold, "t_gap": t_gap, "a_plus": a_plus, "a_minus": a_minus,
              "thr_lr": thr_lr, "w_init_mean": w_mean, "w_init_std": w_std}
    if small:
        params = _small_params(_small_config(**values))
    else:
        base = default_config(dataset="digits", neurons_per_class=5)
        params = ncg.NCGParams(replace(base, **values))
    cfg = params.config
    rng = np.random.default_rng(seed)
    n = 24
    k = params.time_bins
    bins = rng.integers(0, k, size=(n, cfg.n_inputs))
    bins[rng.random(bins.shape) > density] = k
    labels = rng.integers(0, cfg.class_map.n_classes, size=n)
    state = ncg_learning.start_epoch(ncg.init_state(params, seed=seed), params=params)
    # training thresholds off the test thresholds, as mid-epoch
    thr_t = state.thresholds_train + rng.integers(0, 64, size=state.thresholds_train.shape)
    state = replace(state, thresholds_train=thr_t)
    rep = run_lockstep(params=params, state=state, train_samples=(bins[:16], labels[:16]),
                       test_samples=(bins[16:], labels[16:]), build_root=BUILD)
    assert rep.first_mismatch is None
    assert rep.mismatches == 0


def test_learning_run_replayed_on_the_rtl_equals_the_integer_training():
    # what `spikesmith learn --rtl` does after training: two epochs with the host step between
    result = run_learning(dataset="digits", neurons_per_class=5, epochs=2, seed=0)
    out = verify_learning_on_rtl(result, build_root=BUILD, check_every=97)
    v = out["verify"]
    assert (v["mismatches"], v["first_mismatch"]) == (0, None)
    n_train = len(result.events.y_train)
    assert v["samples"] == 2 * (n_train // 97 + (n_train % 97 != 0))
    assert out["rtl_test_accuracy"] == result.int_test[-1]
    assert out["cycles"]["train_sample"] > out["cycles"]["infer_sample"] > 0
