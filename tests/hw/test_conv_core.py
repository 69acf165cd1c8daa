# amaranth: UnusedElaboratable=no
"""ConvCore in the Amaranth simulator: bit-exact against sim.conv + sim.lif."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conv_cases import golden, make_config

from spikesmith.hw.common.testing import run_scenario, stream_collect, stream_get, stream_put
from spikesmith.hw.conv.conv_core import ConvCore
from spikesmith.hw.conv.host import decode_feature_events, decode_readback, feature_events
from spikesmith.hw.lif.host import events_to_spikes
from spikesmith.sim.lif import NeuronModel, ResetMode


def run_core(cfg, x, tmp_path, *, throttle=False):
    """Run ``x`` ``(T, batch, n_in)`` through a ConvCore; return (emitted, membranes, spikes)."""
    dut = ConvCore(cfg)
    t_n, batch, _ = x.shape
    events = feature_events(x, cfg.in_shape)
    words: list = []
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
            words.append(p)
            samples += p.eot & p.last
            k += 1
            if throttle and k % 2 == 0:
                await ctx.tick().repeat(3)

    async def monitor(ctx):
        await stream_collect(ctx, dut.readback, records)

    run_scenario(dut, testbenches=[producer, consumer], processes=[monitor],
                 vcd_path=tmp_path / "conv_core.vcd" if tmp_path is not None else None)
    _, h, w = cfg.emit_shape
    events_out = [((p.c * h + p.y) * w + p.x, p.eot, p.last) for p in words]
    emitted = events_to_spikes(events_out, n=math.prod(cfg.emit_shape), timesteps=t_n,
                               batch=batch)
    return emitted, records


CASES = {
    "k3_s1_p1_pool2": dict(kernel=3, stride=1, padding=1, lanes=2, pool=2),
    "k1_p1_backtoback": dict(c_in=3, c_out=1, kernel=1, stride=1, padding=0, lanes=1),
    "k4_s2_p3_if_zero": dict(kernel=4, stride=2, padding=3, lanes=4, c_out=3, size=7,
                             model=NeuronModel.IF, reset=ResetMode.ZERO, membrane_bits=6),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_core_matches_sim_conv(case, tmp_path):
    cfg = make_config(**CASES[case], seed=hash(case) % 1000)
    rng = np.random.default_rng(5)
    t_n, batch = 3, 2
    x = (rng.random((t_n, batch, math.prod(cfg.in_shape))) < 0.4).astype(np.uint8)
    emitted, records = run_core(cfg, x, None)
    exp_emit, exp_s, exp_v = golden(cfg, x)
    mem, spk = decode_readback(cfg, [r.as_value().value for r in records], samples=batch,
                               timesteps=t_n)
    assert emitted.tolist() == exp_emit.tolist()
    assert spk.tolist() == exp_s.tolist()
    assert mem.tolist() == exp_v.tolist()
