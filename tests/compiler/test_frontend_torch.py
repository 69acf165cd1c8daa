"""from_torch: the graph of a SpikingMLP, and every unsupported or misplaced layer at once."""

import numpy as np
import pytest
import torch
from torch import nn

from spikesmith.compiler.frontend.torch import (
    ModelStructureError,
    UnsupportedLayerError,
    from_torch,
)
from spikesmith.compiler.ir import Op
from spikesmith.compiler.verify import verify
from spikesmith.model.layers import LIFNeuron, QuantDense
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode


def test_graph_mirrors_the_model(tiny_net):
    net = tiny_net()
    g = from_torch(net)
    verify(g)
    assert [(n.name, n.op) for n in g.nodes] == [
        ("input", Op.INPUT), ("layers.0", Op.DENSE), ("layers.1", Op.LIF),
        ("layers.2", Op.DENSE), ("layers.3", Op.LIF), ("output", Op.OUTPUT)]
    d0 = g.node("layers.0").arg
    assert np.array_equal(d0.weights, net.layers[0].weight.detach().numpy().astype(np.float64))
    assert d0.bits == 4
    assert d0.input_scale == 1 / 255
    assert g.node("layers.2").arg.input_scale == 1.0
    lif = g.node("layers.3").arg
    assert (lif.threshold, lif.model, lif.leak_shift, lif.reset, lif.membrane.width) == (
        1.25, NeuronModel.LIF, 3, ResetMode.SUBTRACT, 14)
    assert g.node("input").arg.timesteps == 4


def test_dropout_and_identity_are_dropped(tiny_net):
    net = tiny_net(Encoding.RATE)
    plain = from_torch(net)
    net.layers = nn.ModuleList([nn.Dropout(0.2), net.layers[0], net.layers[1], nn.Identity(),
                                net.layers[2], nn.Dropout(0.1), net.layers[3]])
    g = from_torch(net)
    assert [n.name for n in g.nodes] == ["input", "layers.1", "layers.2", "layers.4",
                                         "layers.6", "output"]
    assert all(np.array_equal(a.arg.weights, b.arg.weights)
               for a, b in zip(g.of_op(Op.DENSE), plain.of_op(Op.DENSE), strict=True))


def test_every_unsupported_layer_is_reported_at_once(tiny_net):
    net = tiny_net()
    net.layers = nn.ModuleList([
        net.layers[0], nn.BatchNorm1d(4), net.layers[1], nn.Conv2d(1, 1, 3),
        nn.Linear(4, 3), nn.ReLU(), net.layers[3], nn.GRU(2, 2)])
    with pytest.raises(UnsupportedLayerError) as info:
        from_torch(net)
    accepted = ("accepted: QuantDense, QuantConv2d, BatchNorm2d (after a QuantConv2d), "
                "LIFNeuron, SpikePool, Flatten, Dropout and Identity (identity at inference)")
    assert str(info.value).splitlines() == [
        "5 unsupported layer(s):",
        ("  layers.1 (BatchNorm1d): a dense synapse has no bias in the integer contract, so "
         f"BatchNorm1d cannot be folded; use BatchNorm2d after a QuantConv2d; {accepted}"),
        ("  layers.3 (Conv2d): a float nn.Conv2d has no quantised integer weights; use "
         f"QuantConv2d; {accepted}"),
        ("  layers.4 (Linear): a float nn.Linear has no quantised integer weights; use "
        f"QuantDense; {accepted}"),
        ("  layers.5 (ReLU): non-spiking activations are not supported; use LIFNeuron; "
        f"{accepted}"),
        f"  layers.7 (GRU): recurrent layers are not supported; {accepted}",
    ]
    assert [name for name, _, _ in info.value.layers] == [
        "layers.1", "layers.3", "layers.4", "layers.5", "layers.7"]


def test_unknown_module_gets_a_generic_reason(tiny_net):
    net = tiny_net()
    net.layers.append(nn.Softmax(dim=1))
    with pytest.raises(UnsupportedLayerError, match=r"layers.4 \(Softmax\): not a layer the "
                                                    r"compiler knows; accepted: QuantDense"):
        from_torch(net)


def test_every_structural_problem_is_reported_at_once(tiny_net):
    net = tiny_net()
    net.layers = nn.ModuleList([
        LIFNeuron(), net.layers[0], QuantDense(5, 3, weight_bits=4), LIFNeuron(),
        QuantDense(3, 2, weight_bits=4)])
    with pytest.raises(ModelStructureError) as info:
        from_torch(net)
    assert info.value.problems == (
        "layers.0 (LIFNeuron) has no QuantDense or QuantConv2d before it",
        "layers.2 (QuantDense) follows layers.1 (QuantDense) without a LIFNeuron in between",
        "layers.2 (QuantDense) takes 5 inputs, but the layer before it produces 4",
        "layers.4 (QuantDense) is not followed by a LIFNeuron",
    )
    assert str(info.value).startswith(
        "the model's layers must be (QuantDense | QuantConv2d [BatchNorm2d]), LIFNeuron, "
        "[SpikePool | Flatten], ... with chaining sizes; 4 problem(s):\n")


def test_sizes_attribute_must_match_the_layers(tiny_net):
    net = tiny_net()
    net.sizes = (6, 4, 5)
    with pytest.raises(ModelStructureError, match=r"net.sizes is \[6, 4, 5\] but the layers "
                                                  r"have sizes \[6, 4, 3\]"):
        from_torch(net)


def test_empty_layers_are_reported(tiny_net):
    net = tiny_net()
    net.layers = nn.ModuleList([nn.Dropout()])
    with pytest.raises(ModelStructureError, match=r"there are no layers"):
        from_torch(net)


def test_non_models_are_rejected():
    with pytest.raises(TypeError, match=r"net must be a torch.nn.Module, not int"):
        from_torch(3)
    with pytest.raises(TypeError, match=r"net must provide layers, encoder, timesteps, "
                                        r"membrane_bits, input_scale like spikesmith.model."
                                        r"SpikingMLP; Linear does not"):
        from_torch(nn.Linear(2, 2))


def test_learnable_threshold_is_read_at_its_trained_value():
    torch.manual_seed(1)
    net = SpikingMLP([3, 2], learnable_threshold=True, timesteps=2)
    with torch.no_grad():
        net.layers[1].threshold.fill_(0.625)
    assert from_torch(net).node("layers.1").arg.threshold == 0.625
