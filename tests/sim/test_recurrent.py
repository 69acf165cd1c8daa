"""Hand-computed tables for the recurrent E/I population (sim.recurrent)."""

from dataclasses import replace

import numpy as np
import pytest

from spikesmith.sim.lfsr import LFSR16, LFSR24, lfsr_advance, lfsr_draws, lfsr_step
from spikesmith.sim.recurrent import (
    GroupSpec,
    NeuronParams,
    NeuronState,
    SynapseGroup,
    adapt,
    charge,
    current_step,
    fire,
    make_connectivity,
    neuron_step,
    rate_encode,
    reset,
    synaptic_drive,
    threshold,
)

P = NeuronParams()


def _i(*v):
    return np.array(v, dtype=np.int64)


def test_current_filter_is_shift_leak_plus_drive():
    y = current_step(_i(0, 64, -64, 100), _i(10, 0, 0, 5), P)
    assert y.tolist() == [10, 62, -62, 102]


def test_charge_leaks_adds_scaled_current_and_saturates():
    u = charge(_i(0, 320, -320, 28160, -7680), _i(1 << 18, 0, 0, 1 << 20, -(1 << 22)), 0, P)
    # 30 * 2**18 >> 18 = 30; 320 - 10; -320 + 10 (floor shift); 28160 - 880 + 120;
    # -7680 + 240 - 480 = -7920 clamps to v_min = -7680.
    assert u.tolist() == [30, 310, -310, 27400, -7680]
    assert charge(_i(28000), _i(1 << 24), 0, P).tolist() == [P.v_max]


def test_charge_adds_noise():
    assert charge(_i(0, 0), _i(0, 0), _i(-5, 7), P).tolist() == [-5, 7]


def test_threshold_adapts_and_clips():
    assert threshold(_i(0, 768, 20000), P).tolist() == [3840, 4608, 17920]


def test_fire_is_greater_or_equal():
    s = fire(_i(3840, 4607, 17920), _i(0, 768, 20000), P)
    assert s.tolist() == [True, False, True]


def test_reset_sets_v_reset_only_where_spiking():
    assert reset(_i(5000, 100), np.array([True, False]), P).tolist() == [-2560, 100]


def test_adaptation_leaks_and_jumps_on_spikes():
    a = adapt(_i(0, 128, 1000), np.array([True, False, True]), P)
    assert a.tolist() == [768, 127, 1761]


def test_neuron_step_orders_current_charge_fire_reset_adapt():
    st = NeuronState(_i(0), _i(3800), _i(0), np.array([False]))
    out = neuron_step(st, _i(1 << 18), 0, P)
    # y = 2**18; u = 3800 - 118 + 30 = 3712 < 3840: no spike.
    assert (out.y.tolist(), out.v.tolist(), out.a.tolist(), out.s.tolist()) == (
        [1 << 18],
        [3712],
        [0],
        [False],
    )
    out = neuron_step(st, _i(1 << 21), 0, P)
    # u = 3800 - 118 + 240 = 3922 >= 3840: spike, reset, adapt.
    assert (out.v.tolist(), out.a.tolist(), out.s.tolist()) == ([-2560], [768], [True])


def test_synaptic_drive_signs_by_presynaptic_population():
    p = NeuronParams(n_input=2, n_exc=1, n_inh=1)
    m = np.array([[1, 2], [10, 20], [100, 200], [1000, 2000]], dtype=np.int64)
    d = synaptic_drive(m, np.array([True, False, True, True]), p)
    assert d.tolist() == [1 + 100 - 1000, 2 + 200 - 2000]
    assert synaptic_drive(m, np.zeros(4, dtype=bool), p).tolist() == [0, 0]


def test_lfsr_advance_equals_lfsr_step():
    states = np.random.default_rng(3).integers(1, 1 << 24, size=500)
    for steps in (1, 8, 13):
        assert np.array_equal(
            lfsr_advance(states, LFSR24, steps=steps), lfsr_step(states, LFSR24, steps=steps)
        )
    s16 = np.arange(1, 300)
    assert np.array_equal(lfsr_advance(s16, LFSR16, steps=8), lfsr_step(s16, LFSR16, steps=8))


def test_rate_encode_compares_pixel_with_lfsr24_draws():
    pixels = np.array([0, 128, 255, 17], dtype=np.uint8)
    regs = np.array([1, 2, 3, 0xABCDE], dtype=np.int64)
    x, out = rate_encode(pixels, regs, steps=6)
    ref = regs
    for t in range(6):
        r, ref = lfsr_draws(ref, LFSR24)
        assert np.array_equal(x[t], pixels > r)
    assert np.array_equal(out, ref)
    assert not x[:, 0].any()


def test_connectivity_is_deterministic_by_seed_and_blocked_by_group():
    p = NeuronParams(n_input=30, n_exc=20, n_inh=10)
    a, b, c = (make_connectivity(p, seed=s) for s in (4, 4, 5))
    assert np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)
    rows, cols = p.block(SynapseGroup.XE)
    assert a.mask[rows, p.n_exc :].sum() == 0  # no input -> I synapses
    rows, cols = p.block(SynapseGroup.II)
    assert a.mask[rows, cols].sum() == 0  # density 0
    assert np.array_equal(a.init != 0, a.mask == 1)
    assert np.all(a.init <= a.hi) and np.all(a.lo <= a.init)
    assert a.seed == 4


def test_connectivity_density_matches_spec():
    p = NeuronParams()
    conn = make_connectivity(p, seed=0)
    rows, cols = p.block(SynapseGroup.EE)
    assert abs(conn.mask[rows, cols].mean() - 0.15) < 0.01


def test_group_spec_rejects_bad_bounds():
    with pytest.raises(ValueError, match=r"bounds must satisfy 0 <= lo <= init <= hi, not lo=5"):
        GroupSpec(0.1, 3, 5, 10, 1)
    with pytest.raises(ValueError, match=r"density must be in \[0, 1\], not 1.5"):
        GroupSpec(1.5, 3, 0, 10, 1)
    with pytest.raises(ValueError, match="target must be >= 1, not 0"):
        GroupSpec(0.1, 3, 0, 10, 0)


def test_neuron_params_reject_bad_values():
    with pytest.raises(ValueError, match="n_exc must be an integer >= 1, not 0"):
        NeuronParams(n_exc=0)
    with pytest.raises(ValueError, match="mem_shift must be an integer in 1..31, not 0"):
        NeuronParams(mem_shift=0)
    with pytest.raises(ValueError, match="membrane constants must satisfy"):
        NeuronParams(v_reset=4000)
    groups = dict(NeuronParams().groups)
    del groups[SynapseGroup.II]
    with pytest.raises(ValueError, match="groups must give a GroupSpec for every SynapseGroup"):
        replace(NeuronParams(), groups=groups)
    with pytest.raises(ValueError, match="seed must be a non-negative int, not -1"):
        make_connectivity(P, seed=-1)
