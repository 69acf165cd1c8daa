"""Rate-based backpropagation: same forward values as BPTT, BPTT's gradient where the input is
constant in time, and a trained network that is hardware-exact."""

import numpy as np
import pytest
import torch

from spikesmith.datasets import load_dataset
from spikesmith.model.network import SpikingMLP
from spikesmith.model.ratebp import TrainMethod, rate_simulate
from spikesmith.model.surrogate import atan
from spikesmith.model.train import evaluate, hardware_accuracy, train
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import run_network


def _images(n: int, features: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, features), dtype=np.uint8)


def test_rate_forward_values_equal_the_bptt_forward():
    torch.manual_seed(0)
    net = SpikingMLP([30, 20, 12, 5], timesteps=7, init_gain=2.5)
    x = net.encode(_images(11, 30, 0))
    ref, got = net.simulate(x), rate_simulate(net, x)
    assert torch.equal(got.counts, ref.counts) and torch.equal(got.membrane, ref.membrane)
    assert all(torch.equal(a, b) for a, b in zip(got.hidden_counts, ref.hidden_counts,
                                                 strict=True))
    assert int(ref.counts.sum()) > 0


@pytest.mark.parametrize(("model", "reset"), [(NeuronModel.LIF, ResetMode.SUBTRACT),
                                              (NeuronModel.LIF, ResetMode.ZERO),
                                              (NeuronModel.IF, ResetMode.SUBTRACT)])
def test_one_layer_with_constant_input_gets_the_bptt_gradient(model, reset):
    """With a time-constant input, sum_t dL/dc_t = dL/dcbar: the rate graph is exact."""
    torch.manual_seed(1)
    net = SpikingMLP([25, 9], timesteps=8, encoder=EncoderParams(Encoding.DIRECT), model=model,
                     reset=reset, learnable_threshold=True, init_gain=30.0,
                     surrogate=atan(alpha=2.0))
    x = net.encode(_images(13, 25, 1))
    weights = torch.randn(13, 9)
    grads = []
    for simulate in (net.simulate, lambda inp: rate_simulate(net, inp)):
        net.zero_grad(set_to_none=True)
        (simulate(x).counts * weights).sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for bptt, rate in zip(*grads, strict=True):
        torch.testing.assert_close(rate, bptt, rtol=1e-4, atol=1e-5)
    assert float(grads[0][0].abs().sum()) > 0


def test_ratebp_training_learns_and_is_hardware_exact(fold):
    digits = load_dataset("digits")
    torch.manual_seed(0)
    net = SpikingMLP([64, 32, 10], timesteps=6)
    result = train(net, digits, epochs=2, batch_size=32, lr=1e-2, seed=0, temperature=3.0,
                   progress=False, method=TrainMethod.RATEBP)
    assert result.loss[1] < result.loss[0]
    trace = net.evaluate_hardware(digits.x_test)
    ref = run_network(fold(net), digits.x_test)
    for a, b in zip(trace.spikes + trace.membranes, ref.spikes + ref.membranes, strict=True):
        assert np.array_equal(a, b)
    hw = hardware_accuracy(net, digits.x_test, digits.y_test)
    assert hw == float(np.mean(ref.predictions == digits.y_test))
    assert hw > 0.75
    assert abs(evaluate(net, digits.x_test, digits.y_test) - hw) < 0.05


def test_ratebp_rejects_what_it_cannot_train():
    net = SpikingMLP([8, 6, 3], timesteps=4, dropout=0.5)
    with pytest.raises(ValueError, match="dropout"):
        rate_simulate(net, net.encode(_images(2, 8, 2)))
    with pytest.raises(TypeError, match="SpikingMLP"):
        rate_simulate(torch.nn.Linear(2, 2), torch.zeros(4, 1, 2))


def test_ratebp_is_a_method_of_the_flow_on_bptt_networks():
    from spikesmith.model.methods import Method

    assert Method("ratebp").parts.rate_gradient
    assert not Method.RATEBP.parts.changes_the_network
    assert {m.value for m in TrainMethod} == {"bptt", "ratebp"}
