"""Homeostatic weight decay of one synapse per cycle: log2 look-up, factor table, stochastic
rounding from an LFSR.

The rule is :func:`spikeforge.sim.sleep.decay_step` (tables :func:`~spikeforge.sim.sleep.
log2_fixed`, :func:`~spikeforge.sim.sleep.decay_tables`, generator
:data:`~spikeforge.sim.sleep.DECAY_LFSR`); this unit is its per-synapse pipeline::

    A  inputs registered; leading one e of pos = max(m, 1), the Q bits f below it;
       LOG2[f] read; the LFSR draws r (one draw per enabled item)
    B  x = e * 2**Q + LOG2[f] - L(w_t); G[x] read
    C  prod = pos * G[x]
    D  dm = ((prod >> (P - 16)) + r) >> 16; m' = clip(m + dm, lo, hi) (m = 0 stays 0)
    out

Items with ``i_en = 0`` pass through unchanged with the same latency and draw nothing.
The factor table holds only the log distances ``x`` that magnitudes in ``[1, max_weight]`` and
the given targets can produce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.sim.sleep import DECAY_LFSR, SleepParams, decay_tables, log2_fixed

from .noise import lfsr_advance_value

__all__ = ["DecayUnit"]

#: ``P`` of ``sim.sleep``: fractional bits of the factor table (its value 2**P is 1.0).
_FACTOR_FRAC = 30
#: Fractional bits of the rounding draw (16-bit states of ``DECAY_LFSR``).
_ROUND_BITS = 16


class DecayUnit(wiring.Component):
    """Pipelined decay ``m <- w_t (m / w_t)**(lambda**k)`` with stochastic rounding.

    Parameters
    ----------
    sleep : SleepParams
        ``lam``, ``decay_period``, ``log_frac`` (tables built host-side from ``sim.sleep``).
    weight_bits : int
        Width of a magnitude, bits.
    targets : sequence of int
        Every target magnitude ``w_t >= 1`` an item may carry (sizes the factor table).
    seed : int
        Initial state of the ``DECAY_LFSR`` register (non-zero 16-bit).
    tag_bits : int
        Width of ``i_tag``/``o_tag``, carried alongside each item.

    Members
    -------
    i_valid, i_en : In(1)
        An item enters; ``i_en`` applies the decay (and takes one draw).
    i_m, i_lo, i_hi : In(weight_bits)
        Magnitude and bounds, weight LSBs.
    i_target : In(index)
        Index of the item's target in ``targets``.
    i_tag : In(tag_bits)
        Carried to ``o_tag``.
    o_valid : Out(1)
        An item leaves, ``latency`` cycles after it entered.
    o_m : Out(weight_bits)
        Magnitude after the decay.
    o_tag : Out(tag_bits)
    busy : Out(1)
        Some item is in flight.
    reg : Out(16)
        The decay register (``NetState.decay_reg``).
    set_reg : In(1)
        Load ``set_value`` into the register (when no item is in flight).
    set_value : In(16)

    Raises
    ------
    TypeError
        If ``sleep`` is not a ``SleepParams``.
    ValueError
        On an empty or non-positive target list, a bad width or seed.
    """

    #: Cycles from ``i_valid`` to ``o_valid``.
    latency = 5

    def __init__(self, sleep: SleepParams, *, weight_bits: int, targets: Sequence[int],
                 seed: int, tag_bits: int):
        if not isinstance(sleep, SleepParams):
            raise TypeError(f"sleep must be a SleepParams, not {sleep!r}")
        if not isinstance(weight_bits, int) or not 1 <= weight_bits <= 40:
            raise ValueError(f"weight_bits must be an integer in 1..40, not {weight_bits!r}")
        targets = tuple(int(t) for t in targets)
        if not targets or min(targets) < 1:
            raise ValueError(f"targets must be a non-empty sequence of values >= 1, not "
                             f"{targets!r}")
        if not 0 < seed < (1 << DECAY_LFSR.width):
            raise ValueError(f"seed must be a non-zero 16-bit value, not {seed!r}")
        if not isinstance(tag_bits, int) or tag_bits < 1:
            raise ValueError(f"tag_bits must be a positive integer, not {tag_bits!r}")
        self._sleep, self._wb, self._targets = sleep, weight_bits, targets
        self._seed, self._tag_bits = seed, tag_bits
        q = sleep.log_frac
        self._log_targets = tuple(int(v) for v in log2_fixed(np.array(targets), log_frac=q))
        l_lo = int(log2_fixed(np.array([1]), log_frac=q)[0])
        l_hi = int(log2_fixed(np.array([(1 << weight_bits) - 1]), log_frac=q)[0])
        self._x_min = l_lo - max(self._log_targets)
        x_max = l_hi - min(self._log_targets)
        table = decay_tables(sleep)
        mid = (table.size - 1) // 2
        self._factors = tuple(int(v) for v in table[mid + self._x_min: mid + x_max + 1])
        self._log2 = tuple(
            int(v) - (q << q)
            for v in log2_fixed(np.arange(1 << q, 2 << q, dtype=np.int64), log_frac=q))
        super().__init__({
            "i_valid": In(1),
            "i_en": In(1),
            "i_m": In(weight_bits),
            "i_lo": In(weight_bits),
            "i_hi": In(weight_bits),
            "i_target": In(range(max(2, len(targets)))),
            "i_tag": In(tag_bits),
            "o_valid": Out(1),
            "o_m": Out(weight_bits),
            "o_tag": Out(tag_bits),
            "busy": Out(1),
            "reg": Out(DECAY_LFSR.width, init=seed),
            "set_reg": In(1),
            "set_value": In(DECAY_LFSR.width),
        })

    @property
    def factor_entries(self) -> int:
        """Entries of the factor table ``G`` held (one per reachable log distance)."""
        return len(self._factors)

    @property
    def factor_bits(self) -> int:
        """Width of a factor table entry (signed), bits."""
        return max(abs(v) for v in self._factors).bit_length() + 1

    def elaborate(self, platform):
        q, wb = self._sleep.log_frac, self._wb
        m = Module()
        gb = self.factor_bits
        m.submodules.log2 = log2 = Memory(shape=unsigned(q + 1), depth=1 << q, init=self._log2)
        m.submodules.factors = factors = Memory(
            shape=signed(gb), depth=max(2, len(self._factors)), init=self._factors)
        log2_rd, g_rd = log2.read_port(), factors.read_port()

        # --- A: register inputs -------------------------------------------------------------
        a_valid, a_en = Signal(), Signal()
        a_m, a_lo, a_hi = Signal(wb), Signal(wb), Signal(wb)
        a_tgt = Signal.like(self.i_target)
        a_tag = Signal(self._tag_bits)
        m.d.sync += [a_valid.eq(self.i_valid), a_en.eq(self.i_en), a_m.eq(self.i_m),
                     a_lo.eq(self.i_lo), a_hi.eq(self.i_hi), a_tgt.eq(self.i_target),
                     a_tag.eq(self.i_tag)]
        # leading one and the q bits below it (zero-filled when pos is shorter than q bits)
        pos = Mux(a_m == 0, 1, a_m)
        nb = max(wb, q + 1)
        e = Signal(range(nb))
        for b in range(wb):
            with m.If(pos[b]):
                m.d.comb += e.eq(b)
        norm, shift = Signal(nb), Signal(range(nb))
        m.d.comb += [shift.eq(nb - 1 - e), norm.eq(pos.as_unsigned() << shift)]
        m.d.comb += log2_rd.addr.eq(norm[nb - 1 - q: nb - 1])
        draw = lfsr_advance_value(self.reg, DECAY_LFSR, steps=DECAY_LFSR.draw_bits)
        with m.If(a_valid & a_en):
            m.d.sync += self.reg.eq(draw)
        with m.Elif(self.set_reg):
            m.d.sync += self.reg.eq(self.set_value)

        # --- B: log distance, factor read -----------------------------------------------------
        b_valid, b_en = Signal(), Signal()
        b_m, b_lo, b_hi = Signal(wb), Signal(wb), Signal(wb)
        b_e = Signal.like(e)
        b_tgt = Signal.like(a_tgt)
        b_r = Signal(_ROUND_BITS)
        b_tag = Signal(self._tag_bits)
        m.d.sync += [b_valid.eq(a_valid), b_en.eq(a_en), b_m.eq(a_m), b_lo.eq(a_lo),
                     b_hi.eq(a_hi), b_e.eq(e), b_tgt.eq(a_tgt), b_r.eq(draw), b_tag.eq(a_tag)]
        log_t = Signal(range(max(self._log_targets) + 1))
        with m.Switch(b_tgt):
            for k, lt in enumerate(self._log_targets):
                with m.Case(k):
                    m.d.comb += log_t.eq(lt)
        # x = L(pos) - L(w_t), L = e * 2**Q + LOG2[f]; the table starts at x_min
        m.d.comb += g_rd.addr.eq((b_e << q) + log2_rd.data - log_t - self._x_min)

        # --- C: product ----------------------------------------------------------------------
        c_valid, c_en = Signal(), Signal()
        c_m, c_lo, c_hi = Signal(wb), Signal(wb), Signal(wb)
        c_r = Signal(_ROUND_BITS)
        c_tag = Signal(self._tag_bits)
        m.d.sync += [c_valid.eq(b_valid), c_en.eq(b_en), c_m.eq(b_m), c_lo.eq(b_lo),
                     c_hi.eq(b_hi), c_r.eq(b_r), c_tag.eq(b_tag)]
        c_pos = Mux(c_m == 0, 1, c_m)
        d_prod = Signal(signed(wb + gb + 1))
        d_valid, d_en = Signal(), Signal()
        d_m, d_lo, d_hi = Signal(wb), Signal(wb), Signal(wb)
        d_r = Signal(_ROUND_BITS)
        d_tag = Signal(self._tag_bits)
        m.d.sync += [d_prod.eq(c_pos.as_unsigned() * g_rd.data), d_valid.eq(c_valid),
                     d_en.eq(c_en), d_m.eq(c_m), d_lo.eq(c_lo), d_hi.eq(c_hi), d_r.eq(c_r),
                     d_tag.eq(c_tag)]

        # --- D: stochastic rounding and clip ------------------------------------------------
        t = d_prod >> (_FACTOR_FRAC - _ROUND_BITS)
        dm = (t + d_r) >> _ROUND_BITS
        total = Signal(signed(wb + 2))
        m.d.comb += total.eq(d_m + Mux(d_en & (d_m != 0), dm, 0))
        clipped = Mux(total > d_hi, d_hi, Mux(total < d_lo, d_lo, total))
        m.d.sync += [self.o_valid.eq(d_valid), self.o_m.eq(clipped), self.o_tag.eq(d_tag)]
        m.d.comb += self.busy.eq(a_valid | b_valid | c_valid | d_valid | self.o_valid)
        return m
