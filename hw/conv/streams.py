"""Stream payload layouts of the convolution core (``amaranth.lib.stream`` payloads).

* **feature event** (:func:`feature_event_layout`): one spike (or direct-current pixel) of a
  feature map ``(C, H, W)`` at channel ``c``, row ``y``, column ``x``, or an end-of-timestep
  marker (``eot = 1``, ``last = 1`` on the sample's last timestep). The protocol is that of
  :func:`spikesmith.hw.common.streams.spike_event_layout` (a timestep is its events closed by
  a marker), with the flat index ``c*H*W + y*W + x`` of ``sim.conv`` split into its
  coordinates so that a core needs no division. A conv core's output events use the same
  layout for its output map, so conv cores chain without glue.
* **update** (:func:`update_layout`): one kernel tap of one input event for one channel group,
  from :class:`~.tap_generator.TapGenerator` to the accumulate pipeline.
* **conv readback** (:func:`conv_readback_layout`): one record per state word per timestep,
  after the reset stage: the word address ``index = (oy*W_out + ox)*G + g``, the ``P``
  membranes of channels ``g*P + j`` and their ``P`` spike bits.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from ..common.streams import index_bits

__all__ = [
    "conv_readback_layout",
    "feature_event_layout",
    "input_event_layout",
    "update_layout",
]


def feature_event_layout(shape: tuple[int, int, int], *, value_bits: int = 0
                         ) -> data.StructLayout:
    """Return the layout of an event of feature map ``shape = (C, H, W)``.

    Fields: ``c``, ``y``, ``x``, ``value`` (only when ``value_bits > 0``: unsigned direct
    current multiplying the weight), ``eot``, ``last``.
    """
    c, h, w = shape
    fields = {"c": unsigned(index_bits(c)), "y": unsigned(index_bits(h)),
              "x": unsigned(index_bits(w))}
    if value_bits:
        fields["value"] = unsigned(value_bits)
    fields |= {"eot": unsigned(1), "last": unsigned(1)}
    return data.StructLayout(fields)


def input_event_layout(*, in_shape: tuple[int, int, int], input_bits: int
                       ) -> data.StructLayout:
    """Return the layout of a conv core's input events: spike events for ``input_bits == 1``,
    else events with an ``input_bits`` wide ``value`` (direct current)."""
    return feature_event_layout(in_shape, value_bits=input_bits if input_bits > 1 else 0)


def update_layout(*, weight_words: int, state_words: int, value_bits: int) -> data.StructLayout:
    """Return the layout of one accumulate item: weight word ``waddr``, state word ``saddr``,
    ``value`` (the event's current, 1 bit for spikes), ``eot`` and ``last`` (a marker)."""
    return data.StructLayout({
        "waddr": unsigned(index_bits(weight_words)),
        "saddr": unsigned(index_bits(state_words)),
        "value": unsigned(max(1, value_bits)),
        "eot": unsigned(1),
        "last": unsigned(1),
    })


def conv_readback_layout(*, state_words: int, membrane_bits: int, lanes: int
                         ) -> data.StructLayout:
    """Return the layout of one membrane readback record: ``index`` (state word), ``membranes``
    (``lanes`` signed membranes in membrane LSBs), ``spikes`` (``lanes`` bits)."""
    return data.StructLayout({
        "index": unsigned(index_bits(state_words)),
        "membranes": data.ArrayLayout(signed(membrane_bits), lanes),
        "spikes": unsigned(lanes),
    })
