# amaranth: UnusedElaboratable=no
"""ConvCore in the Amaranth simulator: bit-exact against sim.conv + sim.lif.

Output spikes (pooled when the core pools) and every membrane and neuron spike of every
timestep, from the readback, are compared with ``==``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math

import numpy as np
import pytest
from conv_cases import event_payloads, golden, make_config, random_input
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from spikesmith.hw.common.mem import block_region
from spikesmith.hw.common.testing import run_scenario, stream_collect, stream_get, stream_put
from spikesmith.hw.conv.conv_core import ConvCore
from spikesmith.hw.conv.host import decode_readback, feature_events
from spikesmith.hw.lif.host import events_to_spikes
from spikesmith.sim.lif import NeuronModel, ResetMode


def run_core(cfg, x, *, throttle=False, vcd_path=None):
    """Run ``x`` ``(T, batch, n_in)`` through a ConvCore; return ``(emitted, membranes, neuron
    spikes)``, each ``(T, batch, n)``."""
    dut = ConvCore(cfg)
    t_n, batch, _ = x.shape
    outputs: list = []
    records: list = []

    async def producer(ctx):
        for k, payload in enumerate(event_payloads(cfg, x)):
            await stream_put(ctx, dut.i, payload)
            if throttle and k % 3 == 0:
                await ctx.tick().repeat(2)

    async def consumer(ctx):
        samples = k = 0
        while samples < batch:
            p = await stream_get(ctx, dut.o)
            outputs.append(p)
            samples += p.eot & p.last
            k += 1
            if throttle and k % 2 == 0:
                await ctx.tick().repeat(3)

    async def monitor(ctx):
        await stream_collect(ctx, dut.readback, records)

    run_scenario(dut, testbenches=[producer, consumer], processes=[monitor], vcd_path=vcd_path)
    _, h, w = cfg.emit_shape
    flat = [((p.c * h + p.y) * w + p.x, p.eot, p.last) for p in outputs]
    emitted = events_to_spikes(flat, n=math.prod(cfg.emit_shape), timesteps=t_n, batch=batch)
    mem, spk = decode_readback(cfg, [r.as_value().value for r in records], samples=batch,
                               timesteps=t_n)
    return emitted, mem, spk


CASES = {
    # pooling 2x2 of a 6x6 map, padding keeps the size, bias, reset by subtraction
    "k3_s1_p1_pool2": dict(kernel=3, stride=1, padding=1, lanes=2, pool=2, seed=1),
    # 1x1 kernel, one channel group: consecutive events hit the same state word
    "k1_backtoback": dict(c_in=3, c_out=1, kernel=1, stride=1, padding=0, lanes=1, seed=2),
    # stride 2 with rows that reach no output, padded last group, IF, 6-bit saturating membrane
    "k4_s2_p3_if_zero": dict(kernel=4, stride=2, padding=3, lanes=4, c_out=3, size=7,
                             model=NeuronModel.IF, reset=ResetMode.ZERO, membrane_bits=6,
                             seed=3),
    # direct current (weight x 8-bit pixel per lane), pooling 3 with dropped rows
    "direct_pool3": dict(kernel=2, stride=1, padding=0, lanes=2, c_in=1, c_out=2, size=8,
                         pool=3, input_bits=8, membrane_bits=16, threshold=700, seed=4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_core_matches_sim_conv(case, tmp_path):
    cfg = make_config(**CASES[case])
    x = random_input(cfg, np.random.default_rng(5), timesteps=3, batch=2, density=0.4)
    emitted, mem, spk = run_core(cfg, x, vcd_path=tmp_path / "conv_core.vcd")
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert exp_s.sum() > 0
    assert emitted.tolist() == exp_emit.tolist()
    assert spk.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()


def test_conv_core_with_block_side_and_tail_state_memory():
    """A state memory of 1 152 words of 22 bits: 1 024 x 18 bits in the block region, 1 024 x 4
    bits beside it and 128 words after it (``hw.common.mem.SplitMemory``)."""
    cfg = make_config(c_in=1, c_out=4, lanes=2, size=24, kernel=1, padding=0, pool=2, seed=6)
    assert (cfg.state_words, cfg.lanes * cfg.state_bits) == (1152, 22)
    assert block_region(22, 1152) == (1024, 18)
    x = random_input(cfg, np.random.default_rng(6), timesteps=2, batch=1, density=0.3)
    emitted, mem, spk = run_core(cfg, x)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert exp_s.sum() > 0
    assert emitted.tolist() == exp_emit.tolist()
    assert spk.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()


def test_conv_core_under_idle_input_and_backpressure():
    cfg = make_config(kernel=3, stride=2, padding=2, lanes=1, pool=2, size=9, seed=6)
    x = random_input(cfg, np.random.default_rng(7), timesteps=4, batch=2, density=0.5)
    emitted, mem, spk = run_core(cfg, x, throttle=True)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert exp_emit.sum() > 0
    assert (emitted.tolist(), spk.tolist(), mem.tolist()) == (
        exp_emit.tolist(), exp_s.tolist(), exp_v.tolist())


def test_conv_core_comparison_fails_on_an_off_by_one_reference():
    """The checker is checked: a reference with every synaptic input off by one differs."""
    cfg = make_config(kernel=3, stride=1, padding=1, lanes=2, pool=2, seed=1)
    x = random_input(cfg, np.random.default_rng(5), timesteps=3, batch=1, density=0.4)
    _, mem, _ = run_core(cfg, x)
    _, _, wrong_v = golden(cfg, x, bias_offset=1)
    assert mem.tolist() != wrong_v.tolist()


@settings(max_examples=6, deadline=None, derandomize=True)
@given(
    kernel=st.integers(1, 5), stride=st.integers(1, 2), data=st.data(),
    c_in=st.integers(1, 4), c_out=st.integers(1, 4), size=st.integers(4, 12),
    lanes=st.sampled_from([1, 2, 4]), pool=st.sampled_from([None, 2, 3]),
    reset=st.sampled_from(list(ResetMode)), model=st.sampled_from(list(NeuronModel)),
    seed=st.integers(0, 2**32 - 1),
)
def test_conv_core_random_shapes_match_sim_conv(kernel, stride, data, c_in, c_out, size,
                                                lanes, pool, reset, model, seed):
    padding = data.draw(st.integers(0, kernel - 1), label="padding")
    out = (size + 2 * padding - kernel) // stride + 1
    assume(out >= 1 and (pool is None or pool <= out))
    cfg = make_config(c_in=c_in, c_out=c_out, size=size, kernel=kernel, stride=stride,
                      padding=padding, lanes=lanes, pool=pool, reset=reset, model=model,
                      threshold=4, seed=seed % 1000)
    x = random_input(cfg, np.random.default_rng(seed), timesteps=3, batch=1, density=0.3)
    emitted, mem, spk = run_core(cfg, x)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert (emitted.tolist(), spk.tolist(), mem.tolist()) == (
        exp_emit.tolist(), exp_s.tolist(), exp_v.tolist())


def test_conv_core_clear_restarts_a_sample_from_the_bias():
    """``clear`` between two runs of timesteps without a ``last`` marker: the second run starts
    from v = 0 exactly as a fresh sample."""
    cfg = make_config(kernel=3, stride=1, padding=1, lanes=2, c_out=3, seed=8)
    x = random_input(cfg, np.random.default_rng(9), timesteps=2, batch=1, density=0.5)
    dut = ConvCore(cfg)
    outputs: list = []
    records: list = []

    async def producer(ctx):
        for _ in range(2):
            for c, y, xx, _v, eot, _last in feature_events(x, cfg.in_shape):
                await stream_put(ctx, dut.i, {"c": c, "y": y, "x": xx, "eot": eot, "last": 0})
            await ctx.tick().until(~dut.busy)
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            await ctx.tick().until(~dut.busy)

    async def consumer(ctx):
        while sum(p.eot for p in outputs) < 4:
            outputs.append(await stream_get(ctx, dut.o))

    async def monitor(ctx):
        await stream_collect(ctx, dut.readback, records)

    run_scenario(dut, testbenches=[producer, consumer], processes=[monitor])
    words = [r.as_value().value for r in records]
    mem, _ = decode_readback(cfg, words, samples=2, timesteps=2)
    _, _, exp_v = golden(cfg, x)
    assert mem[:, 0].tolist() == exp_v[:, 0].tolist()
    assert mem[:, 1].tolist() == exp_v[:, 0].tolist()


def _flip_first_weight(original):
    def pack(cfg):
        words = original(cfg)
        return [words[0] ^ 1, *words[1:]]
    return pack


def _swap_rows_1_and_2(original):
    def taps(cfg, *, axis):
        t = list(original(cfg, axis=axis))
        if axis == 1:
            t[1], t[2] = t[2], t[1]
        return tuple(t)
    return taps


def _drop_last_rows_last_tap(original):
    def taps(cfg, *, axis):
        t = list(original(cfg, axis=axis))
        if axis == 1:
            t[-1] = dataclasses.replace(t[-1], n=t[-1].n - 1)
        return tuple(t)
    return taps


@pytest.mark.parametrize(("target", "fault"), [
    ("spikesmith.hw.conv.conv_core.pack_weight_words", _flip_first_weight),      # wrong weight
    ("spikesmith.hw.conv.tap_generator.axis_taps", _swap_rows_1_and_2),          # wrong address
    ("spikesmith.hw.conv.tap_generator.axis_taps", _drop_last_rows_last_tap),    # border
], ids=["wrong_weight", "wrong_address", "off_by_one_border"])
def test_conv_core_bench_catches_a_faulty_core(monkeypatch, target, fault):
    """The checker is checked from the other side: a core built with a fault injected into its
    weight image or its tap tables must mismatch the golden model."""
    cfg = make_config(kernel=3, stride=1, padding=1, lanes=2, seed=10)
    x = random_input(cfg, np.random.default_rng(11), timesteps=3, batch=1, density=0.6)
    module, name = target.rsplit(".", 1)
    monkeypatch.setattr(f"{module}.{name}", fault(getattr(importlib.import_module(module), name)))
    _, mem, _ = run_core(cfg, x)
    assert mem.tolist() != golden(cfg, x)[2].tolist()
