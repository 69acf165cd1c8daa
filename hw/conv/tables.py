"""Memory images and generated address tables of the convolution core.

Everything here is computed at elaboration from a :class:`~.config.ConvCoreConfig` and becomes
initial memory contents or constant tables of the gateware:

* :func:`pack_weight_words`: the weight memory, word ``((c*K + ky)*K + kx)*G + g`` holding the
  ``P`` weights ``W[g*P + j, c, ky, kx]`` (lane ``j`` in bits ``j*weight_bits`` upward);
* :func:`bias_words`: per channel group, the state word of the ``P`` biases (what every state
  word holds at the start of a sample), shifted by the first timestep's input shift;
* :func:`threshold_table`: per channel group, the ``P`` thresholds of the neuron pass (the
  per-channel table ``LIFParams.channel_thresholds``, or the layer's threshold);
* :func:`axis_taps`: per input row (or column), the kernel taps that reach an output: the first
  kernel row ``k0`` with its output row ``o0`` and the tap count ``n``; tap ``i`` is kernel row
  ``k0 + i*S`` and output row ``o0 - i`` (the rows of ``sim.conv.scatter_taps``);
* :func:`pass_order`: the order in which the neuron pass visits the output positions, grouping
  the positions of each pooling window so that OR pooling is a register (``sim.conv.or_pool``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from spikesmith.sim.conv import scatter_taps

from .config import ConvCoreConfig

__all__ = ["AxisTaps", "PassEntry", "axis_taps", "bias_words", "pack_weight_words", "pass_order",
           "threshold_table"]


@dataclass(frozen=True)
class AxisTaps:
    """The kernel taps of one input row (or column): see :func:`axis_taps`."""

    k0: int
    o0: int
    n: int


@dataclass(frozen=True)
class PassEntry:
    """One output position of the neuron pass (:func:`pass_order`).

    Attributes
    ----------
    pos : int
        Output position ``oy * W_out + ox`` (state words ``pos * G + g``).
    y, x : int
        Coordinates of the emitted spike events: ``(oy, ox)``, or the pooled ``(py, px)``.
    open : bool
        First position of its pooling window (the OR restarts).
    close : bool
        Last position of its window (the OR is emitted when ``emit``).
    emit : bool
        The position belongs to a pooling window (rows and columns past ``Hp*k``/``Wp*k`` are
        updated but never emitted).
    """

    pos: int
    y: int
    x: int
    open: bool
    close: bool
    emit: bool


def pack_weight_words(config: ConvCoreConfig) -> list[int]:
    """Return the weight memory contents: ``C_in * K * K * G`` words of ``P`` weights.

    Output channels past ``C_out`` (padding of the last group) have weight 0.
    """
    p, wb, groups = config.lanes, config.weight_bits, config.groups
    mask = (1 << wb) - 1
    w = config.weights
    c_out, c_in, k, _ = w.shape
    words = []
    for c in range(c_in):
        for ky in range(k):
            for kx in range(k):
                for g in range(groups):
                    word = 0
                    for j in range(p):
                        o = g * p + j
                        if o < c_out:
                            word |= (int(w[o, c, ky, kx]) & mask) << (j * wb)
                    words.append(word)
    return words


def bias_words(config: ConvCoreConfig, *, shift: int = 0) -> list[int]:
    """Return, per channel group ``g``, the state word of lanes ``b[g*P + j] << shift`` (two's
    complement in ``state_bits`` per lane; 0 past ``C_out``): ``shift`` is the input shift
    ``e[t]`` of the timestep the word starts (``sim.lif``; the bias is part of ``I``)."""
    p, sb = config.lanes, config.state_bits
    mask = (1 << sb) - 1
    b = config.bias * (1 << shift)
    out = []
    for g in range(config.groups):
        word = 0
        for j in range(p):
            o = g * p + j
            if o < len(b):
                word |= (int(b[o]) & mask) << (j * sb)
        out.append(word)
    return out


def threshold_table(config: ConvCoreConfig) -> list[list[int]]:
    """Return, per channel group ``g``, the thresholds of lanes ``g*P + j``: ``theta[c]`` of
    ``LIFParams.channel_thresholds`` (the layer's ``threshold`` without a table and past
    ``C_out``, where the lane never fires)."""
    lif, p = config.lif, config.lanes
    table = lif.channel_thresholds or (lif.threshold,) * config.out_shape[0]
    return [[table[g * p + j] if g * p + j < len(table) else lif.threshold for j in range(p)]
            for g in range(config.groups)]


def axis_taps(config: ConvCoreConfig, *, axis: int) -> tuple[AxisTaps, ...]:
    """Return the taps of every input row (``axis=1``) or column (``axis=2``), in input order.

    They are the rows (columns) of ``sim.conv.scatter_taps``, the one statement of which
    outputs an input reaches: column 0 (row 0) reaches output 0 through kernel column ``P``, so
    the taps of row ``y`` are those of ``(y, 0)``. Sorted by kernel row they step by ``S`` in
    the kernel and by ``-1`` in the output, which the tap generator relies on.

    Raises
    ------
    ValueError
        If ``axis`` is neither 1 nor 2.
    """
    if axis not in (1, 2):
        raise ValueError(f"axis must be 1 (rows) or 2 (columns), not {axis!r}")
    taps = []
    for i in range(config.in_shape[axis]):
        reached = scatter_taps(config.layer, y=i, x=0) if axis == 1 else scatter_taps(
            config.layer, y=0, x=i)
        # (oy, ox, ky, kx): keep the (output, kernel) pairs along this axis
        pairs = sorted({(t[2], t[0]) if axis == 1 else (t[3], t[1]) for t in reached})
        steps = {(k1 - k0, o1 - o0) for (k0, o0), (k1, o1) in itertools.pairwise(pairs)}
        if not steps <= {(config.stride, -1)}:
            raise RuntimeError(f"taps of input {i} on axis {axis} are not one kernel step S "
                               f"and one output step -1 apart: {pairs}")
        k0, o0 = pairs[0] if pairs else (0, 0)
        taps.append(AxisTaps(k0=k0, o0=o0, n=len(pairs)))
    return tuple(taps)


def pass_order(config: ConvCoreConfig) -> tuple[PassEntry, ...]:
    """Return the output positions in the order the neuron pass visits them.

    Pooling windows ``(py, px)`` in row-major order, each window's ``k * k`` positions in
    row-major order, then the positions outside every window. Without pooling (``k = 1``) this
    is plain row-major order and every position opens, closes and emits.
    """
    _, h, w = config.out_shape
    k = config.pool_kernel
    hp, wp = h // k, w // k
    order = []
    for py in range(hp):
        for px in range(wp):
            for dy in range(k):
                for dx in range(k):
                    oy, ox = py * k + dy, px * k + dx
                    order.append(PassEntry(pos=oy * w + ox, y=py, x=px, open=dy == dx == 0,
                                           close=dy == dx == k - 1, emit=True))
    for oy in range(h):
        for ox in range(w):
            if oy >= hp * k or ox >= wp * k:
                order.append(PassEntry(pos=oy * w + ox, y=0, x=0, open=True, close=True,
                                       emit=False))
    return tuple(order)
