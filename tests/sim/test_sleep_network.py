"""The recurrent network drivers (sim.recurrent_net): step functions, blocks, seeds, stop."""

from dataclasses import replace

import numpy as np
import pytest

from spikesmith.sim.recurrent import NeuronParams, SynapseGroup
from spikesmith.sim.recurrent_net import (
    NetConfig,
    evaluate_counts,
    init_network,
    run_sleep_episode,
    run_wake_block,
    sleep_budget,
    sleep_step,
    synapse_sums,
    wake_step,
)
from spikesmith.sim.sleep import SleepParams
from spikesmith.sim.stdp import StdpPolarity


def _cfg(seed=0, **kw):
    p = NeuronParams(n_input=16, n_exc=12, n_inh=4)
    groups = dict(p.groups)
    groups[SynapseGroup.XE] = replace(groups[SynapseGroup.XE], density=0.5, init=2 << 16)
    p = replace(p, groups=groups)
    return NetConfig(neuron=p, seed=seed, steps_per_image=20, **kw)


def _images(n=3):
    return np.random.default_rng(9).integers(0, 256, size=(n, 16)).astype(np.uint8)


def _same(a, b):
    return (
        np.array_equal(a.m, b.m)
        and np.array_equal(a.neurons.v, b.neurons.v)
        and np.array_equal(a.neurons.y, b.neurons.y)
        and np.array_equal(a.neurons.a, b.neurons.a)
        and np.array_equal(a.ages, b.ages)
        and np.array_equal(a.input_regs, b.input_regs)
        and np.array_equal(a.noise_regs, b.noise_regs)
        and a.decay_reg == b.decay_reg
    )


@pytest.mark.parametrize("polarity", list(StdpPolarity))
def test_wake_block_equals_repeated_wake_steps(polarity):
    cfg = _cfg(stdp=replace(_cfg().stdp, polarity=polarity))
    conn, st0 = init_network(cfg)
    imgs = _images(2)
    blk, rec = run_wake_block(st0, imgs, conn=conn, cfg=cfg, record_membranes=True)
    st = st0
    for k in range(2):
        for t in range(cfg.steps_per_image):
            st = wake_step(st, imgs[k], conn=conn, cfg=cfg)
            assert np.array_equal(rec.spikes[k * 20 + t], st.neurons.s)
            assert np.array_equal(rec.membranes[k * 20 + t], st.neurons.v)
    assert _same(blk, st)
    assert rec.spikes.any()
    assert not np.array_equal(blk.m, st0.m)  # STDP changed weights


def test_wake_step_does_not_mutate_its_input_state():
    cfg = _cfg()
    conn, st0 = init_network(cfg)
    m0 = st0.m.copy()
    wake_step(st0, _images(1)[0], conn=conn, cfg=cfg)
    assert np.array_equal(st0.m, m0)


def test_sleep_episode_equals_repeated_sleep_steps_and_decays_toward_target():
    cfg = _cfg(sleep=SleepParams(lam=0.99, decay_period=4))
    conn, st0 = init_network(cfg)
    st0 = replace(st0, m=st0.m * 4)  # above baseline, so the episode uses its budget
    ep, rec = run_sleep_episode(st0, conn=conn, cfg=cfg, budget=12)
    st = st0
    for _ in range(12):
        st = sleep_step(st, conn=conn, cfg=cfg)
    assert _same(ep, st)
    assert rec.steps == 12 and not rec.stopped_early and rec.sums.shape == (3, 5)
    assert np.array_equal(ep.input_regs, st0.input_regs)  # input gated off
    assert not np.array_equal(ep.noise_regs, st0.noise_regs)
    xe = synapse_sums(ep.m, conn)[0]
    assert xe < synapse_sums(st0.m, conn)[0]  # 2.0 decays toward the 0.2 target


def test_sleep_stops_early_when_sums_return_to_baseline():
    cfg = _cfg(sleep=SleepParams(lam=0.9, decay_period=4))
    conn, st0 = init_network(cfg)
    # Weights start at their baseline: the first batch already satisfies the stop rule.
    _st, rec = run_sleep_episode(st0, conn=conn, cfg=cfg, budget=40)
    assert (rec.steps, rec.stopped_early) == (4, True)
    # Inflated weights cannot return within a short budget: the budget is used up.
    big = replace(st0, m=np.minimum(st0.m * 8, conn.hi))
    _, rec = run_sleep_episode(big, conn=conn, cfg=cfg, budget=8)
    assert (rec.steps, rec.stopped_early) == (8, False)


