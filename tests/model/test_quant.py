"""The torch fake quantisers compute exactly the integers of ``sim.quant``."""

import numpy as np
import pytest
import torch

from spikesmith.model.quant import (
    fake_quantize_threshold,
    fake_quantize_weights,
    threshold_code,
    weight_codes,
)
from spikesmith.sim.quant import quantize_threshold, quantize_weights


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 12, 16])
@pytest.mark.parametrize("seed", range(4))
def test_weight_codes_equal_sim(bits, seed):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((37, 53)) * 10.0 ** rng.uniform(-4, 1)).astype(np.float32)
    ref, ref_scale = quantize_weights(w, bits=bits)
    codes, scale = weight_codes(torch.from_numpy(w), bits=bits)
    assert float(scale) == ref_scale
    assert np.array_equal(codes.numpy().astype(np.int64), ref)


def test_weight_codes_round_half_even_and_all_zero():
    w = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5]], dtype=np.float32)
    codes, scale = weight_codes(torch.from_numpy(w), bits=8)
    assert float(scale) == 1.0
    assert codes.numpy().astype(np.int64).tolist() == [[127, 0, 2, 2, 0, -2, -2]]
    assert codes.numpy().astype(np.int64).tolist() == quantize_weights(w, bits=8)[0].tolist()
    zero = np.zeros((2, 3), np.float32)
    codes, scale = weight_codes(torch.from_numpy(zero), bits=4)
    assert float(scale) == quantize_weights(zero, bits=4)[1] == 1.0
    assert not codes.any()


@pytest.mark.parametrize("seed", range(3))
def test_threshold_code_equals_sim(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        theta = float(np.float32(rng.uniform(0.01, 3.0)))
        scale = float(rng.uniform(1e-4, 0.05))
        input_scale = 1.0 / 255.0 if rng.integers(2) else 1.0
        ref = quantize_threshold(theta, scale=scale, input_scale=input_scale, membrane_bits=32)
        lsb = torch.tensor(scale, dtype=torch.float64) * input_scale
        got = threshold_code(torch.tensor(theta, dtype=torch.float32), lsb=lsb)
        assert int(got) == ref


def test_fake_quantisers_pass_gradients_straight_through():
    w = torch.randn(5, 7, requires_grad=True)
    w_q, scale = fake_quantize_weights(w, bits=4)
    codes, _ = weight_codes(w, bits=4)
    assert torch.equal(w_q.detach(), (codes * scale).to(torch.float32))
    w_q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    theta = torch.tensor(0.77, requires_grad=True)
    t_q = fake_quantize_threshold(theta, lsb=torch.tensor(0.1, dtype=torch.float64))
    assert float(t_q.detach()) == pytest.approx(0.8)
    t_q.backward()
    assert float(theta.grad) == 1.0
