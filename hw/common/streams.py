"""Stream payload layouts of the LIF cores and the network top level.

Every stream between cores, and between the host and the network, carries one of the payloads
built here (``amaranth.lib.stream`` with a ``data.StructLayout``):

* **event** (:func:`spike_event_layout`, :func:`current_event_layout`): one input of a core
  (``index``, and ``value`` for direct current), or an end-of-timestep marker (``eot = 1``,
  ``index``/``value`` ignored). ``last = 1`` on a marker says the timestep it closes is the last
  one of the sample, so the next event belongs to a new sample (membranes start at 0). A sample
  of ``T`` timesteps is therefore ``T`` groups of events, each closed by a marker, the final
  marker with ``last = 1``. A core's output spikes use the same layout as a spike input, so
  cores chain without glue.
* **membrane readback** (:func:`membrane_readback_layout`): one record per group of ``P``
  neurons per timestep, after the reset stage: the index of the group's first neuron, the ``P``
  membranes and the ``P`` spike bits.

:func:`register_slice` joins two cores' streams through registers (a skid buffer).

Fields are laid out LSB first in the order listed (``data.StructLayout`` semantics), which is
what :func:`pack` and :func:`unpack` follow for the host side.
"""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal, signed, unsigned
from amaranth.lib import data

from spikesmith.sim.limits import LANES

__all__ = [
    "current_event_layout",
    "index_bits",
    "membrane_readback_layout",
    "pack",
    "register_slice",
    "spike_event_layout",
    "unpack",
]


def index_bits(n: int) -> int:
    """Return the width of an index into ``n`` items (at least 1 bit)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"item count must be a positive integer, not {n!r}")
    return max(1, (n - 1).bit_length())


def spike_event_layout(n: int) -> data.StructLayout:
    """Return the layout of a spike event into (or out of) a population of ``n`` neurons.

    Fields: ``index`` (neuron), ``eot`` (end-of-timestep marker), ``last`` (last timestep of the
    sample; only meaningful on a marker).
    """
    return data.StructLayout({
        "index": unsigned(index_bits(n)),
        "eot": unsigned(1),
        "last": unsigned(1),
    })


def current_event_layout(n: int, value_bits: int) -> data.StructLayout:
    """Return the layout of a direct-current input event into ``n`` inputs.

    Fields: ``index`` (input), ``value`` (unsigned current, ``value_bits`` wide, in input units
    multiplying the weight), ``eot``, ``last`` (as in :func:`spike_event_layout`).
    """
    if not isinstance(value_bits, int) or value_bits < 1:
        raise ValueError(f"value_bits must be a positive integer, not {value_bits!r}")
    return data.StructLayout({
        "index": unsigned(index_bits(n)),
        "value": unsigned(value_bits),
        "eot": unsigned(1),
        "last": unsigned(1),
    })


def membrane_readback_layout(n: int, *, membrane_bits: int, lanes: int) -> data.StructLayout:
    """Return the layout of one membrane readback record of ``lanes`` neurons out of ``n``.

    Fields: ``index`` (first neuron of the group), ``membranes`` (``lanes`` signed membranes of
    ``membrane_bits`` in membrane LSBs, lane ``j`` is neuron ``index + j``), ``spikes``
    (``lanes`` bits, bit ``j`` for lane ``j``).
    """
    LANES.check(lanes)
    return data.StructLayout({
        "index": unsigned(index_bits(n)),
        "membranes": data.ArrayLayout(signed(membrane_bits), lanes),
        "spikes": unsigned(lanes),
    })


def _leaves(layout, offset=0, prefix=()):
    for name, field in layout:
        shape = field.shape
        if isinstance(shape, data.StructLayout):
            yield from _leaves(shape, offset + field.offset, (*prefix, name))
        elif isinstance(shape, data.ArrayLayout):
            elem = Shape.cast(shape.elem_shape)
            for k in range(shape.length):
                yield (*prefix, name, k), offset + field.offset + k * elem.width, elem
        else:
            yield (*prefix, name), offset + field.offset, Shape.cast(field.shape)


def unpack(layout: data.StructLayout, word: int) -> dict[str, int | list[int]]:
    """Return the fields of the packed integer ``word`` (signed fields sign-extended).

    Array fields come back as lists.
    """
    out: dict = {}
    for path, offset, shape in _leaves(layout):
        raw = (word >> offset) & ((1 << shape.width) - 1)
        if shape.signed and raw >> (shape.width - 1):
            raw -= 1 << shape.width
        if isinstance(path[-1], int):
            out.setdefault(path[-2], []).append(raw)
        else:
            out[path[-1]] = raw
    return out


def pack(layout: data.StructLayout, **fields: int) -> int:
    """Return the integer encoding of ``fields`` in ``layout`` (missing fields are 0).

    Raises
    ------
    ValueError
        If a field is unknown or a value does not fit its field.
    """
    names = {name for name, _ in layout}
    unknown = set(fields) - names
    if unknown:
        raise ValueError(f"fields must be among {sorted(names)}, not {sorted(unknown)!r}")
    word = 0
    for name, field in layout:
        value = fields.get(name, 0)
        shape = Shape.cast(field.shape)
        lo = -(1 << (shape.width - 1)) if shape.signed else 0
        hi = (1 << (shape.width - 1)) - 1 if shape.signed else (1 << shape.width) - 1
        if not lo <= value <= hi:
            raise ValueError(f"field {name!r} must be in {lo}..{hi}, not {value!r}")
        word |= (value & ((1 << shape.width) - 1)) << field.offset
    return word


def register_slice(m: Module, src, dst, name: str) -> Signal:
    """Connect stream ``src`` (an output) to stream ``dst`` (an input) through a skid buffer.

    ``src.ready`` is "the skid entry is free" and ``dst.valid``/``dst.payload`` come from the
    main entry, all registers. The main entry takes a new item whenever it is empty or
    ``dst`` accepts; an item that ``src`` hands over while the main entry stalls waits in the
    skid entry, which refills the main entry first. Order is kept, one item per cycle passes.
    Returns a signal that is high while the slice holds an item.
    """
    layout = src.payload.shape()
    main_valid = Signal(name=f"{name}_valid")
    main = Signal(layout, name=f"{name}_data")
    skid_valid = Signal(name=f"{name}_skid_valid")
    skid = Signal(layout, name=f"{name}_skid_data")
    m.d.comb += [
        src.ready.eq(~skid_valid),
        dst.valid.eq(main_valid),
        dst.payload.eq(main),
    ]
    with m.If(~main_valid | dst.ready):
        with m.If(skid_valid):
            m.d.sync += [main_valid.eq(1), main.eq(skid), skid_valid.eq(0)]
        with m.Else():
            m.d.sync += [main_valid.eq(src.valid), main.eq(src.payload)]
    with m.Elif(src.valid & ~skid_valid):
        m.d.sync += [skid_valid.eq(1), skid.eq(src.payload)]
    occupied = Signal(name=f"{name}_occupied")
    m.d.comb += occupied.eq(main_valid | skid_valid)
    return occupied
