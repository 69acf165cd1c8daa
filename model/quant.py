"""Fake quantisation for training, with straight-through estimators.

The folding equations live in ``sim.quant`` (symmetric per-layer weight scale, round half
even, symmetric clip; threshold ``max(1, round_half_even(theta / lsb))``). The functions here
compute the same integers in torch, in ``float64`` and with the same operation order as the
NumPy code, so that the codes are identical (``tests/model/test_quant.py`` checks this on
random tensors). The forward value is ``code * scale``; the backward pass is the identity
(straight-through).
"""

from __future__ import annotations

import torch

from spikesmith.sim.quant import check_weight_bits

__all__ = ["fake_quantize_threshold", "fake_quantize_weights", "threshold_code", "weight_codes"]


def weight_codes(w: torch.Tensor, *, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(codes, scale)`` as ``float64`` tensors, equal to ``sim.quant.quantize_weights``.

    ``scale`` is a 0-d tensor (1.0 for an all-zero ``w``); ``codes`` are integers in
    ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` held as ``float64``. No gradient flows.
    """
    check_weight_bits(bits)
    q = (1 << (bits - 1)) - 1
    w64 = w.detach().to(torch.float64)
    m = w64.abs().max() if w64.numel() else w64.new_zeros(())
    scale = torch.where(m > 0, m / q, torch.ones_like(m))
    return torch.clamp(torch.round(w64 / scale), -q, q), scale


def fake_quantize_weights(w: torch.Tensor, *, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(w_q, scale)``: ``w_q = codes * scale`` forward, identity gradient to ``w``."""
    codes, scale = weight_codes(w, bits=bits)
    w_q = (codes * scale).to(w.dtype)
    return w + (w_q - w).detach(), scale


def threshold_code(theta: torch.Tensor, *, lsb: torch.Tensor) -> torch.Tensor:
    """Return ``max(1, round_half_even(theta / lsb))`` as ``float64`` (``sim.quant`` semantics).

    ``lsb`` is the membrane LSB ``scale * input_scale`` in float units. The membrane-width
    check of ``sim.quant.quantize_threshold`` is left to the hardware-exact mode.
    """
    t = torch.round(theta.detach().to(torch.float64) / lsb.to(torch.float64))
    return torch.clamp_min(t, 1.0)


def fake_quantize_threshold(theta: torch.Tensor, *, lsb: torch.Tensor) -> torch.Tensor:
    """Return ``threshold_code * lsb`` forward, identity gradient to ``theta``."""
    t_q = (threshold_code(theta, lsb=lsb) * lsb.to(torch.float64)).to(theta.dtype)
    return theta + (t_q - theta).detach()
