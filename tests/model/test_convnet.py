"""SpikingConvNet: spec strings, layers against sim.conv, BatchNorm folding, hardware-exact
mode against the contract assembled independently, training, checkpoints."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from spikesmith.model.arch import PRESETS, ConvSpec, DenseSpec, PoolSpec, parse_arch, resolve_arch
from spikesmith.model.checkpoint import (
    CONV_FORMAT,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from spikesmith.model.conv import QuantConv2d, SpikePool
from spikesmith.model.convnet import SpikingConvNet
from spikesmith.model.fold import fold_batchnorm_numpy
from spikesmith.model.train import train
from spikesmith.sim.conv import ConvLayer, PoolLayer, conv_synaptic_input, or_pool
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer, NetworkParams, run_network
from spikesmith.sim.quant import quantize_bias, quantize_threshold, quantize_weights


def test_spec_strings_round_trip_and_presets_resolve():
    a = parse_arch("16c5-p2-32c3s2p1-p2-128-10")
    assert a.layers == (ConvSpec(16, 5), PoolSpec(2), ConvSpec(32, 3, 2, 1), PoolSpec(2),
                        DenseSpec(128), DenseSpec(10))
    assert str(a) == "16c5-p2-32c3s2p1-p2-128-10"
    assert str(resolve_arch("conv")) == PRESETS["conv"]
    assert resolve_arch("conv").outputs == 10


def test_every_bad_token_is_reported():
    with pytest.raises(ValueError) as info:
        parse_arch("16c5-x3-p2-32c3p3-128-p2")
    msg = str(info.value)
    assert "'x3' is not a layer" in msg
    assert "'32c3p3': padding 3 must be below the kernel size 3" in msg
    assert "p2 follows a dense layer" in msg
    assert "the last layer must have neurons" in msg
    with pytest.raises(ValueError, match="or a preset: \\['conv'\\]"):
        resolve_arch("convv")
    with pytest.raises(ValueError, match="is not a layer"):
        parse_arch("016c5")


def test_quant_conv_equals_sim_conv_on_spikes():
    torch.manual_seed(0)
    conv = QuantConv2d(3, 4, 3, weight_bits=5, stride=2, padding=1)
    spikes = (torch.rand(6, 3, 9, 7) < 0.3).to(torch.float32)
    w_int, scale = conv.integer_weights()
    layer = ConvLayer(weights=w_int, weight_bits=5, stride=2, padding=1, in_shape=(3, 9, 7),
                      lif=LIFParams(threshold=1))
    exact = conv_synaptic_input(spikes.reshape(6, -1).to(torch.uint8).numpy(), layer)
    with torch.no_grad():
        got = (conv(spikes).to(torch.float64) / scale).reshape(6, -1).numpy()
    assert np.array_equal(np.rint(got).astype(np.int64), exact)
    assert np.abs(got - exact).max() < 1e-3


def test_spike_pool_is_or_pool():
    spikes = (torch.rand(5, 2, 7, 9) < 0.2).to(torch.float32)
    got = SpikePool(3)(spikes).reshape(5, -1).to(torch.uint8).numpy()
    want = or_pool(spikes.reshape(5, -1).to(torch.uint8).numpy(),
                   PoolLayer(kernel=3, in_shape=(2, 7, 9)))
    assert np.array_equal(got, want)


def test_pool_gradient_reaches_a_spiking_input():
    x = torch.tensor([[[[0.0, 1.0], [0.0, 0.0]]]], requires_grad=True)
    SpikePool(2)(x).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


def test_batchnorm_folds_exactly_in_float():
    torch.manual_seed(1)
    conv = QuantConv2d(2, 3, 3, weight_bits=8, bias=True)
    conv.bias.data.normal_()
    bn = nn.BatchNorm2d(3)
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.normal_()
    bn.eval()
    x = torch.rand(4, 2, 6, 6, dtype=torch.float64)
    w, b = fold_batchnorm_numpy(conv.weight, conv.bias, bn)
    with torch.no_grad():
        ref = bn.double()(torch.nn.functional.conv2d(x, conv.weight.double(), conv.bias.double()))
        got = torch.nn.functional.conv2d(x, torch.from_numpy(w), torch.from_numpy(b))
    assert torch.allclose(got, ref, rtol=0, atol=1e-12)


def _net(arch="4c3p1-p2-6c3-10", encoding=Encoding.DIRECT, **kw):
    torch.manual_seed(2)
    net = SpikingConvNet(arch, (1, 8, 8), membrane_bits=24, timesteps=3,
                         encoder=EncoderParams(encoding), threshold=0.5, **kw)
    g = torch.Generator().manual_seed(3)
    for m in net.layers:
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.5)
    return net.eval()


def _contract_layers(net):
    """The integer layers by the folding equations of model.fold, assembled here."""
    convs = [m for m in net.layers if isinstance(m, QuantConv2d)]
    bns = [m for m in net.layers if isinstance(m, nn.BatchNorm2d)]
    mem = FixedFormat(net.membrane_bits)
    out, shape = [], net.in_shape
    for k, (conv, bn) in enumerate(zip(convs, bns, strict=True)):
        a = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
        w = (conv.weight.detach().double() * a[:, None, None, None]).numpy()
        b = (a * (0 - bn.running_mean.double()) + bn.bias.detach().double()).numpy()
        w_int, s = quantize_weights(w, bits=8)
        unit = 1 / 255 if k == 0 else 1.0
        theta = quantize_threshold(0.5, scale=s, input_scale=unit, membrane_bits=24)
        layer = ConvLayer(weights=w_int, bias=quantize_bias(b, scale=s, input_scale=unit),
                          weight_bits=8, stride=conv.stride, padding=conv.padding,
                          in_shape=shape, lif=LIFParams(threshold=theta, membrane=mem))
        out.append(layer)
        shape = layer.out_shape
        if k == 0:
            out.append(PoolLayer(kernel=2, in_shape=shape))
            shape = out[-1].out_shape
    dense = net.layers[-2]
    w_int, s = quantize_weights(dense.weight.detach().numpy(), bits=8)
    theta = quantize_threshold(0.5, scale=s, membrane_bits=24)
    out.append(DenseLayer(w_int, 8, LIFParams(threshold=theta, membrane=mem)))
    return out


def test_hardware_mode_is_the_contract_folding():
    net = _net()
    images = np.random.default_rng(0).integers(0, 256, (16, 64)).astype(np.uint8)
    want = run_network(NetworkParams(layers=tuple(_contract_layers(net)), encoder=net.encoder,
                                     timesteps=3), images)
    got = net.evaluate_hardware(images)
    for a, b in zip(got.spikes, want.spikes, strict=True):
        assert np.array_equal(a, b)
        assert a.any()
    for k, layer in enumerate(net.integer_layers()):
        ref = _contract_layers(net)[k]
        assert type(layer) is type(ref)
        if not isinstance(layer, PoolLayer):
            assert np.array_equal(layer.weights, ref.weights)
            assert layer.lif == ref.lif


def test_frozen_float_mode_tracks_hardware():
    net = _net()
    images = np.random.default_rng(1).integers(0, 256, (40, 64)).astype(np.uint8)
    hw = net.evaluate_hardware(images).counts
    with torch.no_grad():
        fl = net.simulate(net.encode(images)).counts.round().to(torch.int64).numpy()
    # Same folded, quantised parameters; only float rounding, leak floor and saturation differ.
    assert np.mean(fl == hw) > 0.9


def test_tiny_training_updates_and_freezes_batchnorm():
    rng = np.random.default_rng(0)

    class Data:
        name = "tiny"
        x_train = rng.integers(0, 256, (64, 64)).astype(np.uint8)
        y_train = rng.integers(0, 10, 64)
        x_test, y_test = x_train[:16], y_train[:16]
        shape = (8, 8)
        n_features = 64

    net = _net()
    bn = net.layers[1]
    before = bn.running_mean.clone()
    res = train(net, Data, epochs=1, batch_size=32, lr=1e-2, seed=0, progress=False)
    assert len(res.loss) == 1 and np.isfinite(res.loss[0])
    assert not torch.equal(bn.running_mean, before)
    frozen = bn.running_mean.clone()
    w = net.layers[0].weight.detach().clone()
    train(net.freeze_batchnorm(), Data, epochs=1, batch_size=32, lr=1e-2, seed=0, progress=False)
    assert torch.equal(bn.running_mean, frozen)
    assert not torch.equal(net.layers[0].weight, w)


def test_conv_checkpoint_round_trip(tmp_path):
    net = _net(encoding=Encoding.RATE)
    p1 = save_checkpoint(tmp_path / "a.safetensors", net, extra={"k": 1})
    back = load_checkpoint(p1)
    assert isinstance(back, SpikingConvNet) and back.config() == net.config()
    p2 = save_checkpoint(tmp_path / "b.safetensors", back, extra={"k": 1})
    assert p1.read_bytes() == p2.read_bytes()
    images = np.random.default_rng(2).integers(0, 256, (8, 64)).astype(np.uint8)
    for a, b in zip(net.evaluate_hardware(images).spikes, back.evaluate_hardware(images).spikes,
                    strict=True):
        assert np.array_equal(a, b)


def _rewrite(path, config=None, tensors=None):
    from safetensors.torch import load, save
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    meta = json.loads(data[8:8 + n])["__metadata__"]
    if config is not None:
        meta["config"] = json.dumps(config)
    t = load(data)
    if tensors:
        t.update(tensors)
    path.write_bytes(save(t, metadata=meta))
    return path


@pytest.mark.parametrize(("change", "match"), [
    ({"arch": "4c3-x"}, "bad conv network config: architecture '4c3-x'"),
    ({"arch": "4c3p0-10"}, "'arch' must be a canonical spec string"),
    ({"in_shape": [1, 8]}, r"'in_shape' must be a list \[C, H, W\]"),
    ({"arch": "4c9-10"}, "leaves no output"),
    ({"arch": "70000c3-10"}, "layer width must be"),
    ({"arch": "1000c3-20000"}, r"layer 1 \(20000\) has 720000000 weights"),
    ({"batch_norm": 1}, "'batch_norm' must be true or false"),
    ({"extra_key": 1}, "unknown keys"),
])
def test_bad_conv_configs_are_refused(tmp_path, change, match):
    net = _net(encoding=Encoding.RATE)
    p = save_checkpoint(tmp_path / "a.safetensors", net)
    _rewrite(p, config={**net.config(), **change})
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(p)


def test_negative_running_variance_is_refused(tmp_path):
    net = _net(encoding=Encoding.RATE)
    p = save_checkpoint(tmp_path / "a.safetensors", net)
    _rewrite(p, tensors={"layers.1.running_var": -torch.ones(4)})
    with pytest.raises(CheckpointError, match="non-negative BatchNorm running variance"):
        load_checkpoint(p)
    assert CONV_FORMAT == "spikesmith.SpikingConvNet/1"
