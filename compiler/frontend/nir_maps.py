"""Feature maps of a NIR graph: Conv2d and pooling parameters, and the exact folds of linear
pooling into the adjacent synapse.

Our contract (``sim.conv``) has a square 2-D convolution with bias and OR pooling of spikes.
NIR's ``SumPool2d`` and ``AvgPool2d`` are linear, ``p = f * sum over the k x k window`` with
``f = 1`` (sum) or ``1 / k**2`` (average), window = stride ``k``, no padding (rows and columns
beyond ``(H // k) * k`` dropped). A linear pool next to a linear synapse folds into it
exactly (the composition of two linear maps, no rounding beyond float products):

* **pool, then Conv2d** ``(W, K, S, P)`` on the pooled map: a conv on the unpooled map with
  kernel ``K k``, stride ``S k``, padding ``P k`` and ``W'[o, c, Y, X] = f W[o, c, Y // k,
  X // k]``. Exact when ``P = 0``, or when ``H`` and ``W`` are multiples of ``k`` (else the
  padding of the pooled map would read dropped rows);
* **Conv2d** ``(W, b, K, S, P)``, **then pool** (before the neuron): one conv with kernel
  ``K + (k - 1) S``, stride ``S k``, padding ``P``, ``W''[o, c, dy S + ky, dx S + kx] = f sum
  W[o, c, ky, kx]`` over the window offsets ``dy, dx`` and bias ``f k**2 b``. The output size
  is ``floor((H_conv) / k)`` as the pool's, so always exact;
* **pool, Flatten, then Affine/Linear**: a dense layer on the flattened unpooled map with
  ``W'[n, c, y, x] = f W[n, c, y // k, x // k]`` (0 on dropped rows and columns);
* a ``SumPool2d`` or ``AvgPool2d`` of **spikes** followed by ``Threshold(theta)`` with
  ``0 <= theta < f`` is OR pooling (``sum > theta / f`` is ``sum >= 1`` on binary spikes):
  our ``POOL``. This is how :mod:`compiler.nir_export` writes OR pooling.

A Conv2d whose output map is ``(C, 1, 1)`` is a dense layer (its weights gathered onto the
flattened input; :func:`conv_as_dense`), which is how a network from a writer without Flatten
(Norse) reaches a dense output layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesmith.sim.conv import conv_out_size

__all__ = ["ConvGeometry", "PoolGeometry", "conv_as_dense", "conv_then_pool", "pair",
           "pool_then_conv", "pool_then_dense"]


def pair(value: object) -> tuple[int, int] | None:
    """Return an ``int`` or a pair of ints (list, tuple, array) as ``(a, b)``; ``None`` if it
    is neither (a string, a fraction, a wrong length)."""
    arr = np.asarray(value).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2 or arr.dtype.kind not in "iuf" or np.any(arr != np.rint(arr)):
        return None
    return int(arr[0]), int(arr[1])


@dataclass(frozen=True)
class ConvGeometry:
    """A square conv ``K, S, P`` on an ``in_shape`` ``(C, H, W)`` map."""

    in_shape: tuple[int, int, int]
    kernel: int
    stride: int
    padding: int

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output rows and columns (``sim.conv.conv_out_size``)."""
        c = {"kernel": self.kernel, "stride": self.stride, "padding": self.padding}
        return conv_out_size(self.in_shape[1], **c), conv_out_size(self.in_shape[2], **c)


@dataclass(frozen=True)
class PoolGeometry:
    """A linear pool, window = stride ``k``, factor ``f``, on an ``in_shape`` map."""

    kernel: int
    factor: float
    in_shape: tuple[int, int, int]

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """Pooled map ``(C, H // k, W // k)``."""
        c, h, w = self.in_shape
        return c, h // self.kernel, w // self.kernel


def _repeat(w: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(np.repeat(w, k, axis=-2), k, axis=-1)


def pool_then_conv(pool: PoolGeometry, w: np.ndarray, geo: ConvGeometry
                   ) -> tuple[np.ndarray, ConvGeometry] | None:
    """Return the conv on the unpooled map equal to ``pool`` then the conv ``(w, geo)``, or
    ``None`` when the conv pads a pooled map whose input is not a multiple of ``k``."""
    k = pool.kernel
    _, h, wd = pool.in_shape
    if geo.padding and (h % k or wd % k):
        return None
    folded = ConvGeometry(in_shape=pool.in_shape, kernel=geo.kernel * k, stride=geo.stride * k,
                          padding=geo.padding * k)
    return pool.factor * _repeat(w, k), folded


def conv_then_pool(w: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, kernel: int,
                   factor: float) -> tuple[np.ndarray, np.ndarray | None, ConvGeometry]:
    """Return the one conv equal to the conv ``(w, bias, geo)`` then a pool of its output."""
    s, big = geo.stride, geo.kernel + (kernel - 1) * geo.stride
    out = np.zeros((*w.shape[:2], big, big))
    for dy in range(kernel):
        for dx in range(kernel):
            out[:, :, dy * s:dy * s + geo.kernel, dx * s:dx * s + geo.kernel] += w
    folded = ConvGeometry(in_shape=geo.in_shape, kernel=big, stride=s * kernel,
                          padding=geo.padding)
    b = None if bias is None else bias * (factor * kernel * kernel)
    return factor * out, b, folded


def pool_then_dense(pool: PoolGeometry, w: np.ndarray) -> np.ndarray:
    """Return the dense weights on the flattened unpooled map equal to ``pool``, a Flatten,
    then the dense ``w`` ``(n, C * Hp * Wp)``."""
    c, h, wd = pool.in_shape
    _, hp, wp = pool.out_shape
    grid = _repeat(w.reshape(w.shape[0], c, hp, wp), pool.kernel) * pool.factor
    out = np.zeros((w.shape[0], c, h, wd))
    out[:, :, :grid.shape[2], :grid.shape[3]] = grid
    return out.reshape(w.shape[0], -1)


def conv_as_dense(w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """Return the dense weights ``(C_out, C*H*W)`` of a conv whose output map is 1 x 1."""
    c, h, wd = geo.in_shape
    p, k = geo.padding, geo.kernel
    full = np.zeros((w.shape[0], c, h + 2 * p, wd + 2 * p))
    full[:, :, :k, :k] = w
    return full[:, :, p:p + h, p:p + wd].reshape(w.shape[0], -1)
