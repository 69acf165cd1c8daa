"""Surrogate spike functions: Heaviside forward, primitive-derivative backward."""

import pytest
import torch

from spikesmith.model.surrogate import Surrogate, SurrogateKind, atan, fast_sigmoid, sigmoid

FACTORIES = [fast_sigmoid(slope=5.0), fast_sigmoid(slope=25.0), atan(alpha=2.0),
             atan(alpha=0.5), sigmoid(alpha=4.0)]


@pytest.mark.parametrize("spike", FACTORIES, ids=lambda s: f"{s.kind.value}-{s.sharpness}")
def test_backward_equals_autograd_of_primitive(spike):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(257, generator=g, dtype=torch.float64) * 2.0).requires_grad_()
    upstream = torch.randn(257, generator=g, dtype=torch.float64)
    spike(x).backward(upstream)
    x_ref = x.detach().clone().requires_grad_()
    spike.primitive(x_ref).backward(upstream)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("spike", FACTORIES, ids=lambda s: f"{s.kind.value}-{s.sharpness}")
def test_forward_is_greater_or_equal_step(spike):
    x = torch.tensor([-2.0, -1e-7, 0.0, 1e-7, 3.0])
    assert spike(x).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("spike", FACTORIES, ids=lambda s: f"{s.kind.value}-{s.sharpness}")
def test_primitive_is_a_smooth_step_from_zero_to_one(spike):
    x = torch.tensor([-1e6, 0.0, 1e6], dtype=torch.float64)
    torch.testing.assert_close(spike.primitive(x), torch.tensor([0.0, 0.5, 1.0],
                                                                dtype=torch.float64),
                               atol=1e-5, rtol=0)


def test_config_round_trip():
    s = atan(alpha=3.0)
    assert Surrogate.from_config(s.to_config()) == s


def test_bad_sharpness_is_rejected():
    with pytest.raises(ValueError, match=r"surrogate sharpness must be a positive finite number"
                                         r", not 0\.0"):
        fast_sigmoid(slope=0.0)
    with pytest.raises(TypeError, match="kind must be a SurrogateKind, not 'atan'"):
        Surrogate("atan", 1.0)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match=r"surrogate kind must be one of \['fast_sigmoid', "
                                         r"'atan', 'sigmoid'\], not 'box'"):
        Surrogate.from_config({"kind": "box", "sharpness": 1.0})
    with pytest.raises(ValueError, match="surrogate config must be a dict with keys 'kind' and "
                                         "'sharpness'"):
        Surrogate.from_config({"kind": SurrogateKind.ATAN.value})
