"""Configuration of the event-driven convolution core: what ``hw.conv`` elaborates.

A core is the ``sim`` record of its layer (:class:`~spikesmith.sim.conv.ConvLayer`: weights,
bias, stride, padding, input shape, neuron parameters), optionally followed by the spike
pooling of the next :class:`~spikesmith.sim.conv.PoolLayer` (done in the core's output address
space), plus what only the hardware needs (accumulator and input widths, lanes). Like
:class:`~spikesmith.hw.lif.config.LIFCoreConfig` it carries only integers and enums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesmith.sim.conv import ConvLayer, PoolLayer
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.limits import ACC_BITS, LANES

__all__ = ["ConvCoreConfig"]


@dataclass(frozen=True, eq=False, kw_only=True)
class ConvCoreConfig:
    """One event-driven convolution core (:class:`~spikesmith.hw.conv.conv_core.ConvCore`).

    Parameters
    ----------
    name : str
        Layer name from the source model (used for instance and file names).
    layer : ConvLayer
        The convolution and its neurons: weights ``(C_out, C_in, K, K)`` (initial contents of
        the weight memory), bias, stride, padding, input shape, neuron parameters.
    pool : PoolLayer or None
        OR pooling of the layer's output spikes (window and stride ``k``), or ``None``.
    acc_bits : int
        Signed width of the synaptic input; the compiler proves ``|I| <= 2**(acc_bits-1) - 1``
        for every partial sum (``sim.conv.conv_accumulator_bound``).
    input_bits : int
        Width of one input event's value: 1 for spike events (no multiplier), 8 for direct
        current (a multiplier per lane).
    lanes : int
        Lanes ``P`` over output channels: weights read and accumulated per cycle
        (``sim.limits.LANES``).

    Raises
    ------
    TypeError
        If ``layer`` is not a ``ConvLayer`` or ``pool`` neither a ``PoolLayer`` nor ``None``.
    ValueError
        If ``name`` is not an identifier, ``lanes`` or ``acc_bits`` are out of their
        ``sim.limits`` ranges, ``input_bits`` is neither 1 nor 8, or the pooling's input shape
        is not the convolution's output shape.
    """

    name: str
    layer: ConvLayer
    pool: PoolLayer | None = None
    acc_bits: int
    input_bits: int = 1
    lanes: int

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"core name must be an identifier, not {self.name!r}")
        if not isinstance(self.layer, ConvLayer):
            raise TypeError(f"layer must be a ConvLayer, not {self.layer!r}")
        if self.pool is not None:
            if not isinstance(self.pool, PoolLayer):
                raise TypeError(f"pool must be a PoolLayer or None, not {self.pool!r}")
            if tuple(self.pool.in_shape) != self.layer.out_shape:
                raise ValueError(f"pool input shape must be the conv output shape "
                                 f"{self.layer.out_shape}, not {tuple(self.pool.in_shape)}")
        LANES.check(self.lanes)
        ACC_BITS.check(self.acc_bits)
        if self.input_bits not in (1, 8):
            raise ValueError(f"input_bits must be 1 (spikes) or 8 (direct), not {self.input_bits}")

    @property
    def lif(self) -> LIFParams:
        """Neuron parameters of the layer."""
        return self.layer.lif

    @property
    def weights(self) -> np.ndarray:
        """Integer weights ``(C_out, C_in, K, K)``."""
        return np.asarray(self.layer.weights)

    @property
    def weight_bits(self) -> int:
        """Signed width of a stored weight."""
        return self.layer.weight_bits

    @property
    def bias(self) -> np.ndarray:
        """Integer bias ``(C_out,)`` in membrane LSBs (zeros when the layer has none)."""
        if self.layer.bias is None:
            return np.zeros(self.out_shape[0], dtype=np.int64)
        return np.asarray(self.layer.bias, dtype=np.int64)

    @property
    def kernel(self) -> int:
        """Kernel size ``K``."""
        return self.layer.kernel

    @property
    def stride(self) -> int:
        """Stride ``S``."""
        return self.layer.stride

    @property
    def padding(self) -> int:
        """Zero padding ``P`` on every border."""
        return self.layer.padding

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """Input feature map ``(C_in, H, W)``."""
        c, h, w = self.layer.in_shape
        return int(c), int(h), int(w)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """Convolution output (the neurons) ``(C_out, H_out, W_out)``."""
        return self.layer.out_shape

    @property
    def pool_kernel(self) -> int:
        """Pooling window ``k`` (1 without pooling: every output position is its own window)."""
        return 1 if self.pool is None else self.pool.kernel

    @property
    def emit_shape(self) -> tuple[int, int, int]:
        """Shape of the spike events the core emits: ``out_shape`` pooled by ``pool_kernel``."""
        c, h, w = self.out_shape
        k = self.pool_kernel
        return c, h // k, w // k

    @property
    def groups(self) -> int:
        """Channel groups ``G = ceil(C_out / lanes)``: the cycles per kernel tap of an event."""
        return -(-self.out_shape[0] // self.lanes)

    @property
    def positions(self) -> int:
        """Output positions ``H_out * W_out``."""
        return self.out_shape[1] * self.out_shape[2]

    @property
    def state_words(self) -> int:
        """Words of the state memory: ``positions * groups`` (word ``pos * G + g``)."""
        return self.positions * self.groups

    @property
    def weight_words(self) -> int:
        """Words of the weight memory: ``C_in * K * K * groups``."""
        return self.in_shape[0] * self.kernel * self.kernel * self.groups

    @property
    def state_bits(self) -> int:
        """Bits of one lane of the state memory: ``max(membrane_bits, acc_bits) + 1``, enough
        for ``leak(v[t-1]) + I[t]`` exactly (as ``LIFCoreConfig.state_bits``; ``I`` includes
        the bias)."""
        return max(self.lif.membrane.width, self.acc_bits) + 1
