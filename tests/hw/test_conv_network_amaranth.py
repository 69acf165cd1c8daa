# amaranth: UnusedElaboratable=no
"""ConvNetwork (conv + pool -> conv -> flatten -> dense) in the Amaranth simulator against
sim.network.run_network: output spikes and every core's membranes at every timestep."""

from __future__ import annotations

import numpy as np
import pytest
from conv_cases import make_network

from spikesmith.hw.common.testing import run_scenario, stream_collect, stream_get, stream_put
from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.conv_network import ConvNetwork
from spikesmith.hw.conv.host import decode_readback, feature_events
from spikesmith.hw.conv.network_config import ConvNetworkConfig
from spikesmith.hw.lif.host import events_to_spikes
from spikesmith.sim.encoders import Encoding
from spikesmith.sim.network import run_network


def run_network_core(config: ConvNetworkConfig, x: np.ndarray):
    """Run encoded input ``x`` ``(T, batch, n_in)``; return output spikes and per-core
    readback words."""
    dut = ConvNetwork(config)
    t_n, batch, _ = x.shape
    first = config.cores[0]
    outputs: list = []
    records: list[list] = [[] for _ in config.cores]

    async def producer(ctx):
        for c, y, xx, value, eot, last in feature_events(x, first.in_shape):
            payload = {"c": c, "y": y, "x": xx, "eot": eot, "last": last}
            if first.input_bits > 1:
                payload["value"] = value
            await stream_put(ctx, dut.i, payload)

    async def consumer(ctx):
        while sum(p.eot & p.last for p in outputs) < batch:
            outputs.append(await stream_get(ctx, dut.o))

    def monitor(k):
        async def run(ctx):
            await stream_collect(ctx, getattr(dut, f"readback_{k}"), records[k])
        return run

    run_scenario(dut, testbenches=[producer, consumer],
                 processes=[monitor(k) for k in range(len(config.cores))])
    n_out = config.cores[-1].n_out
    spikes = events_to_spikes([(p.index, p.eot, p.last) for p in outputs], n=n_out,
                              timesteps=t_n, batch=batch)
    return spikes, [[r.as_value().value for r in rec] for rec in records]


@pytest.mark.parametrize("encoding", [Encoding.RATE, Encoding.DIRECT])
def test_conv_network_matches_sim_network(encoding):
    params, config = make_network(seed=1, encoding=encoding)
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(2, params.layers[0].n_in), dtype=np.uint8)
    trace = run_network(params, images)
    spikes, records = run_network_core(config, trace.inputs)
    assert trace.spikes[-1].sum() > 0
    assert spikes.tolist() == trace.spikes[-1].tolist()
    # conv cores: membranes and neuron spikes of every timestep (layers 0 and 2 of params)
    for core_idx, layer_idx in ((0, 0), (1, 2)):
        cfg = config.cores[core_idx]
        assert isinstance(cfg, ConvCoreConfig)
        mem, spk = decode_readback(cfg, records[core_idx], samples=2, timesteps=params.timesteps)
        assert mem.tolist() == trace.membranes[layer_idx].tolist()
        assert spk.tolist() == trace.spikes[layer_idx].tolist()
