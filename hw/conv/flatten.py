"""Flatten of a feature map's spike events into the dense core's event protocol.

A conv core emits ``(c, y, x)`` events (:func:`.streams.feature_event_layout`); the dense
classifier (:class:`spikesmith.hw.lif.lif_core.LIFCore`) takes flat indices. Flatten is the
channel-major index of ``sim.conv``, ``(c*H + y)*W + x``: multiplications by constants, no
state, no added latency (``valid``, ``ready``, ``eot`` and ``last`` pass straight through).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..common.streams import spike_event_layout
from .streams import feature_event_layout

__all__ = ["Flatten"]


class Flatten(wiring.Component):
    """Turn feature-map spike events into flat spike events.

    Parameters
    ----------
    shape : tuple[int, int, int]
        Feature map ``(C, H, W)``.

    Members
    -------
    i : In(stream.Signature(feature_event_layout(shape)))
        Events ``(c, y, x)`` and end-of-timestep markers.
    o : Out(stream.Signature(spike_event_layout(C*H*W)))
        The same events with ``index = (c*H + y)*W + x``.

    Raises
    ------
    ValueError
        If ``shape`` is not three positive integers.
    """

    def __init__(self, shape: tuple[int, int, int]):
        if (not isinstance(shape, tuple) or len(shape) != 3
                or not all(isinstance(v, int) and v >= 1 for v in shape)):
            raise ValueError(f"shape must be three positive integers (C, H, W), not {shape!r}")
        self._shape = shape
        c, h, w = shape
        super().__init__({
            "i": In(stream.Signature(feature_event_layout(shape))),
            "o": Out(stream.Signature(spike_event_layout(c * h * w))),
        })

    @property
    def shape(self) -> tuple[int, int, int]:
        """The feature map ``(C, H, W)``."""
        return self._shape

    def elaborate(self, platform):
        """Wire the handshake through and compute the flat index."""
        m = Module()
        _, h, w = self._shape
        p = self.i.payload
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready),
            self.o.payload.index.eq((p.c * h + p.y) * w + p.x),
            self.o.payload.eot.eq(p.eot),
            self.o.payload.last.eq(p.last),
        ]
        return m
