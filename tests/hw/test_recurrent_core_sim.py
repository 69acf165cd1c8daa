# amaranth: UnusedElaboratable=no
"""RecurrentCore in the Amaranth simulator: bit-exact against sim.recurrent_net on random
small configurations (hypothesis), including sleep episodes, reseeded LFSRs, weight dumps,
parameters and weights programmed by the host at run time, and the neuron readback."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.hw.common.testing import run_scenario, stream_put
from spikesmith.hw.recurrent.host import (
    CoreRecords,
    SleepEpisode,
    WakeBlock,
    commands,
    reseed_commands,
    set_commands,
)
from spikesmith.hw.recurrent.recurrent_core import RecurrentCore, RecurrentCoreConfig
from spikesmith.hw.recurrent.recurrent_params import parameter_writes, weight_writes
from spikesmith.hw.recurrent.recurrent_streams import recurrent_command_layout
from spikesmith.sim.recurrent import GroupSpec, NeuronParams, SynapseGroup, regroup
from spikesmith.sim.recurrent_net import NetConfig, init_network
from spikesmith.sim.sleep import SleepParams
from spikesmith.sim.stdp import StdpParams, StdpPolarity
from spikesmith.verification.recurrent import compare, golden_trace


def run_core(config: RecurrentCoreConfig, words: list[int], vcd_path=None) -> CoreRecords:
    """Send ``words`` to a fresh core and collect every record (Amaranth simulator)."""
    dut = RecurrentCore(config)
    layout = recurrent_command_layout(config.command_items)
    sinks: dict[str, list[int]] = {"neurons": [], "weights": [], "status": []}

    async def producer(ctx):
        for w in words:
            await stream_put(ctx, dut.cmd, layout.from_bits(w))
        await ctx.tick()
        await ctx.tick().until(~dut.busy)

    def collector(name):
        stream = getattr(dut, name)

        async def collect(ctx):
            async for _c, _r, valid, payload in ctx.tick().sample(stream.valid, stream.payload):
                if valid:
                    sinks[name].append(payload.as_value().value)
        return collect

    run_scenario(dut, testbenches=[producer],
                 processes=[collector(n) for n in sinks], vcd_path=vcd_path)
    return CoreRecords(sinks["neurons"], sinks["weights"], sinks["status"], [], -1)


@st.composite
def configs(draw):
    q16 = 1 << 16
    n_in, n_exc, n_inh = (draw(st.integers(1, 8)), draw(st.integers(1, 5)),
                          draw(st.integers(1, 3)))
    groups = {}
    for g in SynapseGroup:
        init = draw(st.integers(0, 4)) * q16 // 4 + (q16 if g is SynapseGroup.XE else 0)
        hi = init + draw(st.integers(1, 8)) * q16 // 2
        groups[g] = GroupSpec(density=draw(st.sampled_from([0.0, 0.3, 0.7, 1.0])), init=init,
                              lo=draw(st.integers(0, init)), hi=hi,
                              target=draw(st.integers(1, hi)))
    neuron = NeuronParams(n_input=n_in, n_exc=n_exc, n_inh=n_inh, groups=groups,
                          theta0=draw(st.sampled_from([256, 15 * 256])))
    stdp = StdpParams(lr=draw(st.sampled_from([5e-4, 4e-3])), age_bits=draw(st.integers(2, 5)),
                      polarity=draw(st.sampled_from(list(StdpPolarity))))
    sleep = SleepParams(lam=draw(st.sampled_from([0.99997, 0.99, 0.9])),
                        decay_period=draw(st.integers(1, 4)),
                        noise_gain=draw(st.sampled_from([157, 600])))
    cfg = NetConfig(neuron=neuron, stdp=stdp, sleep=sleep, seed=draw(st.integers(0, 1000)),
                    steps_per_image=draw(st.integers(2, 6)))
    return cfg


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), data=st.data())
def test_core_matches_golden_model_on_random_configurations(cfg, data):
    conn, state = init_network(cfg)
    config = RecurrentCoreConfig(cfg, conn, state)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_in, k = cfg.neuron.n_input, cfg.sleep.decay_period
    schedule = (
        WakeBlock(rng.integers(0, 256, (2, n_in))),
        SleepEpisode(k * data.draw(st.integers(0, 3))),
        WakeBlock(rng.integers(0, 256, (1, n_in))),
        SleepEpisode(k * data.draw(st.integers(1, 3))),
    )
    words = commands(config, schedule)
    start = state
    if data.draw(st.booleans()):
        start = replace(state, input_regs=rng.integers(1, 1 << 24, n_in),
                        noise_regs=rng.integers(1, 1 << 24, cfg.neuron.n_post),
                        decay_reg=int(rng.integers(1, 1 << 16)))
        words = reseed_commands(config, start) + words
    trace = golden_trace(config, schedule, state=start)
    cmp = compare(config, trace, run_core(config, words))
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)


def _run_time_variant(cfg: NetConfig, draw) -> NetConfig:
    """A configuration a core built from ``cfg`` can run: same structure, values in bounds."""
    p = cfg.neuron
    theta_max = draw(st.integers(p.theta0, p.v_max))
    theta0 = draw(st.integers(p.v_min + 1, theta_max))
    groups = {}
    for g, spec in p.groups.items():
        hi = draw(st.integers(0, spec.hi))
        lo = draw(st.integers(0, hi))
        groups[g] = replace(spec, lo=lo, hi=hi, init=draw(st.integers(lo, hi)),
                            target=draw(st.integers(1, max(1, spec.hi))))
    neuron = replace(p, theta0=theta0, theta_max=theta_max,
                     v_reset=draw(st.integers(p.v_min, theta0 - 1)),
                     adapt_inc=draw(st.integers(0, p.adapt_inc)),
                     gain=draw(st.integers(-abs(p.gain), abs(p.gain))), groups=groups)
    stdp = replace(cfg.stdp, lr=cfg.stdp.lr * draw(st.sampled_from([0.25, 0.5, 1.0])),
                   a_plus=draw(st.sampled_from([0.5, 1.0])),
                   a_minus=draw(st.sampled_from([0.0, 0.2, 1.0])),
                   tau_plus=draw(st.sampled_from([2.0, 7.5])),
                   polarity=draw(st.sampled_from(list(StdpPolarity))))
    ng = abs(cfg.sleep.noise_gain)
    # a shorter decay period or a lam closer to 1 decays less per batch: fits the build
    sleep = replace(cfg.sleep, noise_gain=draw(st.integers(-ng, ng)),
                    tol_shift=draw(st.integers(0, 12)),
                    decay_period=draw(st.integers(1, cfg.sleep.decay_period)),
                    lam=draw(st.sampled_from([cfg.sleep.lam, (1 + cfg.sleep.lam) / 2])))
    return replace(cfg, neuron=neuron, stdp=stdp, sleep=sleep)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), data=st.data())
def test_core_runs_parameters_and_weights_programmed_at_run_time(cfg, data):
    conn, state = init_network(cfg)
    config = RecurrentCoreConfig(cfg, conn, state)
    new = _run_time_variant(cfg, data.draw)
    new_conn = regroup(conn, new.neuron)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    m = rng.integers(new_conn.lo, new_conn.hi + 1) * conn.mask
    n_in, k = cfg.neuron.n_input, new.sleep.decay_period
    schedule = (WakeBlock(rng.integers(0, 256, (2, n_in))), SleepEpisode(2 * k),
                WakeBlock(rng.integers(0, 256, (1, n_in))), SleepEpisode(k))
    words = (set_commands(config, parameter_writes(config, net=new) + weight_writes(config, m))
             + commands(config, schedule, dump_neurons=True))
    trace = golden_trace(config, schedule, net=new, state=replace(state, m=m))
    cmp = compare(config, trace, run_core(config, words), dump_neurons=True)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)


def test_parameter_writes_reject_what_needs_a_rebuild():
    cfg = NetConfig(neuron=NeuronParams(n_input=4, n_exc=2, n_inh=1))
    conn, state = init_network(cfg)
    config = RecurrentCoreConfig(cfg, conn, state)
    p = cfg.neuron
    bad = replace(cfg, neuron=replace(p, syn_shift=4, gain=2 * p.gain, adapt_inc=p.adapt_inc + 1))
    with pytest.raises(ValueError, match=r"neuron.syn_shift is fixed by the build \(5\), not 4"):
        parameter_writes(config, net=bad)
    bad = replace(cfg, neuron=replace(p, gain=2 * p.gain, adapt_inc=p.adapt_inc + 1))
    with pytest.raises(ValueError, match=(r"neuron.gain must be at most 30 .*, not 60; "
                                          r"neuron.adapt_inc must be at most 768")):
        parameter_writes(config, net=bad)
    with pytest.raises(ValueError, match=r"the STDP kernel K\+ must fit"):
        parameter_writes(config, net=replace(cfg, stdp=replace(cfg.stdp, lr=1e-2)))
    other = init_network(replace(cfg, seed=1))[0]
    with pytest.raises(ValueError, match="the connectivity mask is fixed by the build"):
        parameter_writes(config, net=cfg, conn=other)
    with pytest.raises(ValueError, match=r"m must be zero where the build has no synapse"):
        weight_writes(config, np.ones_like(conn.mask))
    longer = replace(cfg, sleep=replace(cfg.sleep, decay_period=2 * cfg.sleep.decay_period))
    with pytest.raises(ValueError, match=r"1 - lam\*\*decay_period in 0\.\."):
        parameter_writes(config, net=longer)
    assert parameter_writes(config, net=cfg)  # the build's own values are accepted


def test_core_reports_a_perturbed_reference(tmp_path):
    p = NeuronParams(n_input=6, n_exc=3, n_inh=2)
    groups = dict(p.groups)
    groups[SynapseGroup.XE] = replace(groups[SynapseGroup.XE], density=0.8, init=3 << 16)
    cfg = NetConfig(neuron=replace(p, groups=groups), seed=4, steps_per_image=6,
                    sleep=SleepParams(lam=0.9, decay_period=2))
    conn, state = init_network(cfg)
    config = RecurrentCoreConfig(cfg, conn, state)
    images = np.random.default_rng(0).integers(0, 256, (2, 6))
    schedule = (WakeBlock(images), SleepEpisode(4))
    records = run_core(config, commands(config, schedule), vcd_path=tmp_path / "core.vcd")
    cmp = compare(config, golden_trace(config, schedule), records)
    assert (cmp.mismatches, cmp.first_mismatch) == (0, None)
    # the decay target of X->E doubled in the reference: the sleep episode's weights differ
    bumped = replace(conn, target=np.where(conn.group == 0, conn.target * 2, conn.target))
    cmp = compare(config, golden_trace(config, schedule, conn=bumped), records)
    assert cmp.mismatches > 0
    assert cmp.first_mismatch.startswith("weights after schedule item 1, synapse ")
    # one weight of the reference changed: the first affected step is named
    m = state.m.copy()
    i, j = np.argwhere(conn.mask)[0]
    m[i, j] += 1 << 14
    cmp = compare(config, golden_trace(config, schedule, state=replace(state, m=m)), records)
    assert cmp.mismatches > 0
    assert cmp.first_mismatch.startswith("step ")
    assert "expected" in cmp.first_mismatch and "actual" in cmp.first_mismatch
    assert cmp.first.position("neuron") is not None


def test_config_and_core_reject_bad_arguments():
    cfg = NetConfig(neuron=NeuronParams(n_input=4, n_exc=2, n_inh=1))
    conn, state = init_network(cfg)
    with pytest.raises(TypeError, match="config must be a RecurrentCoreConfig, not 1"):
        RecurrentCore(1)
    with pytest.raises(TypeError, match="net must be a NetConfig, not None"):
        RecurrentCoreConfig(None, conn, state)
    with pytest.raises(TypeError, match="conn must be a Connectivity, not None"):
        RecurrentCoreConfig(cfg, None, state)
    with pytest.raises(TypeError, match="state must be a NetState, not None"):
        RecurrentCoreConfig(cfg, conn, None)
    with pytest.raises(ValueError, match=r"state.m must have shape \(7, 3\), not \(2, 2\)"):
        RecurrentCoreConfig(cfg, conn, replace(state, m=np.zeros((2, 2), np.int64)))
    with pytest.raises(ValueError, match="state.m must lie within conn.lo..conn.hi"):
        RecurrentCoreConfig(cfg, conn, replace(state, m=state.m + conn.hi + 1))
    with pytest.raises(TypeError, match="schedule items must be WakeBlock or SleepEpisode"):
        commands(RecurrentCoreConfig(cfg, conn, state), (3,))
