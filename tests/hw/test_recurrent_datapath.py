# amaranth: UnusedElaboratable=no
"""The recurrent core's datapath parts alone against sim: RateEncoder (rate_encode, age_step),
NeuronPipeline (neuron_step with noise_step), SynapsePipeline (drive sum; stdp_update then
decay_step per synapse) and GroupSums (group_sums under updates, host writes and probes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.recurrent.group_sums import GroupSums
from spikesmith.hw.recurrent.neuron_pipeline import NeuronPipeline
from spikesmith.hw.recurrent.rate_encoder import RateEncoder
from spikesmith.hw.recurrent.recurrent_config import RecurrentCoreConfig
from spikesmith.hw.recurrent.synapse_pipeline import SynapsePipeline
from spikesmith.sim.recurrent import NeuronParams, NeuronState, neuron_step, rate_encode
from spikesmith.sim.recurrent_net import NetConfig, init_network
from spikesmith.sim.sleep import SleepParams, decay_step, group_sums, noise_step
from spikesmith.sim.stdp import StdpParams, StdpPolarity, age_step, stdp_update


def _config(*, seed: int = 2, polarity=StdpPolarity.CAUSAL) -> RecurrentCoreConfig:
    """A small network with every group present (inputs 5, 4 E + 3 I)."""
    p = NeuronParams(n_input=5, n_exc=4, n_inh=3)
    groups = {g: replace(s, density=0.8) for g, s in p.groups.items()}
    cfg = NetConfig(neuron=replace(p, groups=groups), seed=seed,
                    stdp=StdpParams(lr=4e-3, age_bits=3, polarity=polarity),
                    sleep=SleepParams(lam=0.9, decay_period=2, noise_gain=600))
    conn, state = init_network(cfg)
    return RecurrentCoreConfig(cfg, conn, state)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_rate_encoder_matches_rate_encode_and_age_step(seed):
    sp = StdpParams(age_bits=3)
    rng = np.random.default_rng(seed)
    n = 64
    regs = rng.integers(1, 1 << 24, n)
    pixels = rng.integers(0, 256, n)
    pixels[:4] = [0, 255, 0, 255]
    ages = rng.integers(0, sp.age_max + 1, n)
    sleeping = rng.random(n) < 0.3
    spikes, next_regs = rate_encode(pixels, regs, steps=1)
    x = spikes[0] & ~sleeping
    exp_age = age_step(ages, x, sp)
    unit = RateEncoder(sp)
    got = []

    async def bench(ctx):
        for i in range(n):
            for port, v in ((unit.reg, regs[i]), (unit.pixel, pixels[i]), (unit.age, ages[i]),
                            (unit.sleeping, sleeping[i])):
                ctx.set(port, int(v))
            got.append((ctx.get(unit.next_reg), ctx.get(unit.spike), ctx.get(unit.age_word)))

    sim = Simulator(unit)     # combinational: no clock
    sim.add_testbench(bench)
    sim.run()
    assert got == [(int(r), int(s), int(a) | int(s) << sp.age_bits)
                   for r, s, a in zip(next_regs, x, exp_age, strict=True)]
    assert 0 < x.sum() < n


def _neuron_bench(neu: NeuronPipeline, gain: int):
    """Wrap ``neu`` with a two-cycle ``g * gy_x`` (the decay unit's lent multipliers)."""
    m = Module()
    m.submodules.neu = neu
    p1, p2 = Signal.like(neu.gy), Signal.like(neu.gy)
    m.d.sync += [p1.eq(neu.gy_x * gain), p2.eq(p1)]
    m.d.comb += neu.gy.eq(p2)
    return m


@pytest.mark.parametrize("sleeping", [False, True])
def test_neuron_pipeline_matches_neuron_step(sleeping):
    cfg = _config()
    p, lp = cfg.net.neuron, cfg.net.sleep
    rng = np.random.default_rng(7 + sleeping)
    n = 40
    yb = cfg.y_bound // 2
    state = NeuronState(y=rng.integers(-yb, yb + 1, n), v=rng.integers(p.v_min, p.v_max + 1, n),
                        a=rng.integers(0, cfg.a_bound + 1, n), s=np.zeros(n, dtype=bool))
    drive = rng.integers(-cfg.drive_bound, cfg.drive_bound + 1, n)
    state.v[:3] = [p.v_max, p.v_min, p.theta0]
    ages = rng.integers(0, cfg.net.stdp.age_max + 1, n)
    regs = rng.integers(1, 1 << 24, n)
    noise, next_regs = noise_step(regs, lp)
    exp = neuron_step(state, drive, noise if sleeping else 0, p)
    neu = NeuronPipeline(cfg)
    got, noise_out = [], []

    async def bench(ctx):
        for port, v in ((neu.theta0, p.theta0), (neu.theta_max, p.theta_max),
                        (neu.v_reset, p.v_reset), (neu.adapt_inc, p.adapt_inc),
                        (neu.noise_gain, lp.noise_gain), (neu.sleeping, sleeping)):
            ctx.set(port, int(v))
        for i in range(n):
            for port, v in ((neu.valid, 1), (neu.j, i % (p.n_post + 1)), (neu.y, state.y[i]),
                            (neu.v, state.v[i]), (neu.a, state.a[i]), (neu.drive, drive[i]),
                            (neu.age, ages[i]), (neu.noise_reg, regs[i])):
                ctx.set(port, int(v))
            noise_out.append(ctx.get(neu.noise_next))
            await ctx.tick()
        ctx.set(neu.valid, 0)
        await ctx.tick().until(~neu.busy & ~neu.o_valid)

    async def monitor(ctx):
        async for _c, _r, valid, spk, y, v, a, age in ctx.tick().sample(
                neu.o_valid, neu.o_spike, neu.o_y, neu.o_v, neu.o_a, neu.o_age_word):
            if valid:
                got.append((spk, y, v, a, age))

    run_scenario(_neuron_bench(neu, p.gain), testbenches=[bench], processes=[monitor])
    exp_age = age_step(ages, exp.s, cfg.net.stdp)
    assert got == [(int(s), int(y), int(v), int(a), int(c) | int(s) << cfg.net.stdp.age_bits)
                   for s, y, v, a, c in zip(exp.s, exp.y, exp.v, exp.a, exp_age, strict=True)]
    assert noise_out == [int(r) for r in next_regs]
    assert 0 < exp.s.sum() < n


def _synapses(cfg: RecurrentCoreConfig, rng):
    """Every synapse of ``cfg`` in CSR order with random spikes, ages, magnitudes, drives."""
    p, sp = cfg.net.neuron, cfg.net.stdp
    pre, post = cfg.synapses
    pre_s, post_s = rng.random(p.n_pre) < 0.5, rng.random(p.n_post) < 0.5
    pre_age = np.where(pre_s, 0, rng.integers(1, sp.age_max + 1, p.n_pre))
    post_age = np.where(post_s, 0, rng.integers(1, sp.age_max + 1, p.n_post))
    m = rng.integers(cfg.conn.lo, cfg.conn.hi + 1) * cfg.conn.mask
    pop = np.where(pre < p.n_input, 0, np.where(pre < p.n_input + p.n_exc, 1, 2))
    return pre, post, pre_s, post_s, pre_age, post_age, m, pop


def _run_synapses(syn: SynapsePipeline, cfg, *, learn: bool, batch: bool, rng):
    pre, post, pre_s, post_s, pre_age, post_age, m, pop = _synapses(cfg, rng)
    acc = rng.integers(-1000, 1000, post.size)
    drives, written = [], []

    async def bench(ctx):
        ctx.set(syn.learn, learn)
        ctx.set(syn.batch, batch)
        for gi, s in enumerate(cfg.group_specs()):
            ctx.set(syn.lo[gi], s.lo)
            ctx.set(syn.hi[gi], s.hi)
        for k in range(post.size + 1):
            if k < post.size:    # S1: synapse k
                i = pre[k]
                for port, v in ((syn.valid, 1), (syn.k, k), (syn.pre_spike, pre_s[i]),
                                (syn.pop, pop[k]), (syn.pre_age, pre_age[i]),
                                (syn.post, post[k])):
                    ctx.set(port, int(v))
            else:
                ctx.set(syn.valid, 0)
            if k:               # S2: synapse k - 1's words
                j = post[k - 1]
                for port, v in ((syn.m, m[pre[k - 1], j]), (syn.post_spike, post_s[j]),
                                (syn.post_age, post_age[j]), (syn.acc, acc[k - 1])):
                    ctx.set(port, int(v))
            await ctx.tick()
        await ctx.tick().until(~syn.busy)

    async def monitor(ctx):
        async for _c, _r, valid, k, new, old, g, a_valid, a_j, a_next in ctx.tick().sample(
                syn.o_valid, syn.o_k, syn.o_m, syn.o_old, syn.o_group,
                syn.acc_valid, syn.acc_j, syn.acc_next):
            if valid:
                written.append((k, new, old, g))
            if a_valid:     # S3: a cycle after the synapse's words
                drives.append((a_j, a_next))

    run_scenario(syn, testbenches=[bench], processes=[monitor])
    return (pre, post, pre_s, post_s, pre_age, post_age, m, pop, acc), drives, written


def test_synapse_pipeline_drive_sweep_adds_signed_magnitudes():
    cfg = _config()
    syn = SynapsePipeline(cfg)
    (pre, post, _, _, _, _, m, pop, acc), drives, written = _run_synapses(
        syn, cfg, learn=False, batch=False, rng=np.random.default_rng(3))
    signed_m = np.where(pop == 2, -m[pre, post], m[pre, post])
    assert drives == [(int(j), int(a + d)) for j, a, d in zip(post, acc, signed_m, strict=True)]
    assert written == []


@pytest.mark.parametrize(("batch", "polarity"), [(False, StdpPolarity.CAUSAL),
                                                  (True, StdpPolarity.AUTHORS_REVERSED)])
def test_synapse_pipeline_learning_sweep_matches_stdp_then_decay(batch, polarity):
    cfg = _config(polarity=polarity)
    syn = SynapsePipeline(cfg)
    (pre, post, pre_s, post_s, pre_age, post_age, m, _, _), _, written = _run_synapses(
        syn, cfg, learn=True, batch=batch, rng=np.random.default_rng(4 + batch))
    conn = cfg.conn
    stdp = stdp_update(m, pre_spikes=pre_s, post_spikes=post_s, pre_age=pre_age,
                       post_age=post_age, mask=conn.mask, lo=conn.lo, hi=conn.hi,
                       p=cfg.net.stdp)[pre, post]
    exp = stdp
    if batch:
        exp, _ = decay_step(stdp, target=conn.target[pre, post], lo=conn.lo[pre, post],
                            hi=conn.hi[pre, post], register=int(cfg.state.decay_reg),
                            p=cfg.net.sleep)
        assert not np.array_equal(exp, stdp)
    assert not np.array_equal(stdp, m[pre, post])
    assert written == [(k, int(e), int(m[pre[k], post[k]]), int(conn.group[pre[k], post[k]]))
                       for k, e in enumerate(exp)]


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_group_sums_follow_updates_host_writes_and_probes(seed):
    cfg = _config()
    rng = np.random.default_rng(seed)
    pre, post = cfg.synapses
    group = cfg.conn.group[pre, post]
    m = cfg.state.m[pre, post].copy()
    sums = GroupSums(cfg)
    assert list(sums.initial) == list(group_sums(m, group, n_groups=5))
    n = 60
    ks = rng.integers(0, pre.size, n)
    news = rng.integers(cfg.conn.lo[pre, post][ks], cfg.conn.hi[pre, post][ks] + 1)
    set_at, set_group, set_offset = 30, int(rng.integers(0, 5)), int(rng.integers(-999, 1000))
    top = 1 << cfg.widths["sum"]     # the sums wrap (unsigned)
    probes = []

    async def bench(ctx):
        for t in range(n):
            k = ks[t]
            for port, v in ((sums.i_valid, 1), (sums.i_group, group[k]), (sums.i_new, news[t]),
                            (sums.i_old, m[k])):
                ctx.set(port, int(v))
            m[k] = news[t]
            await ctx.tick()
            if t == set_at:     # the host's SET SUM, between updates
                ctx.set(sums.i_valid, 0)
                await ctx.tick()      # the last update is applied
                now = int(group_sums(m, group, n_groups=5)[set_group])
                ctx.set(sums.set, 1)
                ctx.set(sums.set_index, set_group)
                ctx.set(sums.set_value, (now + set_offset) % top)
                await ctx.tick()
                ctx.set(sums.set, 0)
                offset[set_group] = set_offset
        ctx.set(sums.i_valid, 0)
        await ctx.tick()
        for g in range(5):
            ctx.set(sums.probe, g)
            probes.append(ctx.get(sums.probe_sum))
        assert [ctx.get(sums.sums[g]) for g in range(5)] == probes

    offset = [0] * 5
    run_scenario(sums, testbenches=[bench])
    assert probes == [(int(v) + o) % top for v, o in zip(group_sums(m, group, n_groups=5), offset,
                                                  strict=True)]


def test_datapath_parts_reject_bad_arguments():
    for cls in (NeuronPipeline, SynapsePipeline, GroupSums):
        with pytest.raises(TypeError, match="config must be a RecurrentCoreConfig, not 3"):
            cls(3)
    with pytest.raises(TypeError, match="stdp must be a StdpParams, not None"):
        RateEncoder(None)
