"""BatchNorm folding: a synapse followed by batch normalisation as one synapse with a bias.

In inference a ``BatchNorm2d`` over the synaptic input ``I[o, y, x]`` of output channel ``o``
is the affine map ``gamma[o] * (I - mu[o]) / sqrt(var[o] + eps) + beta[o]`` with its running
statistics ``mu``, ``var``. With ``a[o] = gamma[o] / sqrt(var[o] + eps)`` it folds exactly
into the synapse (weights ``W``, bias ``b``, 0 when absent)::

    W'[o] = a[o] * W[o]                        (the BN scale, per output channel)
    b'[o] = a[o] * (b[o] - mu[o]) + beta[o]    (the BN shift, per output channel)

in float64, in this order of operations. The folded layer is then quantised by the
contract's rules (``sim.quant``), exactly as an unfolded one: one per-layer scale
``s = max|W'| / (2**(bits-1) - 1)``, ``W_int = round_half_even(W' / s)``, the bias in membrane
LSBs ``b_int = round_half_even(b' / (s * input_scale))`` and the layer threshold
``theta_int = max(1, round_half_even(theta / (s * input_scale)))``. The LIF threshold stays one
per layer: the per-channel BN scale lives in the weights, the per-channel shift in the bias.

Since the same BN applies at every timestep, the bias is added once per timestep, as
``sim.conv`` adds it. ``gamma = 1`` and ``beta = 0`` without affine parameters.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["bn_scale_shift", "fold_batchnorm", "fold_batchnorm_numpy", "folded_parameters"]


def bn_scale_shift(bn: nn.BatchNorm2d | nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor,
                                                                  torch.Tensor]:
    """Return ``(a, mu, beta)`` of a BatchNorm's running statistics as ``float64`` tensors.

    ``a = gamma / sqrt(var + eps)``, differentiable in ``gamma``; ``mu`` and ``beta`` as
    stored (``beta`` differentiable).
    """
    var = bn.running_var.detach().to(torch.float64)
    mu = bn.running_mean.detach().to(torch.float64)
    inv = 1.0 / torch.sqrt(var + bn.eps)
    if bn.affine:
        return bn.weight.to(torch.float64) * inv, mu, bn.bias.to(torch.float64)
    return inv, mu, torch.zeros_like(mu)


def fold_batchnorm(weight: torch.Tensor, bias: torch.Tensor | None,
                   bn: nn.BatchNorm2d | nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the folded ``(W', b')`` in ``float64`` (module docstring), differentiable.

    Parameters
    ----------
    weight : torch.Tensor
        Weights ``(C_out, ...)``.
    bias : torch.Tensor or None
        Bias ``(C_out,)``, or ``None`` for 0.
    bn : nn.BatchNorm2d or nn.BatchNorm1d
        The normalisation after the synapse (``C_out`` features); its running statistics are
        used.
    """
    a, mu, beta = bn_scale_shift(bn)
    w = weight.to(torch.float64) * a.reshape(-1, *([1] * (weight.ndim - 1)))
    b = -mu if bias is None else bias.to(torch.float64) - mu
    return w, a * b + beta


def fold_batchnorm_numpy(weight: torch.Tensor, bias: torch.Tensor | None,
                         bn: nn.BatchNorm2d | nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    """Return :func:`fold_batchnorm` as detached ``float64`` NumPy arrays (the export)."""
    with torch.no_grad():
        w, b = fold_batchnorm(weight, bias, bn)
    return w.cpu().numpy(), b.cpu().numpy()


def folded_parameters(synapse: nn.Module, bn: nn.BatchNorm2d | nn.BatchNorm1d | None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the float64 weights and bias (``None`` when there is none) a synapse exports.

    With ``bn`` the folded ``(W', b')`` of :func:`fold_batchnorm_numpy`; without, the
    synapse's ``weight`` and optional ``bias`` as float64. The model's hardware-exact mode and
    the compiler's frontend both quantise exactly these arrays.
    """
    bias = getattr(synapse, "bias", None)
    if bn is not None:
        return fold_batchnorm_numpy(synapse.weight, bias, bn)
    w = synapse.weight.detach().cpu().numpy().astype(np.float64)
    return w, None if bias is None else bias.detach().cpu().numpy().astype(np.float64)
