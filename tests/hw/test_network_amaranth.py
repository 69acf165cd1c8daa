# amaranth: UnusedElaboratable=no
"""Network top level in the Amaranth simulator against sim.network; generation and layouts."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from spikesmith.hw.common.streams import (
    current_event_layout,
    index_bits,
    membrane_readback_layout,
    pack,
    spike_event_layout,
    unpack,
)
from spikesmith.hw.common.testing import run_scenario, stream_collect, stream_get, stream_put
from spikesmith.hw.lif.config import NetworkConfig
from spikesmith.hw.lif.generate import MANIFEST_NAME, TOP_NAME, generate, load_design
from spikesmith.hw.lif.host import events_to_spikes, input_events
from spikesmith.hw.lif.manifest import PortDirection
from spikesmith.hw.lif.network import Network
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, NetworkParams, run_network
from spikesmith.verification.lif import network_config_for, verify_network


def _params(encoding=Encoding.RATE, timesteps=3) -> NetworkParams:
    rng = np.random.default_rng(4)
    return NetworkParams(
        layers=(
            DenseLayer(weights=rng.integers(-4, 8, size=(7, 9)), weight_bits=4,
                       lif=LIFParams(threshold=5 if encoding is Encoding.RATE else 600,
                                     leak_shift=2, membrane=FixedFormat(12))),
            DenseLayer(weights=rng.integers(-8, 8, size=(3, 7)), weight_bits=4,
                       lif=LIFParams(threshold=3, model=NeuronModel.IF, reset=ResetMode.ZERO,
                                     membrane=FixedFormat(8))),
        ),
        encoder=EncoderParams(encoding),
        timesteps=timesteps,
    )


@pytest.mark.parametrize("encoding", [Encoding.RATE, Encoding.DIRECT])
def test_network_matches_sim_network(tmp_path, encoding):
    params = _params(encoding)
    cfg = network_config_for(params, lanes=(2, 4))
    dut = Network(cfg)
    images = np.random.default_rng(5).integers(0, 256, size=(3, 9)).astype(np.uint8)
    trace = run_network(params, images)
    events = input_events(trace.inputs)
    out: list[tuple[int, int, int]] = []
    rb0: list = []
    rb1: list = []

    async def producer(ctx):
        for index, value, eot, last in events:
            payload = {"index": index, "eot": eot, "last": last}
            if encoding is Encoding.DIRECT:
                payload["value"] = value
            await stream_put(ctx, dut.i, payload)

    async def consumer(ctx):
        done = 0
        while done < images.shape[0]:
            p = await stream_get(ctx, dut.o)
            out.append((p.index, p.eot, p.last))
            done += p.eot & p.last
        await ctx.tick()
        assert ctx.get(dut.samples_done) == images.shape[0]

    async def mon0(ctx):
        await stream_collect(ctx, dut.readback_0, rb0)

    async def mon1(ctx):
        await stream_collect(ctx, dut.readback_1, rb1)

    run_scenario(dut, testbenches=[producer, consumer], processes=[mon0, mon1],
                 vcd_path=tmp_path / "network.vcd")
    got = events_to_spikes(out, n=3, timesteps=params.timesteps, batch=images.shape[0])
    assert got.tolist() == trace.spikes[1].tolist()
    groups0 = 4  # ceil(7 / 2)
    mem0 = np.array([[int(v) for v in r.membranes] for r in rb0]).reshape(
        images.shape[0], params.timesteps, groups0 * 2)[..., :7].transpose(1, 0, 2)
    assert mem0.tolist() == trace.membranes[0].tolist()
    mem1 = np.array([[int(v) for v in r.membranes] for r in rb1]).reshape(
        images.shape[0], params.timesteps, 4)[..., :3].transpose(1, 0, 2)
    assert mem1.tolist() == trace.membranes[1].tolist()


def test_generate_writes_verilog_with_weight_init_and_manifest(tmp_path):
    params = _params()
    design = generate(network_config_for(params, lanes=2), tmp_path / "d")
    text = design.verilog.read_text()
    assert f"module {TOP_NAME}(" in text
    assert "weights[0] = " in text
    assert design.rtlil.read_text().startswith("attribute") or "module" in design.rtlil.read_text()
    text = (tmp_path / "d" / MANIFEST_NAME).read_text()
    assert text == design.manifest.to_json()
    manifest = json.loads(text)
    names = {p["name"]: p for p in manifest["ports"]}
    assert names["i__payload"] == {"name": "i__payload", "dir": "in", "width": 6}
    assert design.manifest.port("o__ready").direction is PortDirection.IN
    assert "readback_0__ready" not in names  # always ready: no port
    assert [c.groups for c in design.manifest.cores] == [4, 2]
    assert [c["groups"] for c in manifest["cores"]] == [4, 2]
    assert load_design(tmp_path / "d").manifest == design.manifest
    assert not list((tmp_path / "d").glob("*.tmp"))


def test_load_design_names_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"must contain design\.json"):
        load_design(tmp_path)


def test_network_rejects_direct_current_into_hidden_core():
    params = _params()
    cfg = network_config_for(params, lanes=2)
    c0, c1 = cfg.cores
    bad = NetworkConfig(cores=(c0, replace(c1, input_bits=8)), timesteps=3)
    with pytest.raises(ValueError, match=r"core 'fc1' must take spike input \(input_bits 1\) "
                                         r"since it follows 'fc0', not input_bits 8"):
        Network(bad)


def test_network_rejects_non_config():
    with pytest.raises(TypeError, match=r"config must be a NetworkConfig, not 'x'"):
        Network("x")


def test_layouts_pack_unpack_round_trip():
    lay = current_event_layout(784, 8)
    word = pack(lay, index=783, value=200, eot=0, last=1)
    assert unpack(lay, word) == {"index": 783, "value": 200, "eot": 0, "last": 1}
    rb = membrane_readback_layout(10, membrane_bits=6, lanes=4)
    w = 8 | (((-3) & 63) << 4) | (31 << 10) | (0b0101 << 28)
    assert unpack(rb, w) == {"index": 8, "membranes": [-3, 31, 0, 0], "spikes": 0b0101}
    assert index_bits(1) == 1 and index_bits(2) == 1 and index_bits(3) == 2
    assert [name for name, _ in spike_event_layout(5)] == ["index", "eot", "last"]


def test_pack_names_the_bad_field():
    with pytest.raises(ValueError, match=r"field 'index' must be in 0\.\.7, not 8"):
        pack(spike_event_layout(8), index=8)
    with pytest.raises(ValueError, match=r"fields must be among \['eot', 'index', 'last'\], "
                                         r"not \['bogus'\]"):
        pack(spike_event_layout(8), bogus=1)


def test_events_to_spikes_names_a_missing_marker():
    with pytest.raises(ValueError, match=r"output events ended in sample 0 timestep 1, "
                                         r"expected 1 complete samples"):
        events_to_spikes([(0, 0, 0), (0, 1, 0)], n=2, timesteps=2, batch=1)


def test_verify_network_rejects_mismatched_params(tmp_path):
    params = _params()
    design = generate(network_config_for(params, lanes=2), tmp_path / "d")
    other = NetworkParams(layers=(params.layers[0],), encoder=params.encoder, timesteps=3)
    with pytest.raises(ValueError, match=r"params layer shapes must match the design's cores "
                                         r"\[\(9, 7\), \(7, 3\)\], not \[\(9, 7\)\]"):
        verify_network(design=design, params=other, images=np.zeros((2, 9), np.uint8),
                       membrane_samples=0, build_dir=tmp_path / "b")
    with pytest.raises(ValueError, match=r"membrane_samples must be in 0\.\.2, not 3"):
        verify_network(design=design, params=params, images=np.zeros((2, 9), np.uint8),
                       membrane_samples=3, build_dir=tmp_path / "b")
