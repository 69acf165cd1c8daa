"""model.losses: gradients of every loss, the per-spike normalisation, weight standardisation
folded exactly, and brief training with each loss."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from spikesmith.datasets import load_dataset
from spikesmith.model.checkpoint import load_checkpoint, save_checkpoint
from spikesmith.model.losses import (
    SILENT_LOGIT,
    Loss,
    LossParams,
    ce_plus_loss,
    count_loss,
    first_spike_scores,
    fold_standardisation,
    is_standardised,
    loss_value,
    per_spike,
    standardise_weights,
    ttfs_loss,
)
from spikesmith.model.network import SpikingMLP
from spikesmith.model.train import evaluate, hardware_accuracy, train
from spikesmith.sim.decision import OutputRule, decide
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.quant import quantize_threshold, quantize_weights

T = 8


def _counts() -> tuple[torch.Tensor, torch.Tensor]:
    counts = torch.tensor([[6.0, 0.0, 3.0, 1.0], [0.0, 9.0, 1.0, 4.0], [2.0, 2.0, 0.0, 0.0]],
                          dtype=torch.float64, requires_grad=True)
    return counts, torch.tensor([0, 1, 3])


def test_per_spike_divides_the_gradient_by_the_count():
    c = torch.tensor([0.0, 1.0, 4.0], requires_grad=True)
    (per_spike(c) * torch.tensor([2.0, 3.0, 8.0])).sum().backward()
    assert c.grad.tolist() == [2.0, 3.0, 2.0]


def test_count_loss_gradient_is_the_clipped_boosted_error():
    counts, y = _counts()
    loss = count_loss(counts, y, timesteps=T, desired=8.0, undesired=1.0, normalise=False)
    loss.backward()
    n = counts.detach()
    hot = torch.nn.functional.one_hot(y, 4).bool()
    delta = (n - torch.where(hot, 8.0, 1.0)) / T
    delta = torch.where(hot, delta.clamp(max=0), delta.clamp(min=0))
    on = n[hot].sum()
    boost = max(float((n.sum() - on) / on) / 10, 1.0)
    w = torch.where(hot, boost, 1.0)
    assert torch.allclose(loss, 0.5 * (w * delta ** 2).sum(1).mean())
    assert torch.allclose(counts.grad, w * delta / T / 3)
    # clipped: non-label neurons at or below the undesired count get no gradient
    assert counts.grad[0, 1] == 0 and counts.grad[2, 2] == 0 and counts.grad[0, 3] == 0


def test_count_plus_normalises_each_neurons_total_push():
    counts, y = _counts()
    count_loss(counts, y, timesteps=T, desired=8.0, undesired=1.0, normalise=False).backward()
    plain = counts.grad.clone()
    counts.grad = None
    count_loss(counts, y, timesteps=T, desired=8.0, undesired=1.0, normalise=True).backward()
    # per spike: the count loss's gradient divided by max(N, 1); a neuron with 9 spikes gets
    # a ninth of it per spike, so its total push (N * per-spike) equals the plain gradient
    assert torch.allclose(counts.grad, plain / counts.detach().clamp_min(1))
    assert torch.allclose(counts.grad[1, 3] * 4, plain[1, 3])


def test_ce_plus_skips_silent_labels_and_normalises():
    counts, y = _counts()
    loss = ce_plus_loss(counts, y, timesteps=T)
    loss.backward()
    n = counts.detach()
    z = torch.where(n > 0, 2 * n / T, torch.full_like(n, SILENT_LOGIT))
    assert float(n[2, 3]) == 0.0  # sample 2's label neuron is silent: no loss, no gradient
    assert counts.grad[2].abs().sum() == 0
    p = torch.softmax(z, dim=1)
    hot = torch.nn.functional.one_hot(y, 4).to(p.dtype)
    per_z = (p - hot) * (T / 2) / 3
    want = torch.where(n > 0, per_z * (2 / T) / n.clamp_min(1), torch.zeros_like(n))
    want[2] = 0
    assert torch.allclose(counts.grad, want)


def test_first_spike_scores_rank_as_the_hardware_decides():
    rng = np.random.default_rng(0)
    s = (rng.random((T, 200, 6)) < 0.08).astype(np.uint8)
    scores = first_spike_scores([torch.from_numpy(s[t]).double() for t in range(T)], silent=-3)
    want = decide(s, np.zeros(s.shape, np.int64), rule=OutputRule.FIRST_SPIKE)
    assert scores.argmax(dim=1).tolist() == want.classes.tolist()
    fired = want.fired
    first_t = want.timesteps - 1
    top = scores.max(dim=1).values.numpy()
    assert np.array_equal(top[fired], 1 - first_t[fired] / T)
    assert np.all(top[~fired] == -3)


def test_ttfs_loss_gradient_check():
    torch.manual_seed(0)
    spikes = [torch.rand(3, 4, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    y = torch.tensor([0, 2, 3])
    assert torch.autograd.gradcheck(lambda *s: ttfs_loss(list(s), y, silent=-3.0), spikes)
    with pytest.raises(ValueError, match="ttfs loss needs the output spikes"):
        loss_value(LossParams(loss=Loss.TTFS), counts=spikes[0], labels=y, timesteps=4)


def test_loss_params_are_checked():
    with pytest.raises(TypeError, match="must be a Loss"):
        LossParams(loss="ce")
    with pytest.raises(ValueError, match="desired must be a finite number"):
        LossParams(loss=Loss.COUNT, desired=float("nan"))
    assert LossParams().targets(8) == (8.0, 1.0)
    assert [m.value for m in Loss] == ["ce", "count", "count+", "ce+", "ttfs"]


def _net() -> SpikingMLP:
    torch.manual_seed(1)
    return SpikingMLP([64, 24, 10], weight_bits=6, membrane_bits=16, timesteps=T,
                      encoder=EncoderParams(Encoding.RATE))


def test_weight_standardisation_takes_the_scale_into_the_threshold_and_folds_exactly(tmp_path):
    net = _net()
    images = load_dataset("digits").x_test[:40]
    standardise_weights(net)
    assert is_standardised(net)
    dense, neuron = net.synapse_neuron_pairs()[0]
    with torch.no_grad():
        dense.parametrizations.weight[0].norm_bias.fill_(0.05)
    w_hat = dense.weight.detach().numpy()
    assert np.allclose(w_hat.mean(axis=1), 0.05, atol=1e-6)
    assert np.allclose(w_hat.std(axis=1), 1.0, atol=1e-3)
    assert neuron.learnable_threshold and neuron.threshold_value() > 1.0
    before = net.evaluate_hardware(images).spikes
    fold_standardisation(net)
    assert not is_standardised(net)
    # the standardised weights are the integer weights, the threshold carries the scale
    w, s = quantize_weights(w_hat, bits=6)
    layer = net.integer_layers()[0]
    assert np.array_equal(layer.weights, w)
    assert layer.lif.threshold == quantize_threshold(neuron.threshold_value(), scale=s,
                                                     membrane_bits=16)
    after = net.evaluate_hardware(images).spikes
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    save_checkpoint(tmp_path / "c.safetensors", net)
    back = load_checkpoint(tmp_path / "c.safetensors")
    for a, b in zip(back.integer_layers(), net.integer_layers(), strict=True):
        assert np.array_equal(a.weights, b.weights) and a.lif == b.lif


@pytest.mark.parametrize(("loss", "standardised"), [*((x, False) for x in Loss),
                                                     (Loss.COUNT_PLUS, True)])
def test_brief_training_with_each_loss_learns(loss, standardised):
    ds = load_dataset("digits")
    small = dataclasses.replace(ds, x_train=ds.x_train[:600], y_train=ds.y_train[:600],
                                x_test=ds.x_test[:200], y_test=ds.y_test[:200])
    torch.manual_seed(1)
    net = SpikingMLP([64, 48, 10], weight_bits=6, timesteps=T,
                     encoder=EncoderParams(Encoding.RATE))
    if standardised:
        standardise_weights(net)
    result = train(net, small, epochs=4, batch_size=32, lr=3e-3, seed=0, progress=False,
                   loss=LossParams(loss=loss, temperature=3.0))
    fold_standardisation(net)
    assert all(np.isfinite(result.loss))
    first = loss is Loss.TTFS
    # 4 short epochs: well above chance (0.1) is what is checked, not a final accuracy
    assert evaluate(net, small.x_test, small.y_test, first_spike=first) > 0.3
    rule = OutputRule.FIRST_SPIKE if first else OutputRule.MAX_COUNT
    assert hardware_accuracy(net, small.x_test, small.y_test, rule=rule) > 0.3
