"""The fused LIF sequence equals T autograd steps of LIFNeuron.step: values and gradients."""

import itertools

import numpy as np
import pytest
import torch

from spikesmith.model.layers import LIFNeuron
from spikesmith.model.network import SpikingMLP
from spikesmith.model.surrogate import atan, fast_sigmoid
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode


def _stepped(neuron: LIFNeuron, i: torch.Tensor, lsb):
    v = torch.zeros_like(i[0])
    spikes = []
    for t in range(i.shape[0]):
        s, v = neuron.step(i[t], v, lsb=lsb)
        spikes.append(s)
    return torch.stack(spikes), v


def _grads(fn, neuron, i, lsb, w_s, w_v):
    i = i.clone().requires_grad_(True)
    neuron.zero_grad(set_to_none=True)
    s, v = fn(neuron, i, lsb)
    ((s * w_s).sum() + (v * w_v).sum()).backward()
    theta = neuron.threshold.grad if neuron.learnable_threshold else None
    return s.detach(), v.detach(), i.grad, theta


@pytest.mark.parametrize(("model", "reset", "lsb", "leak_shift"), list(itertools.product(
    NeuronModel, ResetMode, (None, 0.013), (3, 28))))
def test_fused_sequence_equals_stepped_autograd(model, reset, lsb, leak_shift):
    torch.manual_seed(0)
    neuron = LIFNeuron(threshold=0.7, learnable_threshold=True, model=model, leak_shift=leak_shift,
                       reset=reset, surrogate=atan(alpha=2.0))
    i = torch.randn(12, 5, 7) * 0.6 + 0.15
    w_s, w_v = torch.randn(12, 5, 7), torch.randn(5, 7)
    lsb_t = None if lsb is None else torch.tensor(lsb, dtype=torch.float64)

    def fused(n, x, lsb_):
        return n.run(x, lsb=lsb_)

    ref = _grads(_stepped, neuron, i, lsb_t, w_s, w_v)
    got = _grads(fused, neuron, i, lsb_t, w_s, w_v)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
    assert 0 < int(ref[0].sum()) < ref[0].numel()
    torch.testing.assert_close(got[2], ref[2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[3], ref[3], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("encoding", [Encoding.RATE, Encoding.DIRECT])
def test_mlp_training_gradients_equal_the_stepped_network(encoding):
    torch.manual_seed(1)
    net = SpikingMLP([20, 16, 4], timesteps=6, surrogate=fast_sigmoid(slope=5.0),
                     learnable_threshold=True, init_gain=2.0, encoder=EncoderParams(encoding))
    images = np.random.default_rng(1).integers(0, 256, size=(9, 20), dtype=np.uint8)
    x = net.encode(images)
    net.simulate(x).counts.pow(2).sum().backward()
    fused = [p.grad.clone() for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    (d0, n0), (d1, n1) = net.synapse_neuron_pairs()
    w0, s0 = d0.quantized()
    w1, s1 = d1.quantized()
    h, _ = _stepped(n0, x @ w0.T, s0 * net.input_scale(0))
    out, _ = _stepped(n1, h @ w1.T, s1)
    out.sum(dim=0).pow(2).sum().backward()
    for got, p in zip(fused, net.parameters(), strict=True):
        torch.testing.assert_close(got, p.grad, rtol=1e-5, atol=1e-5)
