"""The learning flow (spikesmith.learn) on the small digits set."""

import numpy as np
import pytest

from spikesmith.datasets import split_80_20
from spikesmith.learn import default_config, run_learning, sweep_time_bins
from spikesmith.sim.ncg_types import Method, Regulation


def test_split_is_stratified_80_20():
    x_tr, y_tr, _, y_te = split_80_20("digits")
    assert (len(y_tr), len(y_te)) == (1437, 360)
    assert x_tr.shape[1] == 64
    assert np.bincount(y_te).min() >= 35


def test_run_learning_trains_both_models_from_the_same_start():
    r = run_learning(dataset="digits", epochs=1, time_bins=64)
    assert len(r.float_test) == len(r.int_test) == len(r.int_epoch_seconds) == 1
    assert r.float_test[0] > 0.6 and r.int_test[0] > 0.6
    assert abs(r.float_test[0] - r.int_test[0]) < 0.1
    assert r.params.config.class_map.n_neurons == 50


def test_sweep_time_bins_runs_the_integer_model_per_k():
    out = sweep_time_bins(time_bins=(8,), dataset="digits", epochs=1, neurons_per_class=1)
    assert list(out) == [8]
    assert out[8].float_test == ()
    assert out[8].int_test[0] > 0.3


def test_default_configs_follow_the_method():
    assert default_config(dataset="mnist5k", neurons_per_class=1).regulation is Regulation.NONE
    s = default_config(dataset="digits", method=Method.SSTDP)
    assert s.class_map.n_nontarget == 0 and not s.w_norm
    r = default_config(dataset="digits", method=Method.RSTDP)
    assert (r.regulation, r.dropout, r.class_wta) == (Regulation.DROPOUT, 0.15, False)


def test_learning_errors_name_the_value():
    with pytest.raises(ValueError, match="dataset must be one of digits, mnist5k, not 'cifar'"):
        default_config(dataset="cifar")
    with pytest.raises(ValueError, match=r"epochs must be an integer in 1\.\.1000, not 0"):
        run_learning(dataset="digits", epochs=0)
    with pytest.raises(ValueError, match=r"time bins must be a power of two in 2\.\.4096"):
        run_learning(dataset="digits", time_bins=8192)
