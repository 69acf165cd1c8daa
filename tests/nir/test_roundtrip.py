"""``export --nir`` then ``import``: the same IR (small dense networks of every encoding, model
and reset, and every preset network, dense and conv); the written float parameters compute our
integers (IF networks: exactly, by NIR's own equations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nir_helpers import euler_reference, nir

from spikesmith.compiler.driver import compile_model
from spikesmith.compiler.frontend.nir import read_nir
from spikesmith.compiler.ir import structurally_equal
from spikesmith.compiler.nir_export import DT, to_nir
from spikesmith.compiler.render import render
from spikesmith.model.network import SpikingMLP
from spikesmith.nir_stage import ImportOptions, float_graph, network_from_graph, resolve_options
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import run_network

CASES = [
    (Encoding.DIRECT, NeuronModel.LIF, ResetMode.SUBTRACT, 3, 8, 22),
    (Encoding.RATE, NeuronModel.IF, ResetMode.ZERO, 4, 4, 12),
    (Encoding.LATENCY, NeuronModel.LIF, ResetMode.ZERO, 5, 6, 10),
    (Encoding.DIRECT, NeuronModel.IF, ResetMode.ZERO, 4, 8, 24),
]


def _net(encoding, model, reset, k, bits, membrane, *, seed=0):
    torch.manual_seed(seed)
    net = SpikingMLP([12, 9, 7, 4], weight_bits=bits, membrane_bits=membrane, timesteps=6,
                     encoder=EncoderParams(encoding, seed=0x1234), model=model, leak_shift=k,
                     reset=reset, threshold=0.6)
    return net.eval()


def _reimport(path, lanes=2):
    graph = read_nir(path)
    r = resolve_options(ImportOptions(nir=str(path)), graph)
    net = network_from_graph(float_graph(graph, r), membrane_bits=r["membrane_bits"])
    return compile_model(net, lanes=lanes).graph


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v).split(".")[-1]
                                                                for v in c))
def test_export_then_import_gives_the_same_ir(case, tmp_path):
    ours = compile_model(_net(*case), lanes=2).graph
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(ours))
    back = _reimport(path)
    assert structurally_equal(back, ours)
    assert render(back) == render(ours)


def test_nir_equations_on_the_written_if_network_give_our_integer_spikes(tmp_path):
    net = _net(Encoding.DIRECT, NeuronModel.IF, ResetMode.ZERO, 4, 8, 24)
    compiled = compile_model(net, lanes=2)
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(compiled.graph))
    images = np.random.default_rng(3).integers(0, 256, (40, 12), dtype=np.uint8)
    trace = run_network(compiled.params, images)
    ref = euler_reference(read_nir(path), images / 255.0, dt=DT, timesteps=6)
    assert sum(int(s.sum()) for s in trace.spikes) > 50
    for ours, theirs in zip(trace.spikes, ref, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_the_integer_formats_are_in_the_node_metadata(tmp_path):
    compiled = compile_model(_net(*CASES[0]), lanes=2)
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(compiled.graph))
    g = read_nir(path)
    lif, dense, inp = g.nodes["layers_1"], g.nodes["layers_0"], g.nodes["input"]
    assert int(lif.metadata["spikesmith.threshold"]) == compiled.params.layers[0].lif.threshold
    assert int(lif.metadata["spikesmith.leak_shift"]) == 3
    assert int(lif.metadata["spikesmith.membrane_bits"]) == 22
    assert str(lif.metadata["spikesmith.reset"]) == "subtract"
    assert int(dense.metadata["spikesmith.weight_bits"]) == 8
    assert int(dense.metadata["spikesmith.acc_bits"]) == compiled.config.cores[0].acc_bits
    assert str(inp.metadata["spikesmith.encoding"]) == "direct"
    assert int(inp.metadata["spikesmith.timesteps"]) == 6


def _preset(dataset: str, arch: str | None):
    """The recipe's network, freshly initialised, with random BatchNorm statistics (so the
    folded conv biases are not zero)."""
    from spikesmith.datasets import load_dataset
    from spikesmith.recipes import recipe_for

    net = recipe_for(dataset, arch=arch).build(load_dataset(dataset))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0),
                                  (m.weight, 0.5, 1.5), (m.bias, -0.3, 0.3)):
                    t.copy_(torch.rand(t.shape, generator=gen) * (hi - lo) + lo)
    return net.eval()


@pytest.mark.parametrize("dataset, arch", [("digits", None), ("mnist5k", None),
                                           ("digits", "8c3p1-p2-32-10"), ("mnist5k", "conv")])
def test_every_preset_network_survives_export_then_import(dataset, arch, tmp_path):
    ours = compile_model(_preset(dataset, arch), lanes=8).graph
    path = tmp_path / "net.nir"
    nir.write(path, to_nir(ours))
    back = _reimport(path, lanes=8)
    assert structurally_equal(back, ours)
    assert render(back) == render(ours)
