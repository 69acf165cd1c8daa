# amaranth: UnusedElaboratable=no
"""The conv core's cycle model (hw.conv.cycles) against the Amaranth simulation, cycle for
cycle: input always valid, output always ready."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conv_cases import event_payloads, make_config, model_marker_cycles

from spikesmith.hw.common.testing import run_scenario, stream_put
from spikesmith.hw.conv.conv_core import ConvCore
from spikesmith.hw.conv.cycles import synaptic_ops_per_cycle


def measured_marker_cycles(cfg, x) -> list[int]:
    """Run one sample; return the cycle of each output marker, from the first input accept."""
    dut = ConvCore(cfg)
    markers: list[int] = []
    first: list[int] = []

    async def producer(ctx):
        for payload in event_payloads(cfg, x):
            await stream_put(ctx, dut.i, payload)

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        cycle = 0
        async for _clk, _rst, i_valid, i_ready, o_valid, o_eot in ctx.tick().sample(
                dut.i.valid, dut.i.ready, dut.o.valid, dut.o.payload.eot):
            if i_valid and i_ready and not first:
                first.append(cycle)
            if o_valid and o_eot:
                markers.append(cycle)
                if len(markers) == x.shape[0]:
                    return
            cycle += 1

    run_scenario(dut, testbenches=[producer, consumer])
    return [m - first[0] for m in markers]




@pytest.mark.parametrize(("kwargs", "density"), [
    # pooling, dense spikes: the serialiser and the queue stall the pass
    (dict(kernel=3, stride=1, padding=1, lanes=2, c_out=4, pool=2, threshold=1, seed=1), 0.6),
    # stride 2 with tapless rows, one lane, sparse input, empty timesteps
    (dict(kernel=2, stride=2, padding=0, lanes=1, size=7, threshold=3, seed=2), 0.1),
    # 1x1 kernel, many spikes per queue entry (4 lanes), no pooling
    (dict(kernel=1, stride=1, padding=0, lanes=4, c_in=2, c_out=4, size=5, threshold=1,
          seed=3), 0.9),
])
def test_cycle_model_matches_simulation_exactly(kwargs, density):
    cfg = make_config(**kwargs)
    rng = np.random.default_rng(4)
    x = (rng.random((4, 1, math.prod(cfg.in_shape))) < density).astype(np.uint8)
    x[1] = 0  # an empty timestep
    assert measured_marker_cycles(cfg, x) == model_marker_cycles(cfg, x)


def test_conv_core_synaptic_ops_per_cycle_per_lane():
    """A 5x5 'same' convolution of a dense 12x12 input: above 0.9 operations per cycle per lane
    (the target of issue 13)."""
    cfg = make_config(kernel=5, stride=1, padding=2, lanes=4, c_in=2, c_out=8, size=12)
    c_in, h, w = cfg.in_shape
    events = [(c, y, x) for c in range(c_in) for y in range(h) for x in range(w)]
    assert synaptic_ops_per_cycle(cfg, events) / cfg.lanes >= 0.9
