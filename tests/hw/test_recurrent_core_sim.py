# amaranth: UnusedElaboratable=no
"""RecurrentCore in the Amaranth simulator: bit-exact against sim.recurrent_net on random
small configurations (hypothesis), including sleep episodes, reseeded LFSRs and weight dumps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikeforge.hw.recurrent_bench import (
    CoreRecords,
    SleepEpisode,
    WakeBlock,
    commands,
    compare,
    golden_trace,
    reseed_commands,
)
from spikeforge.hw.recurrent_core import RecurrentCore, RecurrentCoreConfig
from spikeforge.hw.recurrent_streams import recurrent_command_layout
from spikeforge.hw.testing import run_scenario, stream_put
from spikeforge.sim.recurrent import GroupSpec, NeuronParams, SynapseGroup
from spikeforge.sim.recurrent_net import NetConfig, init_network
from spikeforge.sim.sleep import SleepParams
from spikeforge.sim.stdp import StdpParams, StdpPolarity


def run_core(config: RecurrentCoreConfig, words: list[int], vcd_path=None) -> CoreRecords:
    """Send ``words`` to a fresh core and collect every record (Amaranth simulator)."""
    dut = RecurrentCore(config)
    p = config.net.neuron
    layout = recurrent_command_layout(max(p.n_input, p.n_post))
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
    count, first = compare(config, trace, run_core(config, words))
    assert (count, first) == (0, None)


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
    assert compare(config, golden_trace(config, schedule), records) == (0, None)
    # the decay target of X->E doubled in the reference: the sleep episode's weights differ
    bumped = replace(conn, target=np.where(conn.group == 0, conn.target * 2, conn.target))
    count, first = compare(config, golden_trace(config, schedule, conn=bumped), records)
    assert count > 0
    assert first.startswith("weights after schedule item 1, synapse ")
    # one weight of the reference changed: the first affected step is named
    m = state.m.copy()
    i, j = np.argwhere(conn.mask)[0]
    m[i, j] += 1 << 14
    count, first = compare(config, golden_trace(config, schedule, state=replace(state, m=m)),
                           records)
    assert count > 0
    assert first.startswith("step ")
    assert "expected" in first and "actual" in first


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
