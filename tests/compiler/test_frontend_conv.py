"""from_torch and compile_model on conv networks: the graph, the errors, and model == IR == sim.

The end-to-end test runs real mnist5k images through a conv model with BatchNorm folded:
the sim network lowered from the compiled IR and the model's hardware-exact mode produce the
same spikes and membranes in every layer at every timestep.
"""

import numpy as np
import pytest
import torch
from torch import nn

from spikesmith.compiler.driver import compile_model
from spikesmith.compiler.frontend.torch import (
    ModelStructureError,
    UnsupportedLayerError,
    from_torch,
)
from spikesmith.compiler.ir import Op
from spikesmith.compiler.verify import verify
from spikesmith.datasets import load_dataset
from spikesmith.model.conv import Flatten, QuantConv2d, SpikePool
from spikesmith.model.convnet import SpikingConvNet
from spikesmith.model.fold import fold_batchnorm_numpy
from spikesmith.model.layers import LIFNeuron, QuantDense
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.network import run_network


def _randomise_bn(net: SpikingConvNet, seed: int) -> None:
    """Give every BatchNorm2d non-trivial statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    for m in net.layers:
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.2)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.6 - 0.1)


def _conv_net(arch, encoding, *, seed=0, timesteps=4, threshold=0.5):
    torch.manual_seed(seed)
    net = SpikingConvNet(arch, (1, 28, 28), membrane_bits=24, timesteps=timesteps,
                         encoder=EncoderParams(encoding), threshold=threshold, init_gain=2.0)
    _randomise_bn(net, seed)
    return net.eval()


@pytest.fixture(scope="module")
def mnist_images():
    ds = load_dataset("mnist5k")
    return ds.x_test[:24]


@pytest.mark.parametrize(("arch", "encoding"), [
    ("conv", Encoding.DIRECT),
    ("6c3s2p1-p2-8c3p1-12", Encoding.RATE),
])
def test_model_ir_sim_equal_on_mnist(arch, encoding, mnist_images):
    net = _conv_net(arch, encoding)
    compiled = compile_model(net)
    assert compiled.config is None
    sim = run_network(compiled.params, mnist_images)
    model = net.evaluate_hardware(mnist_images)
    assert len(sim.spikes) == len(model.spikes) == len(net.arch.layers)
    for k, (a, b) in enumerate(zip(sim.spikes, model.spikes, strict=True)):
        assert a.shape == b.shape
        assert np.array_equal(a, b), f"layer {k} spikes differ"
        assert a.any(), f"layer {k} never spikes: the comparison would be vacuous"
    for a, b in zip(sim.membranes, model.membranes, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a, b)
    assert np.array_equal(sim.predictions, model.predictions)


def test_conv_graph_mirrors_the_model():
    net = _conv_net("4c3p1-p2-8c3-5", Encoding.DIRECT)
    g = from_torch(net)
    verify(g)
    assert [(n.name, n.op) for n in g.nodes] == [
        ("input", Op.INPUT), ("layers.0", Op.CONV), ("layers.2", Op.LIF), ("layers.3", Op.POOL),
        ("layers.4", Op.CONV), ("layers.6", Op.LIF), ("layers.8", Op.DENSE),
        ("layers.9", Op.LIF), ("output", Op.OUTPUT)]
    c0 = g.node("layers.0").arg
    w, b = fold_batchnorm_numpy(net.layers[0].weight, None, net.layers[1])
    assert np.array_equal(c0.weights, w) and np.array_equal(c0.bias, b)
    assert (c0.in_shape, c0.stride, c0.padding, c0.input_scale) == ((1, 28, 28), 1, 1, 1 / 255)
    assert g.node("layers.3").arg.in_shape == (4, 28, 28)
    assert g.node("layers.4").arg.input_scale == 1.0
    assert g.node("layers.8").arg.weights.shape == (5, 8 * 12 * 12)
    stats = compile_model(net).quant_stats
    assert list(stats) == ["layers.0", "layers.4", "layers.8"]


def test_conv_bias_without_batchnorm_is_lowered():
    torch.manual_seed(3)
    conv = QuantConv2d(1, 3, 3, weight_bits=6, bias=True)
    conv.bias.data.copy_(torch.tensor([0.5, -0.25, 0.0]))
    net = _conv_net("3c3-4", Encoding.RATE)
    net.layers[0] = conv
    del net.layers[1]  # the BatchNorm2d
    g = from_torch(net)
    assert np.array_equal(g.node("layers.0").arg.bias,
                          np.array([0.5, -0.25, 0.0], dtype=np.float64))
    images = np.random.default_rng(0).integers(0, 256, (6, 784)).astype(np.uint8)
    sim = run_network(compile_model(net).params, images)
    model = net.evaluate_hardware(images)
    assert all(np.array_equal(a, b) for a, b in zip(sim.spikes, model.spikes, strict=True))


def test_every_unsupported_conv_layer_is_reported_at_once():
    net = _conv_net("4c3-p2-5", Encoding.RATE)
    net.layers = nn.ModuleList([nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.AvgPool2d(2),
                                nn.Flatten(), *net.layers])
    with pytest.raises(UnsupportedLayerError) as info:
        from_torch(net)
    assert [(name, cls) for name, cls, _ in info.value.layers] == [
        ("layers.0", "Conv2d"), ("layers.1", "MaxPool2d"), ("layers.2", "AvgPool2d"),
        ("layers.3", "Flatten")]
    assert "use SpikePool" in info.value.layers[1][2]


def test_every_conv_structure_problem_is_reported_at_once():
    net = _conv_net("4c3-5", Encoding.RATE)
    net.layers = nn.ModuleList([
        SpikePool(2), QuantConv2d(1, 4, 3, weight_bits=8), nn.BatchNorm2d(3), LIFNeuron(),
        Flatten(), QuantDense(4 * 12 * 12, 5, weight_bits=8), nn.BatchNorm2d(5), LIFNeuron(),
        SpikePool(2), QuantConv2d(5, 2, 3, weight_bits=8), LIFNeuron(), SpikePool(1)])
    with pytest.raises(ModelStructureError) as info:
        from_torch(net)
    assert info.value.problems == (
        ("layers.2 (BatchNorm2d) must have running statistics of 4 features to fold into "
        "layers.1"),
        "layers.6 (BatchNorm2d) must follow a QuantConv2d directly",
        "layers.8 (SpikePool) pools a flat vector; it needs a map",
        ("layers.9 (QuantConv2d) reads a flat vector; a conv needs a map (net.in_shape, or a "
        "conv or pool before it)"),
        "layers.11 (SpikePool) pools a flat vector; it needs a map",
    )


def test_a_pool_last_is_reported():
    net = _conv_net("4c3-5", Encoding.RATE)
    net.layers = nn.ModuleList([*net.layers[:3], SpikePool(2)])
    with pytest.raises(ModelStructureError, match=r"layers.3 \(SpikePool\) is last; the last "
                                                  r"layer must have neurons"):
        from_torch(net)
