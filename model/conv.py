"""Trainable feature-map layers: a fake-quantised 2-D convolution, spike pooling and Flatten.

The integer equations they approximate in training and reproduce exactly in the
hardware-exact mode are those of ``sim.conv`` (convolution with a per-output-channel bias,
OR pooling of binary spikes, channel-major flattening). Tensors are ``(N, C, H, W)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from spikesmith.sim.conv import conv_geometry, pool_geometry
from spikesmith.sim.quant import check_weight_bits, quantize_weights

from .quant import fake_quantize_weights

__all__ = ["Flatten", "QuantConv2d", "SpikePool"]


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
    return value


class QuantConv2d(nn.Module):
    """2-D convolution with fake-quantised weights and an optional float bias.

    The weights share one symmetric per-layer scale (``sim.quant.quantize_weights``, the rule
    of ``QuantDense``). The bias, when present, is in the float units of the synaptic input
    and is folded into membrane LSBs at export (``sim.quant.quantize_bias``); a
    ``BatchNorm2d`` after this layer folds into the weights and the bias
    (``model.fold``).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels read and produced.
    kernel : int
        Square kernel size ``K >= 1``.
    weight_bits : int
        Signed width of the integer weights.
    stride : int
        ``S >= 1`` along both axes.
    padding : int
        Zero padding ``P`` on every border, ``0 <= P < K``.
    bias : bool
        Learn a per-output-channel bias.
    init_gain : float
        Weights start uniform in ``±init_gain * sqrt(3 / (in_channels * K * K))``.

    Raises
    ------
    ValueError
        On non-positive sizes, a padding outside ``0..K-1`` or bad weight bits.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, *, weight_bits: int,
                 stride: int = 1, padding: int = 0, bias: bool = False,
                 init_gain: float = 1.0) -> None:
        super().__init__()
        self.in_channels = _check_int("in_channels", in_channels, 1)
        self.out_channels = _check_int("out_channels", out_channels, 1)
        self.kernel = _check_int("kernel", kernel, 1)
        self.stride = _check_int("stride", stride, 1)
        self.padding = _check_int("padding", padding, 0)
        if padding >= kernel:
            raise ValueError(f"padding must be below the kernel size {kernel}, not {padding}")
        self.weight_bits = check_weight_bits(weight_bits)
        fan_in = in_channels * kernel * kernel
        bound = init_gain * math.sqrt(3.0 / fan_in)
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels, kernel, kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def out_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """Return the output map of an ``in_shape`` input (``sim.conv.conv_geometry``)."""
        if in_shape[0] != self.in_channels:
            raise ValueError(f"a {in_shape} map feeds a conv of {self.in_channels} channels")
        return conv_geometry(in_shape=in_shape, out_channels=self.out_channels,
                             kernel=self.kernel, stride=self.stride, padding=self.padding)

    def quantized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(w_q, scale)``: fake-quantised weights (STE) and the 0-d ``float64`` scale."""
        return fake_quantize_weights(self.weight, bits=self.weight_bits)

    def integer_weights(self) -> tuple[np.ndarray, float]:
        """Return ``sim.quant.quantize_weights(weight, bits=weight_bits)``: int64 codes, scale."""
        return quantize_weights(self.weight.detach().cpu().numpy(), bits=self.weight_bits)

    def conv(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
             ) -> torch.Tensor:
        """Return the convolution of ``x`` ``(N, C_in, H, W)`` with ``weight`` and ``bias``."""
        return functional.conv2d(x, weight, bias, stride=self.stride, padding=self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the convolution of ``x`` with the fake-quantised weights and the float bias."""
        w_q, _ = self.quantized()
        return self.conv(x, w_q, self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel={self.kernel}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, "
                f"weight_bits={self.weight_bits}")


class SpikePool(nn.Module):
    """OR pooling of binary spikes: max pooling, window and stride ``kernel``, no padding.

    On spikes in ``{0, 1}`` the max of a window is the OR of its spikes, so the forward pass
    is exactly ``sim.conv.or_pool`` (rows and columns beyond ``(H // k) * k`` are dropped, as
    ``F.max_pool2d`` does). The backward pass is max pooling's: the surrogate gradient of the
    window goes to one spiking element of it (the first one when none spikes), so the
    gradient reaches the neurons that produced the pooled spike.

    Parameters
    ----------
    kernel : int
        Window and stride ``k >= 1``.
    """

    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = _check_int("kernel", kernel, 1)

    def out_shape(self, in_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """Return the output map of an ``in_shape`` input (``sim.conv.pool_geometry``)."""
        return pool_geometry(in_shape=in_shape, kernel=self.kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the max (OR) over each ``k x k`` window of ``x`` ``(N, C, H, W)``."""
        return functional.max_pool2d(x, self.kernel, self.kernel)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


class Flatten(nn.Module):
    """Flatten a ``(N, C, H, W)`` map to ``(N, C*H*W)`` channel-major (``c*H*W + y*W + x``).

    The order of ``sim.conv``'s flat maps, so it is free in the integer network (no layer).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` reshaped to ``(N, C*H*W)``."""
        return x.flatten(1)
