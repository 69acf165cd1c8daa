"""SpikingMLP: hardware-exact mode equals ``sim.network.run_network``; float mode; validation."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from spikesmith.model.layers import LIFNeuron, QuantDense
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import run_network


def assert_traces_equal(got, ref):
    assert np.array_equal(got.inputs, ref.inputs)
    assert len(got.spikes) == len(ref.spikes)
    for a, b in zip(got.spikes, ref.spikes, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    for a, b in zip(got.membranes, ref.membranes, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(got.counts, ref.counts)
    assert np.array_equal(got.predictions, ref.predictions)


CONFIGS = list(itertools.product(NeuronModel, ResetMode, Encoding))


@pytest.mark.parametrize(("model", "reset", "encoding"), CONFIGS, ids=lambda v: v.value)
def test_hardware_exact_equals_run_network_on_random_networks(model, reset, encoding, fold):
    rng = np.random.default_rng(CONFIGS.index((model, reset, encoding)))
    fired = 0
    for weight_bits, membrane_bits, leak_shift in [(3, 10, 1), (8, 16, 4), (6, 24, 2)]:
        torch.manual_seed(int(rng.integers(2**31)))
        net = SpikingMLP([12, 9, 7, 5], weight_bits=weight_bits, membrane_bits=membrane_bits,
                         timesteps=6, encoder=EncoderParams(encoding, seed=int(rng.integers(
                             1, 2**16))), model=model, leak_shift=leak_shift, reset=reset)
        # Thresholds of a few LSBs so that every layer fires and membranes saturate sometimes.
        for i, (dense, neuron) in enumerate(net.synapse_neuron_pairs()):
            _, s = dense.integer_weights()
            lsbs = int(rng.integers(1, 16))
            neuron.threshold.fill_(lsbs * s * net.input_scale(i))
        images = rng.integers(0, 256, size=(11, 12)).astype(np.uint8)
        images[0] = 0
        images[1] = 255
        got = net.evaluate_hardware(images)
        ref = run_network(fold(net), images)
        assert_traces_equal(got, ref)
        fired += int(ref.spikes[-1].sum())
    assert fired > 0


def test_hardware_exact_without_membranes_has_same_spikes():
    torch.manual_seed(1)
    net = SpikingMLP([6, 4, 3], timesteps=4, threshold=0.2)
    images = np.random.default_rng(1).integers(0, 256, size=(5, 6)).astype(np.uint8)
    a = net.evaluate_hardware(images, record_membranes=False)
    b = net.evaluate_hardware(images)
    assert a.membranes is None
    assert np.array_equal(a.counts, b.counts)
    assert np.array_equal(a.predictions, b.predictions)


def test_dropout_is_identity_in_hardware_mode_and_eval(fold):
    torch.manual_seed(2)
    net = SpikingMLP([6, 5, 4, 3], timesteps=5, threshold=0.3, dropout=0.5)
    assert [type(m).__name__ for m in net.layers] == [
        "QuantDense", "LIFNeuron", "Dropout", "QuantDense", "LIFNeuron", "Dropout",
        "QuantDense", "LIFNeuron"]
    images = np.random.default_rng(2).integers(0, 256, size=(7, 6)).astype(np.uint8)
    assert_traces_equal(net.evaluate_hardware(images), run_network(fold(net), images))
    net.eval()
    x = net.encode(images)
    assert torch.equal(net(x), net(x))


def test_float_mode_counts_and_gradients():
    torch.manual_seed(3)
    net = SpikingMLP([8, 6, 3], timesteps=4, threshold=0.5, learnable_threshold=True)
    x = net.encode(np.full((2, 8), 200, np.uint8))
    assert x.shape == (4, 2, 8)
    run = net.simulate(x)
    assert run.counts.shape == (2, 3) and run.membrane.shape == (2, 3)
    assert len(run.hidden_counts) == 1 and run.hidden_counts[0].shape == (2, 6)
    assert torch.all((run.counts >= 0) & (run.counts <= 4))
    run.counts.sum().backward()
    assert net.layers[0].weight.grad is not None and net.layers[0].weight.grad.abs().sum() > 0
    assert net.layers[1].threshold.grad is not None


def test_direct_encoding_float_input_is_pixel_over_255():
    net = SpikingMLP([3, 2], timesteps=2, encoder=EncoderParams(Encoding.DIRECT))
    x = net.encode(np.array([[0, 51, 255]], np.uint8))
    assert torch.equal(x[1, 0], torch.tensor([0.0, 51.0, 255.0]) * (1.0 / 255.0))
    assert net.input_scale(0) == 1.0 / 255.0
    assert net.input_scale(1) == 1.0
    assert SpikingMLP([3, 2]).input_scale(0) == 1.0


def test_float_if_network_matches_hardware_when_exactly_representable():
    # IF neurons, rate input, weights on a power-of-two grid (scale 2**-4) and thresholds on
    # the LSB grid: every float sum is exact, so float and integer runs agree spike for spike.
    torch.manual_seed(4)
    net = SpikingMLP([10, 8, 4], timesteps=6, weight_bits=4, model=NeuronModel.IF,
                     threshold=0.5)
    with torch.no_grad():
        for dense in net.layers[0::2]:
            codes = torch.randint(-7, 8, dense.weight.shape).float()
            codes[0, 0] = 7.0
            dense.weight.copy_(codes * 2.0**-4)
    assert net.layers[0].integer_weights()[1] == 2.0**-4
    images = np.random.default_rng(4).integers(0, 256, size=(9, 10)).astype(np.uint8)
    trace = net.evaluate_hardware(images)
    with torch.no_grad():
        counts = net(net.encode(images))
    assert np.array_equal(counts.numpy().astype(np.int64), trace.counts)
    assert trace.counts.sum() > 0


def test_contract_attributes():
    net = SpikingMLP([5, 4, 2], weight_bits=6, membrane_bits=20, timesteps=3)
    assert net.sizes == (5, 4, 2)
    assert (net.weight_bits, net.membrane_bits, net.timesteps) == (6, 20, 3)
    assert net.encoder == EncoderParams()
    dense, neuron = net.layers[0], net.layers[1]
    assert isinstance(dense, QuantDense) and isinstance(neuron, LIFNeuron)
    assert (dense.in_features, dense.out_features, dense.weight_bits) == (5, 4, 6)
    assert dense.weight.shape == (4, 5) and isinstance(dense.weight, nn.Parameter)
    w, s = dense.integer_weights()
    assert w.dtype == np.int64 and isinstance(s, float)
    assert neuron.model is NeuronModel.LIF and neuron.leak_shift == 4
    assert neuron.reset is ResetMode.SUBTRACT and neuron.threshold_value() == 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weight_bits": 1}, "weight bits must be an integer in 2..16, not 1"),
    ({"weight_bits": 17}, "weight bits must be an integer in 2..16, not 17"),
    ({"membrane_bits": 40}, "membrane bits must be an integer in 2..32, not 40"),
    ({"timesteps": 0}, "timesteps must be an integer in 1..256, not 0"),
    ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\), not 1.0"),
    ({"leak_shift": 0}, "leak_shift must be an integer in 1..31, not 0"),
    ({"threshold": 0.0}, "threshold must be a finite number >= 0.01, not 0.0"),
    ({"init_gain": 1e300}, r"init_gain must be a number in \(0, 100.0\], not 1e\+300"),
    ({"init_gain": float("nan")}, r"init_gain must be a number in \(0, 100.0\], not nan"),
])
def test_bad_network_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpikingMLP([4, 3], **kwargs)


@pytest.mark.parametrize("sizes", [[], [4], [4, 0], "ab", [4, 2.0], [4, True]])
def test_bad_sizes_are_rejected(sizes):
    with pytest.raises(ValueError, match="sizes must be a sequence of at least two positive "
                                         "integers, not"):
        SpikingMLP(sizes)


def test_bad_types_are_rejected():
    with pytest.raises(TypeError, match="encoder must be an EncoderParams, not 'rate'"):
        SpikingMLP([4, 3], encoder="rate")
    with pytest.raises(TypeError, match="model must be a NeuronModel, not 'lif'"):
        LIFNeuron(model="lif")
    with pytest.raises(TypeError, match="reset must be a ResetMode, not 0"):
        LIFNeuron(reset=0)
    with pytest.raises(ValueError, match="in_features must be a positive integer, not 0"):
        QuantDense(0, 3, weight_bits=8)


def test_unsupported_layers_are_reported():
    net = SpikingMLP([4, 3, 2])
    net.layers.insert(1, nn.ReLU())
    with pytest.raises(ValueError, match=r"layers\[1\] is a ReLU; a SpikingMLP's layers must"):
        net.evaluate_hardware(np.zeros((1, 4), np.uint8))


def test_threshold_too_large_for_membrane_is_reported():
    net = SpikingMLP([4, 3], membrane_bits=8, threshold=5.0)
    with pytest.raises(ValueError, match="more than the 8-bit membrane holds"):
        net.evaluate_hardware(np.zeros((1, 4), np.uint8))


def test_bad_inputs_are_rejected():
    net = SpikingMLP([4, 3], timesteps=2)
    with pytest.raises(ValueError, match=r"inputs must have shape \(2, batch, 4\), not "
                                         r"\(3, 1, 4\)"):
        net(torch.zeros(3, 1, 4))
    with pytest.raises(ValueError, match=r"images must have shape \(batch, 4\), not \(1, 5\)"):
        net.evaluate_hardware(np.zeros((1, 5), np.uint8))


def test_unquantized_float_mode_uses_raw_parameters():
    torch.manual_seed(5)
    net = SpikingMLP([10, 8, 4], timesteps=6, weight_bits=2, threshold=0.37)
    images = np.random.default_rng(5).integers(0, 256, size=(16, 10)).astype(np.uint8)
    x = net.encode(images)
    with torch.no_grad():
        raw = net.simulate(x, quantized=False)
        fake = net.simulate(x)
    assert not torch.equal(raw.membrane, fake.membrane)
    assert net.predict(images, quantized=False).shape == (16,)
