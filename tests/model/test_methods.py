"""The training methods (LTMD, TEBN): their parts, their exact folding into integers."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional

from spikesmith.cli import METHODS
from spikesmith.model.checkpoint import load_checkpoint, save_checkpoint
from spikesmith.model.ltmd import ModerateDropout, TanhLIFNeuron, consistency_loss, keep_probability
from spikesmith.model.method_net import MethodMLP, build_mlp
from spikesmith.model.methods import Method
from spikesmith.model.network import SpikingMLP
from spikesmith.model.quant import weight_codes
from spikesmith.model.tebn import TEBNorm
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.quant import quantize_threshold


def test_method_names_are_the_command_line_names():
    assert Method.names() == ("bptt", "lt", "ltmd", "tebn", "ltmd+tebn", "ratebp") == METHODS
    assert Method("ltmd+tebn").parts.tebn and Method("ltmd+tebn").parts.moderate_dropout
    assert not any(vars(Method.BPTT.parts).values())


def test_bptt_builds_the_plain_network_and_the_others_a_method_network():
    assert type(build_mlp([6, 4, 3], method=Method.BPTT)) is SpikingMLP
    net = build_mlp([6, 4, 3], method=Method.LTMD)
    assert isinstance(net, MethodMLP) and net.two_pass and net.moderate is not None
    assert all(isinstance(n, TanhLIFNeuron) for _, n in net.synapse_neuron_pairs())


def test_tanh_threshold_is_tanh_w_and_learns():
    n = TanhLIFNeuron(w=0.5)
    assert float(n.theta().detach()) == pytest.approx(math.tanh(0.5), abs=1e-7)
    s, _ = n.step(torch.full((2, 3), 0.4), torch.zeros(2, 3), lsb=None)
    s.sum().backward()
    assert n.tanh_w.grad is not None and float(n.tanh_w.grad) != 0.0


def test_moderate_dropout_shares_one_mask_over_all_timesteps():
    torch.manual_seed(0)
    drop = ModerateDropout(drop_rate=0.2).train()
    rates = torch.rand(8, 50)
    spikes = (torch.rand(6, 8, 50) < rates).float()
    spikes[:, :, :10] = 1.0  # always firing: the mask itself shows at every timestep
    out = drop(spikes)
    assert torch.equal(out[:, :, :10], out[:1, :, :10].expand(6, -1, -1))
    ratio = torch.where(spikes > 0, out / spikes.clamp_min(1), torch.nan)
    per_neuron = torch.nanmean(ratio, dim=0)
    assert torch.allclose(torch.where(torch.isnan(ratio), per_neuron, ratio),
                          per_neuron.expand(6, -1, -1), equal_nan=True)
    assert torch.equal(drop.eval()(spikes), spikes)


def test_keep_probability_keeps_active_neurons_and_drops_r_on_average():
    d = torch.linspace(0.0, 1.0, 101).reshape(1, -1)
    q = keep_probability(d, drop_rate=0.2)
    assert float(q[0, -1]) == 1.0 and float(q[0, 0]) == pytest.approx(0.6)
    assert float(q.mean()) == pytest.approx(0.8, abs=1e-6)
    assert torch.all(q[0, 1:] >= q[0, :-1])


def test_consistency_loss_is_ce_plus_symmetric_kl():
    torch.manual_seed(1)
    z1, z2, y = torch.randn(5, 4), torch.randn(5, 4), torch.tensor([0, 1, 2, 3, 0])
    p1, p2 = functional.softmax(z1, 1), functional.softmax(z2, 1)
    kl12 = (p1 * (p1.log() - p2.log())).mean()
    kl21 = (p2 * (p2.log() - p1.log())).mean()
    expected = (functional.cross_entropy(z1, y) + functional.cross_entropy(z2, y)) / 2 \
        + (kl12 + kl21) / 4
    assert float(consistency_loss(z1, z2, y)) == pytest.approx(float(expected), rel=1e-6)
    assert float(consistency_loss(z1, z1, y)) == pytest.approx(
        float(functional.cross_entropy(z1, y)), rel=1e-6)


def _tebn_net(method=Method.TEBN, timesteps=4):
    torch.manual_seed(3)
    net = build_mlp([20, 12, 5], method=method, timesteps=timesteps, membrane_bits=24,
                    encoder=EncoderParams(Encoding.DIRECT))
    with torch.no_grad():
        for k, norm in enumerate(net.norms):
            norm.q.copy_(torch.tensor([0.2, 1.4, -0.6, 2.6][:timesteps]) - 0.3 * k)
            norm.gamma.copy_(torch.linspace(-1.5, 2.0, norm.n))
            norm.running_ms.copy_(torch.linspace(0.5, 3.0, norm.n))
    return net.eval()


def test_tebn_p_is_a_positive_power_of_two_and_the_fold_is_exact():
    norm = _tebn_net().norms[0]
    p = norm.time_scale()
    assert torch.all(p > 0) and torch.equal(torch.exp2(torch.log2(p).round()), p)
    assert norm.shifts() == (1, 2, 0, 4)
    rng = np.random.default_rng(0)
    w = rng.normal(size=(12, 20))
    x = rng.integers(0, 2, size=(4, 7, 20)).astype(np.float64)
    a = (norm.gamma.detach().double() / torch.sqrt(norm.running_ms.double() + norm.eps)).numpy()
    direct = p.detach().double().numpy()[:, None, None] * a * (x @ w.T)
    w_f, e = norm.fold_numpy(w)
    folded = (2.0 ** np.array(e))[:, None, None] * (x @ w_f.T)
    np.testing.assert_allclose(folded, direct, rtol=1e-12, atol=1e-12)


def test_tebn_float_run_uses_the_exported_integers():
    """The eval-mode float run fake-quantises exactly the weights, shifts and threshold that the
    hardware-exact mode (and the compiler) export."""
    net = _tebn_net(Method.LTMD_TEBN)
    for idx, layer in enumerate(net.integer_layers()):
        dense, neuron = net.synapse_neuron_pairs()[idx]
        codes, scale = weight_codes(net.norms[idx].fold_weights(dense.weight), bits=8)
        assert np.array_equal(codes.numpy().astype(np.int64), layer.weights)
        assert layer.lif.input_shifts == net.norms[idx].shifts()
        lsb = float(scale) * net.input_scale(idx)
        assert layer.lif.threshold == quantize_threshold(
            neuron.threshold_value(), scale=float(scale), input_scale=net.input_scale(idx),
            membrane_bits=24)
        assert lsb > 0


def test_tebn_float_and_integer_runs_agree_on_predictions():
    net = _tebn_net()
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(64, 20)).astype(np.uint8)
    hw = net.evaluate_hardware(images, record_membranes=False).predictions
    fl = net.predict(images)
    assert np.mean(hw == fl) >= 0.9


def test_method_network_checkpoint_round_trip(tmp_path):
    net = _tebn_net(Method.LTMD_TEBN)
    path = save_checkpoint(tmp_path / "net.safetensors", net)
    back = load_checkpoint(path)
    assert isinstance(back, MethodMLP) and back.method is Method.LTMD_TEBN
    images = np.random.default_rng(4).integers(0, 256, size=(8, 20)).astype(np.uint8)
    for a, b in zip(net.integer_layers(), back.integer_layers(), strict=True):
        assert np.array_equal(a.weights, b.weights) and a.lif == b.lif
    assert np.array_equal(net.evaluate_hardware(images).counts,
                          back.evaluate_hardware(images).counts)


def test_training_parts_leave_nothing_at_inference():
    net = build_mlp([20, 12, 5], method=Method.LTMD, timesteps=4).eval()
    images = np.random.default_rng(5).integers(0, 256, size=(16, 20)).astype(np.uint8)
    assert np.array_equal(net.predict(images), net.predict(images))
    assert all(layer.lif.input_shifts == () for layer in net.integer_layers())
    assert TEBNorm(3, 2).shifts() == (0, 0)
