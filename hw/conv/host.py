"""Host side of a convolution core: input events in, output events and readback out.

Pure conversions between ``sim`` arrays (channel-major flat feature maps, ``sim.conv``) and the
stream words of :class:`~.conv_core.ConvCore` (layouts of :mod:`.streams`), shared by the
Amaranth testbenches and the Verilator harness. The event order and the timestep/sample
delimiting are those of the dense host model (:mod:`spikesmith.hw.lif.host`), whose
:func:`~spikesmith.hw.lif.host.input_events` and
:func:`~spikesmith.hw.lif.host.events_to_spikes` these functions reuse.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..common.streams import pack, unpack
from ..lif.host import input_events
from .config import ConvCoreConfig
from .streams import conv_readback_layout, feature_event_layout, input_event_layout

__all__ = ["decode_feature_events", "decode_readback", "feature_events", "pack_feature_events"]


def feature_events(x: np.ndarray, shape: tuple[int, int, int]
                   ) -> list[tuple[int, int, int, int, int, int]]:
    """Return the events ``(c, y, x, value, eot, last)`` of input ``x`` ``(T, batch, C*H*W)``
    of feature map ``shape``: per sample and timestep the non-zero inputs in channel-major
    order, then a marker (``last`` on the sample's final timestep).

    Raises
    ------
    ValueError
        If ``x`` is not ``(T, batch, C*H*W)``.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != math.prod(shape):
        raise ValueError(f"x must have shape (T, batch, {math.prod(shape)}), not {x.shape}")
    out = []
    for index, value, eot, last in input_events(x):
        c, y, xx = np.unravel_index(index, shape)
        out.append((int(c), int(y), int(xx), value, eot, last))
    return out


def pack_feature_events(config: ConvCoreConfig, x: np.ndarray) -> list[int]:
    """Return the packed input-stream words of ``x`` ``(T, batch, C_in*H*W)`` for ``config``."""
    lay = input_event_layout(in_shape=config.in_shape, input_bits=config.input_bits)
    direct = config.input_bits > 1
    words = []
    for c, y, xx, v, e, la in feature_events(x, config.in_shape):
        extra = {"value": v} if direct else {}
        words.append(pack(lay, c=c, y=y, x=xx, eot=e, last=la, **extra))
    return words


def decode_feature_events(shape: tuple[int, int, int], words: Iterable[int]
                          ) -> list[tuple[int, int, int]]:
    """Return ``(flat index, eot, last)`` of each output word of feature map ``shape``, ready
    for :func:`spikesmith.hw.lif.host.events_to_spikes` (``n = C*H*W``)."""
    lay = feature_event_layout(shape)
    _, h, w = shape
    out = []
    for word in words:
        f = unpack(lay, word)
        out.append(((f["c"] * h + f["y"]) * w + f["x"], f["eot"], f["last"]))
    return out


def decode_readback(config: ConvCoreConfig, records: list[int], *, samples: int,
                    timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(membranes, spikes)`` of shape ``(T, samples, C_out*H_out*W_out)`` (channel-
    major) from the core's readback records (``state_words`` per timestep, in pass order).

    Raises
    ------
    ValueError
        If there are not ``samples * timesteps * state_words`` records.
    """
    n_words, g_n, p = config.state_words, config.groups, config.lanes
    if len(records) != samples * timesteps * n_words:
        raise ValueError(f"expected {samples * timesteps * n_words} readback records, "
                         f"not {len(records)}")
    c_out, _, _ = config.out_shape
    e = config.positions
    lay = conv_readback_layout(state_words=n_words, membrane_bits=config.lif.membrane.width,
                               lanes=p)
    mem = np.zeros((timesteps, samples, c_out * e), np.int64)
    spk = np.zeros((timesteps, samples, c_out * e), np.uint8)
    for r, word in enumerate(records):
        f = unpack(lay, word)
        b, rest = divmod(r, timesteps * n_words)
        t = rest // n_words
        pos, g = divmod(f["index"], g_n)
        for j in range(p):
            o = g * p + j
            if o < c_out:
                mem[t, b, o * e + pos] = f["membranes"][j]
                spk[t, b, o * e + pos] = (f["spikes"] >> j) & 1
    return mem, spk
