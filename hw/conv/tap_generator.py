"""Kernel-tap address generator of the convolution core: one input event -> its updates.

An input spike ``(c, y, x)`` reaches the outputs that ``sim.conv.scatter_taps`` lists; for
each such tap ``(oy, ox, ky, kx)`` and each channel group ``g`` the core adds the weight word
``((c*K + ky)*K + kx)*G + g`` to the state word ``(oy*W_out + ox)*G + g``. The taps of a
row and of a column come from the constant tables of :func:`~.tables.axis_taps` (first kernel
row ``k0``, its output row ``o0``, count ``n``), so the generator spends exactly one cycle
per update and none on taps that miss the output map::

    for i in 0..ny-1:  ky = ky0 + i*S, oy = oy0 - i
      for j in 0..nx-1:  kx = kx0 + j*S, ox = ox0 - j
        for g in 0..G-1:  emit (weight word, state word)

Addresses step by additions of constants; the first ones of an event are
``c*K*K*G + ky0*K*G + kx0*G`` and ``oy0*W_out*G + ox0*G`` (tables hold the products). An event
with no tap (a row or column that reaches no output) is consumed without an update. An
end-of-timestep marker passes through as one update with ``eot = 1``, after the updates of
every earlier event.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..common.streams import index_bits
from .config import ConvCoreConfig
from .streams import input_event_layout, update_layout
from .tables import axis_taps

__all__ = ["TapGenerator"]


def _table(values: list[int]) -> Array:
    """Return a constant table (a multiplexer over ``values``) indexable by a signal."""
    width = max(1, max(v.bit_length() for v in values))
    return Array(Const(v, width) for v in values)


class TapGenerator(wiring.Component):
    """Turn input events into accumulate updates, one per cycle (module docstring).

    Parameters
    ----------
    config : ConvCoreConfig
        Shapes, kernel, stride, padding, lanes of the core.

    Members
    -------
    i : In(stream.Signature(feature_event_layout(in_shape)))
        Input events and end-of-timestep markers (:mod:`.streams`).
    o : Out(stream.Signature(update_layout(...)))
        Updates in the order of the module docstring, then each marker.
    busy : Out(1)
        High while an event's updates (or a marker) are being issued.

    Raises
    ------
    TypeError
        If ``config`` is not a ``ConvCoreConfig``.
    """

    def __init__(self, config: ConvCoreConfig):
        if not isinstance(config, ConvCoreConfig):
            raise TypeError(f"config must be a ConvCoreConfig, not {config!r}")
        self._config = config
        super().__init__({
            "i": In(stream.Signature(input_event_layout(in_shape=config.in_shape,
                                                        input_bits=config.input_bits))),
            "o": Out(stream.Signature(update_layout(
                weight_words=config.weight_words, state_words=config.state_words,
                value_bits=config.input_bits))),
            "busy": Out(1),
        })

    @property
    def config(self) -> ConvCoreConfig:
        """The configuration the generator was built from."""
        return self._config

    def elaborate(self, platform):
        """Build the tables, the event registers and the address stepping."""
        cfg = self._config
        m = Module()
        k, s, g_n = cfg.kernel, cfg.stride, cfg.groups
        w_out = cfg.out_shape[2]
        rows, cols = axis_taps(cfg, axis=1), axis_taps(cfg, axis=2)
        row_w = _table([t.k0 * k * g_n for t in rows])
        row_s = _table([t.o0 * w_out * g_n for t in rows])
        row_n = _table([t.n for t in rows])
        col_w = _table([t.k0 * g_n for t in cols])
        col_s = _table([t.o0 * g_n for t in cols])
        col_n = _table([t.n for t in cols])

        wbits, sbits = index_bits(cfg.weight_words), index_bits(cfg.state_words)
        valid = Signal()
        w_addr, w_col, w_row = Signal(wbits), Signal(wbits), Signal(wbits)
        s_addr, s_col, s_row = Signal(sbits), Signal(sbits), Signal(sbits)
        g = Signal(index_bits(g_n))
        n_bits = index_bits(k + 1)
        cols_left, rows_left, cols_m1 = Signal(n_bits), Signal(n_bits), Signal(n_bits)
        value = Signal(max(1, cfg.input_bits))
        eot, last = Signal(), Signal()

        last_item = eot | ((g == g_n - 1) & (cols_left == 0) & (rows_left == 0))
        take = ~valid | (self.o.ready & last_item)
        m.d.comb += [
            self.i.ready.eq(take),
            self.busy.eq(valid),
            self.o.valid.eq(valid),
            self.o.payload.waddr.eq(w_addr),
            self.o.payload.saddr.eq(s_addr),
            self.o.payload.value.eq(value),
            self.o.payload.eot.eq(eot),
            self.o.payload.last.eq(last),
        ]

        p = self.i.payload
        ny, nx = row_n[p.y], col_n[p.x]
        w_first = p.c * (k * k * g_n) + row_w[p.y] + col_w[p.x]
        s_first = row_s[p.y] + col_s[p.x]
        with m.If(take):
            with m.If(self.i.valid & p.eot):
                m.d.sync += [valid.eq(1), eot.eq(1), last.eq(p.last)]
            with m.Elif(self.i.valid):
                m.d.sync += [
                    valid.eq((ny != 0) & (nx != 0)), eot.eq(0),
                    w_addr.eq(w_first), w_col.eq(w_first), w_row.eq(w_first),
                    s_addr.eq(s_first), s_col.eq(s_first), s_row.eq(s_first),
                    g.eq(0), cols_left.eq(nx - 1), cols_m1.eq(nx - 1), rows_left.eq(ny - 1),
                ]
                if cfg.input_bits > 1:
                    m.d.sync += value.eq(p.value)
                else:
                    m.d.sync += value.eq(1)
            with m.Else():
                m.d.sync += valid.eq(0)
        with m.Elif(self.o.ready):
            with m.If(g != g_n - 1):
                m.d.sync += [g.eq(g + 1), w_addr.eq(w_addr + 1), s_addr.eq(s_addr + 1)]
            with m.Elif(cols_left != 0):
                next_w, next_s = w_col + s * g_n, s_col - g_n
                m.d.sync += [g.eq(0), cols_left.eq(cols_left - 1),
                             w_col.eq(next_w), w_addr.eq(next_w),
                             s_col.eq(next_s), s_addr.eq(next_s)]
            with m.Else():
                next_w, next_s = w_row + s * k * g_n, s_row - w_out * g_n
                m.d.sync += [g.eq(0), rows_left.eq(rows_left - 1), cols_left.eq(cols_m1),
                             w_row.eq(next_w), w_col.eq(next_w), w_addr.eq(next_w),
                             s_row.eq(next_s), s_col.eq(next_s), s_addr.eq(next_s)]
        return m
