"""Conv networks with the seed methods (``model.method_convnet``) and conv rate-BP
(``model.ratebp_conv``): the folds are exact, the export equals the hardware-exact mode, the
training parts behave as the papers describe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.lowering import to_network_params
from spikesmith.compiler.pipeline import lower
from spikesmith.model.checkpoint import load_checkpoint, save_checkpoint
from spikesmith.model.convnet import SpikingConvNet
from spikesmith.model.layers import LIFNeuron
from spikesmith.model.lif_sequence import lif_sequence
from spikesmith.model.ltmd import ChannelTanhLIFNeuron
from spikesmith.model.method_convnet import MethodConvNet, build_conv_net
from spikesmith.model.methods import Method
from spikesmith.model.ratebp_conv import rate_simulate_conv
from spikesmith.model.tebn import Q_MAX, TimeScale
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import NetworkParams, run_network

ARCH = "4c3-p2-8c3-16-10"
SHAPE = (1, 12, 12)
Q = (1.0, -1.0, 2.0, 0.0)


def _net(method: Method, *, encoding: Encoding = Encoding.DIRECT, seed: int = 0):
    torch.manual_seed(seed)
    net = build_conv_net(ARCH, SHAPE, method=method, timesteps=4, membrane_bits=24,
                         encoder=EncoderParams(encoding), init_gain=2.0)
    with torch.no_grad():
        for m in net.layers:
            if hasattr(m, "tanh_w"):
                m.tanh_w.uniform_(0.2, 0.9)
        for ts in getattr(net, "time_scales", {}).values():
            ts.q.copy_(torch.tensor(Q))
    return net


def _images(n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 144), dtype=np.uint8)


def test_build_conv_net_picks_the_class():
    assert type(_net(Method.BPTT)) is SpikingConvNet
    assert type(_net(Method.RATEBP)) is SpikingConvNet
    net = _net(Method.LTMD_TEBN)
    assert isinstance(net, MethodConvNet) and net.two_pass
    conv_neurons = [m for m in net.layers if isinstance(m, ChannelTanhLIFNeuron)]
    assert [m.channels for m in conv_neurons] == [4, 8]
    assert sorted(net.time_scales) == ["0", "1"]
    assert net.moderate_index == 2  # the hidden dense layer, as the paper's head
    with pytest.raises(ValueError, match="batch_norm=True"):
        build_conv_net(ARCH, SHAPE, method=Method.TEBN, batch_norm=False)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-Q_MAX - 1, Q_MAX + 1), min_size=1, max_size=8),
       st.floats(-4.0, 4.0), st.floats(-4.0, 4.0))
def test_time_scale_fold_is_exact(q, current, bias):
    """p[t] (a I + b') = 2**e[t] * (2**m (a I + b')), e[t] >= 0, to the last bit."""
    ts = TimeScale(len(q))
    with torch.no_grad():
        ts.q.copy_(torch.tensor(q))
    p = ts.time_scale().detach().to(torch.float64)
    e = torch.tensor(ts.shifts(), dtype=torch.float64)
    assert min(ts.shifts()) == 0 and max(ts.shifts()) <= 2 * Q_MAX
    x = torch.tensor(current + bias, dtype=torch.float64)
    assert torch.equal(p * x, torch.exp2(e) * (ts.common_factor() * x))


def test_channel_threshold_gradient_equals_the_step_loop():
    torch.manual_seed(1)
    i = torch.randn(5, 3, 2, 4, 4)
    theta = torch.tensor([0.4, 0.9])[:, None, None].requires_grad_()
    neuron = LIFNeuron(model=NeuronModel.LIF, leak_shift=2, reset=ResetMode.SUBTRACT)
    s, v = lif_sequence(i, theta, model=neuron.model, leak_shift=2, reset=neuron.reset,
                        surrogate=neuron.surrogate)
    (s.sum() + v.pow(2).sum()).backward()
    fast = theta.grad.clone()
    theta.grad = None
    v_ref = torch.zeros_like(i[0])
    total = 0
    for t in range(5):
        u = v_ref - v_ref * 0.25 + i[t]
        st_ = neuron.surrogate(u - theta)
        v_ref = u - st_.detach() * theta
        total = total + st_.sum()
    (total + v_ref.pow(2).sum()).backward()
    assert fast.shape == (2, 1, 1)
    assert torch.allclose(fast, theta.grad, atol=1e-4)


@pytest.mark.parametrize("method", [Method.LT, Method.TEBN, Method.LTMD_TEBN])
def test_export_equals_the_hardware_exact_mode(method):
    net = _net(method).eval()
    layers = net.integer_layers()
    conv = [layers[0], layers[2]]
    if method.parts.tanh_threshold:
        assert all(len(c.lif.channel_thresholds) == c.weights.shape[0] for c in conv)
        assert all(c.lif.threshold == max(c.lif.channel_thresholds) for c in conv)
    if method.parts.tebn:
        assert [c.lif.input_shifts for c in conv] == [(2, 0, 3, 1)] * 2
    assert layers[3].lif.channel_thresholds == () and layers[3].lif.input_shifts == ()
    params = to_network_params(lower(from_torch(net)))
    images = _images()
    a = run_network(params, images)
    b = run_network(NetworkParams(layers=layers, encoder=net.encoder, timesteps=4), images)
    for x, y in zip(a.membranes, b.membranes, strict=True):
        assert (x is None and y is None) or x.tolist() == y.tolist()
    assert sum(int(s.sum()) for s in a.spikes) > 0


def test_folded_float_run_tracks_the_integers():
    """Eval mode runs the folded, fake-quantised network: the float counts equal the integer
    counts on almost every output (float rounding of the membrane sums aside)."""
    net = _net(Method.LTMD_TEBN).eval()
    images = _images(32)
    counts = net.evaluate_hardware(images).counts
    with torch.no_grad():
        fl = net.simulate(net.encode(images)).counts.numpy()
    assert counts.sum() > 0
    assert np.mean(fl == counts) >= 0.95


def test_moderate_dropout_mask_is_shared_over_time():
    net = _net(Method.LTMD).train()
    torch.manual_seed(0)
    spikes = torch.ones(4, 6, 16)
    out = net.moderate(spikes)
    assert all(torch.equal(out[0], out[t]) for t in range(4))
    assert bool((out == 0).any())
    net.eval()
    assert torch.equal(net.moderate(spikes), spikes)


def test_method_conv_checkpoint_round_trip(tmp_path):
    net = _net(Method.LTMD_TEBN).eval()
    path = tmp_path / "net.safetensors"
    save_checkpoint(path, net)
    back = load_checkpoint(path)
    assert isinstance(back, MethodConvNet) and back.method is Method.LTMD_TEBN
    images = _images(8)
    a = run_network(NetworkParams(layers=net.integer_layers(), encoder=net.encoder,
                                  timesteps=4), images)
    b = run_network(NetworkParams(layers=back.integer_layers(), encoder=back.encoder,
                                  timesteps=4), images)
    assert [m.tolist() for m in a.membranes if m is not None] == [
        m.tolist() for m in b.membranes if m is not None]


@pytest.mark.parametrize("encoding", [Encoding.DIRECT, Encoding.RATE])
def test_conv_rate_bp_forward_equals_simulate_and_has_gradients(encoding):
    net = _net(Method.BPTT, encoding=encoding)
    x = net.encode(_images(8))
    for training in (True, False):
        net.train(training)
        a = net.simulate(x)
        b = rate_simulate_conv(net, x)
        assert torch.equal(a.counts, b.counts.detach())
        assert torch.equal(a.membrane, b.membrane)
        net.zero_grad()
        b.counts.sum().backward()
        assert net.layers[0].weight.grad.abs().sum() > 0
    with pytest.raises(TypeError, match="plain SpikingConvNet"):
        rate_simulate_conv(_net(Method.LT), x)
