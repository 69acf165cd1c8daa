# amaranth: UnusedElaboratable=no
"""ConvCore in the Amaranth simulator: bit-exact against sim.conv + sim.lif.

Output spikes (pooled when the core pools) and every membrane and neuron spike of every
timestep, from the readback, are compared with ``==``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conv_cases import golden, make_config

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
    events = feature_events(x, cfg.in_shape)
    outputs: list = []
    records: list = []

    async def producer(ctx):
        for k, (c, y, xx, value, eot, last) in enumerate(events):
            payload = {"c": c, "y": y, "x": xx, "eot": eot, "last": last}
            if cfg.input_bits > 1:
                payload["value"] = value
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


def random_input(cfg, *, timesteps, batch, density, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((timesteps, batch, math.prod(cfg.in_shape))) < density
    if cfg.input_bits == 1:
        return mask.astype(np.uint8)
    return (rng.integers(0, 256, size=mask.shape) * mask).astype(np.uint8)


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
    x = random_input(cfg, timesteps=3, batch=2, density=0.4, seed=5)
    emitted, mem, spk = run_core(cfg, x, vcd_path=tmp_path / "conv_core.vcd")
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert exp_s.sum() > 0
    assert emitted.tolist() == exp_emit.tolist()
    assert spk.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()


def test_conv_core_under_idle_input_and_backpressure():
    cfg = make_config(kernel=3, stride=2, padding=2, lanes=1, pool=2, size=9, seed=6)
    x = random_input(cfg, timesteps=4, batch=2, density=0.5, seed=7)
    emitted, mem, spk = run_core(cfg, x, throttle=True)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    assert exp_emit.sum() > 0
    assert (emitted.tolist(), spk.tolist(), mem.tolist()) == (
        exp_emit.tolist(), exp_s.tolist(), exp_v.tolist())


def test_conv_core_comparison_fails_on_an_off_by_one_reference():
    """The checker is checked: a reference with every synaptic input off by one differs."""
    cfg = make_config(kernel=3, stride=1, padding=1, lanes=2, pool=2, seed=1)
    x = random_input(cfg, timesteps=3, batch=1, density=0.4, seed=5)
    _, mem, _ = run_core(cfg, x)
    _, _, wrong_v = golden(cfg, x, bias_offset=1)
    assert mem.tolist() != wrong_v.tolist()