def test_sleep_budget_follows_the_ratio():
    cfg = _cfg(sleep=SleepParams(decay_period=8))
    assert [sleep_budget(cfg, ratio=r, wake_steps=30000) for r in (0, 0.1, 0.2, 0.5)] == [
        0,
        3000,
        6000,
        15000,
    ]
    with pytest.raises(ValueError, match="budget must be a non-negative multiple of 8, not 12"):
        run_sleep_episode(init_network(cfg)[1], conn=init_network(cfg)[0], cfg=cfg, budget=12)


def test_runs_are_deterministic_by_seed_and_seeds_change_connectivity_and_input():
    imgs = _images(2)
    outs = []
    for seed in (1, 1, 2):
        cfg = _cfg(seed=seed)
        conn, st = init_network(cfg)
        st, rec = run_wake_block(st, imgs, conn=conn, cfg=cfg)
        outs.append((conn, st, rec))
    (c1, s1, r1), (c1b, s1b, r1b), (c2, s2, r2) = outs
    assert np.array_equal(c1.mask, c1b.mask) and _same(s1, s1b)
    assert np.array_equal(r1.spikes, r1b.spikes)
    assert not np.array_equal(c1.mask, c2.mask)
    assert not np.array_equal(s1.input_regs, s2.input_regs)
    assert not np.array_equal(r1.spikes, r2.spikes)


def test_evaluate_counts_is_frozen_batched_and_seeded():
    cfg = _cfg()
    _conn, st = init_network(cfg)
    imgs = _images(5)
    a, xa = evaluate_counts(st.m, imgs, cfg=cfg, seed=3, batch=2)
    b, xb = evaluate_counts(st.m, imgs, cfg=cfg, seed=3, batch=5)
    _c, xc = evaluate_counts(st.m, imgs, cfg=cfg, seed=4)
    assert np.array_equal(a, b) and np.array_equal(xa, xb)
    assert not np.array_equal(xa, xc)
    assert a.shape == (5, 16) and xa.shape == (5, 16)
    assert np.all(xa[imgs == 0] == 0) and a.sum() > 0


def test_evaluate_counts_match_single_image_wake_without_plasticity():
    # One image from rest, no STDP (lr 0): the frozen batched path equals the step path.
    cfg = _cfg(stdp=replace(_cfg().stdp, lr=0.0))
    conn, st = init_network(cfg)
    img = _images(1)
    regs = np.random.default_rng([7, 2]).integers(1, 1 << 24, size=img.shape, dtype=np.int64)
    counts, _ = evaluate_counts(st.m, img, cfg=cfg, seed=7)
    s = replace(st, input_regs=regs[0])
    total = np.zeros(16, dtype=np.int64)
    for _ in range(cfg.steps_per_image):
        s = wake_step(s, img[0], conn=conn, cfg=cfg)
        total += s.neurons.s
    assert np.array_equal(counts[0], total)


def test_bad_inputs_are_rejected():
    cfg = _cfg()
    conn, st = init_network(cfg)
    with pytest.raises(ValueError, match=r"images must have shape \(n, 16\), not \(2, 5\)"):
        run_wake_block(st, np.zeros((2, 5), dtype=np.uint8), conn=conn, cfg=cfg)
    with pytest.raises(ValueError, match="stdp.weight_frac must equal neuron.weight_frac"):
        NetConfig(stdp=replace(cfg.stdp, weight_frac=12))


@pytest.mark.parametrize("polarity", list(StdpPolarity))
def test_block_drivers_equal_step_functions_at_full_size_with_saturation(polarity):
    # The block drivers run on the synapse lists; the step functions on the dense matrix.
    p = NeuronParams()
    groups = {g: replace(s, hi=s.init + 40) for g, s in p.groups.items()}
    cfg = NetConfig(
        neuron=replace(p, groups=groups),
        stdp=replace(NetConfig().stdp, polarity=polarity),
        steps_per_image=30,
        seed=3,
    )
    conn, st0 = init_network(cfg)
    img = np.random.default_rng(4).integers(0, 256, size=(2, 225)).astype(np.uint8)
    blk, rec = run_wake_block(st0, img, conn=conn, cfg=cfg)
    st = st0
    for k in range(2):
        for _ in range(cfg.steps_per_image):
            st = wake_step(st, img[k], conn=conn, cfg=cfg)
    assert rec.spikes.any() and np.any(blk.m == conn.hi * conn.mask)
    assert _same(blk, st)
    end, srec = run_sleep_episode(blk, conn=conn, cfg=cfg, budget=48)
    for _ in range(srec.steps):
        st = sleep_step(st, conn=conn, cfg=cfg)
    assert _same(end, replace(st, episode_step=end.episode_step))
