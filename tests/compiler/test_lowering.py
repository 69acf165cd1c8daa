"""Lowering: the compiled network equals the model's hardware-exact mode, bit for bit."""

import numpy as np
import pytest
import torch

from spikesmith.compiler.driver import compile_model
from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.irfile import load_ir, save_ir
from spikesmith.compiler.lowering import to_network_config, to_network_params
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.verify import IRError
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import run_network


def _assert_same_trace(a, b):
    assert np.array_equal(a.inputs, b.inputs)
    assert len(a.spikes) == len(b.spikes)
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert np.array_equal(x, y)
    for x, y in zip(a.membranes, b.membranes, strict=True):
        assert np.array_equal(x, y)
    assert np.array_equal(a.counts, b.counts)
    assert np.array_equal(a.predictions, b.predictions)


@pytest.mark.parametrize(("seed", "encoding", "model", "reset"), [
    (0, Encoding.RATE, NeuronModel.LIF, ResetMode.SUBTRACT),
    (1, Encoding.DIRECT, NeuronModel.IF, ResetMode.ZERO),
    (2, Encoding.LATENCY, NeuronModel.LIF, ResetMode.ZERO),
    (3, Encoding.DIRECT, NeuronModel.LIF, ResetMode.SUBTRACT),
])
def test_compiled_network_equals_model_hardware_exact_mode(seed, encoding, model, reset):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = SpikingMLP([24, 12, 8, 5], weight_bits=int(rng.integers(3, 9)), membrane_bits=16,
                     timesteps=6, encoder=EncoderParams(encoding, seed=1 + seed), model=model,
                     reset=reset, leak_shift=int(rng.integers(1, 6)), init_gain=3.0,
                     threshold=float(rng.uniform(0.3, 1.5)))
    images = rng.integers(0, 256, size=(40, 24))
    compiled = compile_model(net, lanes=4)
    expected = net.evaluate_hardware(images)
    assert sum(int(s.sum()) for s in expected.spikes) > 0  # the comparison is not vacuous
    _assert_same_trace(expected, run_network(compiled.params, images))


def test_network_survives_the_ir_file(tmp_path, tiny_net):
    net = tiny_net(Encoding.DIRECT)
    g = lower(from_torch(net), lanes=2)
    path = save_ir(tmp_path / "net.ir", g)
    images = np.arange(60, dtype=np.int64).reshape(10, 6) * 4
    _assert_same_trace(net.evaluate_hardware(images),
                       run_network(to_network_params(load_ir(path)), images))


def test_network_config_carries_the_proven_widths(tiny_net):
    compiled = compile_model(tiny_net(Encoding.DIRECT), lanes=2)
    cfg = compiled.config
    assert cfg.timesteps == 4
    assert cfg.encoder == EncoderParams(Encoding.DIRECT)
    assert [(c.name, c.n_in, c.n_out, c.weight_bits, c.input_bits, c.lanes) for c in
            cfg.cores] == [("layers_0", 6, 4, 4, 8, 2), ("layers_2", 4, 3, 4, 1, 2)]
    for core, layer, bound in zip(cfg.cores, compiled.params.layers,
                                  compiled.params.bounds(), strict=True):
        assert np.array_equal(core.weights, layer.weights)
        assert core.lif == layer.lif
        assert bound <= (1 << (core.acc_bits - 1)) - 1
    # layer 0: bound 255 * 26 = 6630 needs 14 bits; layer 1: bound 20 needs 6 bits.
    assert [c.acc_bits for c in cfg.cores] == [14, 6]


def test_network_config_can_repartition(tiny_net):
    g = lower(from_torch(tiny_net()), lanes=1)
    assert [c.lanes for c in to_network_config(g, lanes=8).cores] == [8, 8]
    assert [c.lanes for c in to_network_config(g).cores] == [1, 1]


def test_lowering_needs_a_lowered_graph(tiny_net):
    g = from_torch(tiny_net())
    with pytest.raises(IRError, match=r"a lowered graph must be integer-only"):
        to_network_params(g)
    with pytest.raises(IRError, match=r"accumulator width not inferred"):
        to_network_config(g, lanes=2)
