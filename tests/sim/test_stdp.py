"""Hand-computed tables for pair-based STDP (sim.stdp)."""

import numpy as np
import pytest

from spikesmith.sim.stdp import StdpParams, StdpPolarity, age_step, kernel_luts, stdp_update

# The authors' symmetric amplitudes (a_plus = a_minus = 1) keep the hand tables equal.
P3 = StdpParams(age_bits=3, a_minus=1.0)


def test_kernel_luts_are_rounded_exponentials_with_zero_ends():
    ltp, ltd = kernel_luts(P3)
    # round(5e-4 * 2**16 * exp(-c / 7.5)), c = 0..6, then 0 at the saturated age 7.
    assert ltp.tolist() == [33, 29, 25, 22, 19, 17, 15, 0]
    assert ltd.tolist() == [0, 29, 25, 22, 19, 17, 15, 0]
    # the default a_minus = 0.2: round(0.2 * 5e-4 * 2**16 * exp(-c / 7.5))
    assert kernel_luts(StdpParams(age_bits=3))[1].tolist() == [0, 6, 5, 4, 4, 3, 3, 0]


def test_age_counters_reset_on_spike_and_saturate():
    ages = age_step(np.array([0, 5, 7, 6, 7]), np.array([False, True, False, False, True]), P3)
    assert ages.tolist() == [1, 0, 7, 7, 0]


def _update(polarity, *, pre_spikes, post_spikes, pre_age, post_age, m=None, hi=1000):
    m = np.full((2, 2), 100, dtype=np.int64) if m is None else m
    mask = np.array([[1, 1], [1, 0]], dtype=np.int64)
    return stdp_update(
        m * mask,
        pre_spikes=np.array(pre_spikes),
        post_spikes=np.array(post_spikes),
        pre_age=np.array(pre_age),
        post_age=np.array(post_age),
        mask=mask,
        lo=np.zeros((2, 2), dtype=np.int64),
        hi=hi * mask,
        p=StdpParams(age_bits=3, a_minus=1.0, polarity=polarity),
    )


def test_causal_post_spike_potentiates_by_presynaptic_age():
    # post 0 spikes now; pre 0 spiked 2 steps ago, pre 1 never (age 7).
    m = _update(
        StdpPolarity.CAUSAL,
        pre_spikes=[False, False],
        post_spikes=[True, False],
        pre_age=[2, 7],
        post_age=[0, 7],
    )
    assert m.tolist() == [[125, 100], [100, 0]]


def test_causal_pre_spike_depresses_by_postsynaptic_age():
    m = _update(
        StdpPolarity.CAUSAL,
        pre_spikes=[True, False],
        post_spikes=[False, False],
        pre_age=[0, 7],
        post_age=[1, 3],
    )
    assert m.tolist() == [[71, 78], [100, 0]]


def test_simultaneous_pair_potentiates_in_both_polarities():
    for pol in StdpPolarity:
        m = _update(
            pol,
            pre_spikes=[True, False],
            post_spikes=[True, False],
            pre_age=[0, 7],
            post_age=[0, 7],
        )
        assert m.tolist() == [[133, 100], [100, 0]]


def test_authors_reversed_swaps_potentiation_and_depression():
    post = _update(
        StdpPolarity.AUTHORS_REVERSED,
        pre_spikes=[False, False],
        post_spikes=[True, False],
        pre_age=[2, 7],
        post_age=[0, 7],
    )
    assert post.tolist() == [[75, 100], [100, 0]]
    pre = _update(
        StdpPolarity.AUTHORS_REVERSED,
        pre_spikes=[True, False],
        post_spikes=[False, False],
        pre_age=[0, 7],
        post_age=[1, 3],
    )
    assert pre.tolist() == [[129, 122], [100, 0]]


def test_weights_saturate_at_group_bounds_and_absent_synapses_stay_zero():
    hi = _update(
        StdpPolarity.CAUSAL,
        pre_spikes=[True, True],
        post_spikes=[True, True],
        pre_age=[0, 0],
        post_age=[0, 0],
        hi=110,
    )
    assert hi.tolist() == [[110, 110], [110, 0]]
    lo = _update(
        StdpPolarity.CAUSAL,
        pre_spikes=[True, True],
        post_spikes=[False, False],
        pre_age=[0, 0],
        post_age=[1, 1],
        m=np.full((2, 2), 10, dtype=np.int64),
    )
    assert lo.tolist() == [[0, 0], [0, 0]]


def test_stdp_params_reject_bad_values():
    with pytest.raises(ValueError, match="age_bits must be an integer in 2..8, not 9"):
        StdpParams(age_bits=9)
    with pytest.raises(TypeError, match="polarity must be a StdpPolarity, not 'causal'"):
        StdpParams(polarity="causal")
    with pytest.raises(ValueError, match="tau_plus and tau_minus must be > 0"):
        StdpParams(tau_plus=0)
