"""Homeostatic weight decay of one synapse per cycle: log2 look-up, octave and fraction factor
tables, two multipliers, stochastic rounding from an LFSR; tables writable by the host.

The rule is :func:`spikesmith.sim.sleep.decay_step` (``L`` from
:func:`~spikesmith.sim.sleep.log2_fixed`, ``A`` and ``B`` from
:func:`~spikesmith.sim.sleep.decay_tables`, ``G`` as :func:`~spikesmith.sim.sleep.decay_factor`,
generator :data:`~spikesmith.sim.sleep.DECAY_LFSR`); this unit is its per-synapse pipeline,
one stage per cycle::

    1  inputs registered; leading one e of pos = max(m, 1), the Q bits f below it;
       LOG2[f] - f read (the ROM holds the difference); e * 2**Q + f - L(w_t)
    2  x = (e * 2**Q + f - L(w_t)) + (LOG2[f] - f); A[x >> Q] and B[x & (2**Q - 1)] read
    3  the two table words arrive and are registered (no memory feeds a multiplier)
    4  ab = (A * B) >> P; A + B
    5  G = (A + B) + ab
    6  prod = m * G (0 where the decay does not apply: i_en = 0)
    7  m + dm = ((prod >> (P - 16)) + m * 2**16 + r) >> 16, the concatenation {m, r} being
       m * 2**16 + r (r < 2**16): no separate ``m + dm`` adder; the LFSR draws (one draw per
       enabled item, in item order; r holds the next draw)
    8  m' = clip(m + dm, lo[t], hi[t]) with the bounds of the item's target index t
    9  out (registered)

``m + dm`` equals ``sim.sleep.decay_step``'s: ``floor(m G / 2**(P-16))`` plus ``m 2**16``
is ``floor((m G + m 2**P) / 2**(P-16))`` exactly, and for ``m = 0`` (no decay in ``sim``)
the product is 0 and ``(0 + r) >> 16 = 0``. Items with ``i_en = 0`` pass through unchanged
(``prod = 0``, not clipped) with the same latency and draw nothing.

Lending the multipliers: while no item is in flight, ``x_en`` lends the two multipliers to a
product ``x * g`` of up to ``lent_bits`` (a core's neuron pass, which never overlaps its
learning sweep): ``x`` is split at ``weight_bits``, the low part times ``g`` on the ``m * G``
multiplier, the high part times ``g`` on the ``A * B`` one (through the stage-3 operand
registers), and ``x_p`` is their sum two cycles after ``x`` and ``g``.

The item's tag and magnitude do not ride through the stages: each is written into a 16-word
ring at entry and read back when needed (``m`` at stage 6, the tag ``latency`` cycles later:
block RAM on iCE40 instead of a flip-flop per bit and stage); the bounds are per target index
(``lo``, ``hi``), read at stage 8.

Host writes (``wr_en``, only while no item is in flight) replace one word of a
:class:`DecayTable`: an octave factor ``A``, a fraction factor ``B`` or the log target
``L(w_t)`` of one target index. :meth:`DecayUnit.program` returns the writes that reprogram
the unit for another ``lam``, ``decay_period`` and target list. What the build fixes: ``Q``
(``log_frac``, the ``LOG2`` ROM and the depth of ``B``), the weight width, the number of
targets, and the word widths, sized so that the tables of every ``1 - lam**decay_period`` up
to the build's, and every target up to ``max(2**weight_bits - 1, max(targets))``, fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.fixed import bits_for_range
from spikesmith.sim.lfsr import lfsr_step
from spikesmith.sim.sleep import (
    DECAY_FACTOR_FRAC,
    DECAY_LFSR,
    SleepParams,
    decay_octaves,
    fraction_table,
    log2_fixed,
    octave_table,
)

from ..common.lfsr import lfsr_advance_value
from ..common.mem import NO_RW_CHECK

__all__ = ["DecayTable", "DecayUnit"]

#: Fractional bits of the rounding draw (16-bit states of ``DECAY_LFSR``).
_ROUND_BITS = 16

#: Words of the tag and magnitude rings (at least the latency).
_TAG_RING = 16

#: Cycles from ``i_valid`` to the product stage, where the magnitude ring's word arrives.
_M_STAGE = 6


class DecayTable(enum.Enum, shape=2):
    """Which word a host write (``wr_sel``) replaces."""

    #: Octave factor ``A[xh]``; ``wr_addr`` is ``xh - octaves.start``.
    OCTAVE = 0
    #: Fraction factor ``B[xl]``; ``wr_addr`` is ``xl``.
    FRACTION = 1
    #: Log target ``L(w_t)`` of target index ``wr_addr``.
    LOG_TARGET = 2


def _signed_bits(values) -> int:
    """Width of a signed word that holds every value of ``values`` and its negation."""
    top = max(abs(int(v)) for v in values)
    return bits_for_range(-top, top)


def _decay_c(sleep: SleepParams) -> float:
    """``c = 1 - lam**decay_period``, as ``sim.sleep`` computes it."""
    return 1.0 - sleep.lam**sleep.decay_period


def _carry(m: Module, src_valid) -> Signal:
    """Return ``src_valid`` registered: an item's valid bit moving down one stage (the rest
    of the item waits in the rings)."""
    valid = Signal()
    m.d.sync += valid.eq(src_valid)
    return valid


class DecayUnit(wiring.Component):
    """Pipelined decay ``m <- w_t (m / w_t)**(lambda**k)`` with stochastic rounding.

    Parameters
    ----------
    sleep : SleepParams
        ``lam``, ``decay_period``, ``log_frac`` (initial tables, built host-side by
        ``sim.sleep``). Its ``c = 1 - lam**decay_period`` is the largest :meth:`program`
        accepts; ``log_frac`` is structural.
    weight_bits : int
        Width of a magnitude, bits (1..40).
    targets : sequence of int
        Initial target magnitude ``w_t`` of each target index (its count is structural).
    seed : int
        Initial state of the ``DECAY_LFSR`` register (non-zero 16-bit).
    tag_bits : int
        Width of ``i_tag``/``o_tag``, carried alongside each item.
    lent_bits : tuple of (int, int)
        Widths of the signed ``x`` and ``g`` of the lent product; ``(0, 0)`` (the default): no
        lending ports.

    Members
    -------
    i_valid, i_en : In(1)
        An item enters; ``i_en`` applies the decay (and takes one draw).
    i_m : In(weight_bits)
        Magnitude, weight LSBs.
    i_target : In(index)
        Index of the item's target (and of its bounds).
    i_tag : In(tag_bits)
        Carried to ``o_tag``.
    lo, hi : In(ArrayLayout(weight_bits, len(targets)))
        Magnitude bounds of every target index (held while items are in flight).
    o_valid : Out(1)
        An item leaves, ``latency`` cycles after it entered.
    o_m : Out(weight_bits)
        Magnitude after the decay.
    o_target : Out(index)
    o_tag : Out(tag_bits)
    x_en : In(1)
        The multipliers compute ``x * g`` (only while no item is in flight).
    x, g : In(signed)
        The operands of the lent product (widths ``lent_bits``).
    x_p : Out(signed)
        ``x * g``, two cycles after ``x`` and ``g`` (``x_en`` held meanwhile).
    busy : Out(1)
        Some item is in flight.
    reg : Out(16)
        The decay register (``NetState.decay_reg``).
    set_reg : In(1)
        Load ``set_value`` into the register (when no item is in flight).
    set_value : In(16)
    wr_en : In(1)
        Write ``wr_data`` into word ``wr_addr`` of table ``wr_sel`` (when no item is in
        flight); the words are those :meth:`program` returns.
    wr_sel : In(DecayTable)
    wr_addr : In(range)
        Index into the larger of the three tables.
    wr_data : In(signed)
        Wide enough for every word of every table (``data_bits``).

    Raises
    ------
    TypeError
        If ``sleep`` is not a ``SleepParams``.
    ValueError
        On an empty or non-positive target list, a bad width or seed.
    """

    #: Cycles from ``i_valid`` to ``o_valid``.
    latency = 9

    def __init__(self, sleep: SleepParams, *, weight_bits: int, targets: Sequence[int],
                 seed: int, tag_bits: int, lent_bits: tuple[int, int] = (0, 0)):
        if not isinstance(sleep, SleepParams):
            raise TypeError(f"sleep must be a SleepParams, not {sleep!r}")
        if not isinstance(weight_bits, int) or not 1 <= weight_bits <= 40:
            raise ValueError(f"weight_bits must be an integer in 1..40, not {weight_bits!r}")
        targets = tuple(int(t) for t in targets)
        if not targets or min(targets) < 1 or max(targets) >= 1 << 40:
            raise ValueError(f"targets must be a non-empty sequence of values in "
                             f"1..2**40 - 1, not {targets!r}")
        if not 0 < seed < (1 << DECAY_LFSR.width):
            raise ValueError(f"seed must be a non-zero 16-bit value, not {seed!r}")
        if not isinstance(tag_bits, int) or tag_bits < 1:
            raise ValueError(f"tag_bits must be a positive integer, not {tag_bits!r}")
        x_bits, lg_bits = lent_bits
        if not (isinstance(x_bits, int) and isinstance(lg_bits, int) and x_bits >= 0
                and lg_bits >= 0 and (x_bits == 0) == (lg_bits == 0)):
            raise ValueError(f"lent_bits must be two widths, both positive or both 0, not "
                             f"{lent_bits!r}")
        self._lent = (x_bits, lg_bits)
        self._sleep, self._wb, self._targets = sleep, weight_bits, targets
        self._seed, self._tag_bits = seed, tag_bits
        q = sleep.log_frac
        self._target_max = max((1 << weight_bits) - 1, max(targets))
        self._octaves = decay_octaves(self._target_max, log_frac=q)
        self._octave = octave_table(sleep, octaves=self._octaves)
        self._fraction = fraction_table(sleep)
        self._log_targets = tuple(int(v) for v in log2_fixed(np.array(targets), log_frac=q))
        self._l_max = int(log2_fixed(np.array([self._target_max]), log_frac=q)[0])
        # LOG2[f] - f: log2(1 + x) >= x on [0, 1], and the difference needs 7 bits at Q = 10
        # instead of 11 (two 1024 x 4 block RAMs instead of three); f is added at stage 1
        self._log2 = tuple(
            int(v) - (q << q) - f for f, v in enumerate(
                log2_fixed(np.arange(1 << q, 2 << q, dtype=np.int64), log_frac=q)))
        if min(self._log2) < 0:   # cannot happen for a correctly rounded log2
            raise ValueError("log2_fixed(1 + f) must be at least f on every entry")
        self._a_bits = _signed_bits(self._octave)
        self._b_bits = _signed_bits(self._fraction)
        # |G| <= |A| + |B| + |A B| / 2**P + 1 (the floor)
        a_max = max(abs(v) for v in self._octave)
        b_max = max(abs(v) for v in self._fraction)
        self._g_bits = _signed_bits([a_max + b_max + ((a_max * b_max) >> DECAY_FACTOR_FRAC) + 1])
        self._data_bits = max(self._a_bits, self._b_bits, self._l_max.bit_length() + 1)
        depth = max(len(self._octave), 1 << q, len(targets))
        lent = {}
        if x_bits:
            lent = {"x_en": In(1), "x": In(signed(x_bits)), "g": In(signed(lg_bits)),
                    "x_p": Out(signed(x_bits + lg_bits))}
        super().__init__({
            **lent,
            "i_valid": In(1),
            "i_en": In(1),
            "i_m": In(weight_bits),
            "i_target": In(range(max(2, len(targets)))),
            "i_tag": In(tag_bits),
            "lo": In(data.ArrayLayout(unsigned(weight_bits), len(targets))),
            "hi": In(data.ArrayLayout(unsigned(weight_bits), len(targets))),
            "o_valid": Out(1),
            "o_m": Out(weight_bits),
            "o_target": Out(range(max(2, len(targets)))),
            "o_tag": Out(tag_bits),
            "busy": Out(1),
            "reg": Out(DECAY_LFSR.width, init=seed),
            "set_reg": In(1),
            "set_value": In(DECAY_LFSR.width),
            "wr_en": In(1),
            "wr_sel": In(DecayTable),
            "wr_addr": In(range(depth)),
            "wr_data": In(signed(self._data_bits)),
        })

    @property
    def octaves(self) -> range:
        """The octaves ``xh`` held in the ``A`` table (entry ``i`` is ``xh = start + i``)."""
        return self._octaves

    @property
    def octave_bits(self) -> int:
        """Width of an ``A`` word (signed), bits."""
        return self._a_bits

    @property
    def fraction_bits(self) -> int:
        """Width of a ``B`` word (signed), bits."""
        return self._b_bits

    @property
    def factor_bits(self) -> int:
        """Width of ``G`` (signed), bits."""
        return self._g_bits

    @property
    def data_bits(self) -> int:
        """Width of ``wr_data`` (signed), bits."""
        return self._data_bits

    def program(self, *, sleep: SleepParams,
                targets: Sequence[int]) -> list[tuple[DecayTable, int, int]]:
        """Return the host writes ``(table, wr_addr, wr_data)`` for new decay constants.

        Parameters
        ----------
        sleep : SleepParams
            New ``lam`` and ``decay_period``; ``log_frac`` must be the build's.
        targets : sequence of int
            New target magnitude of every target index, weight LSBs.

        Returns
        -------
        list of (DecayTable, int, int)
            Every ``A`` word, every ``B`` word, then every ``L(w_t)``.

        Raises
        ------
        TypeError
            If ``sleep`` is not a ``SleepParams``.
        ValueError
            If ``log_frac`` differs from the build's, ``1 - lam**decay_period`` exceeds the
            build's, or ``targets`` has the wrong count or a value outside
            ``1 .. max(2**weight_bits - 1, max(build targets))``.
        """
        if not isinstance(sleep, SleepParams):
            raise TypeError(f"sleep must be a SleepParams, not {sleep!r}")
        q = self._sleep.log_frac
        if sleep.log_frac != q:
            raise ValueError(f"sleep.log_frac must be {q} (fixed at build), not "
                             f"{sleep.log_frac!r}")
        c_build, c = _decay_c(self._sleep), _decay_c(sleep)
        if not c <= c_build:
            raise ValueError(f"sleep.lam and sleep.decay_period must give 1 - "
                             f"lam**decay_period in 0..{c_build!r} (the build's), not {c!r}")
        targets = tuple(int(t) for t in targets)
        if len(targets) != len(self._targets) or not all(
                1 <= t <= self._target_max for t in targets):
            raise ValueError(f"targets must be {len(self._targets)} values in "
                             f"1..{self._target_max}, not {targets!r}")
        octave = octave_table(sleep, octaves=self._octaves)
        fraction = fraction_table(sleep)
        # |entries| grow with c, so c <= c_build fits; checked all the same
        if _signed_bits(octave) > self._a_bits or _signed_bits(fraction) > self._b_bits:
            raise ValueError(f"sleep tables must fit {self._a_bits}/{self._b_bits} signed "
                             f"bits (A/B of the build)")
        log_t = log2_fixed(np.array(targets), log_frac=q)
        return ([(DecayTable.OCTAVE, i, v) for i, v in enumerate(octave)]
                + [(DecayTable.FRACTION, i, v) for i, v in enumerate(fraction)]
                + [(DecayTable.LOG_TARGET, i, int(v)) for i, v in enumerate(log_t)])

    def elaborate(self, platform):
        """Build the unit: tables and rings, then one method per stage of the module
        docstring (statement order is that of the generated RTLIL)."""
        m = Module()
        log2_rd, a_rd, b_rd, log_t = self._tables(m)
        a_m, a_en, a_tgt, ring = self._rings(m)
        a_valid = self._enter(m, a_m, a_en, a_tgt)
        e, f = self._leading_one(m, a_m, log2_rd)
        r = self._next_draw()
        b_pre = self._log_distance_head(m, a_tgt, log_t, e, f)
        sb = self._table_reads(m, a_valid, b_pre, log2_rd, a_rd, b_rd)
        sc, sd, d_a, d_b, x_en, x_lo = self._operands(m, sb, a_rd, b_rd)
        se, sf, e_ab, f_g = self._factor(m, sd, d_a, d_b)
        g_valid, g_en, g_tgt, g_m, g_prod = self._product(
            m, sf, ring, x_en=x_en, x_lo=x_lo, d_a=d_a, f_g=f_g, e_ab=e_ab)
        h_valid, h_en, h_tgt, h_x = self._round(m, g_valid, g_en, g_tgt, g_m, g_prod, r)
        self._clip(m, h_valid, h_en, h_tgt, h_x)
        self._draw(m, g_valid, g_en, r)
        m.d.comb += self.busy.eq(a_valid | sb | sc | sd | se | sf | g_valid
                                 | h_valid | self.o_valid)
        return m

    def _tables(self, m: Module) -> tuple:
        """Add the ``LOG2`` ROM and the ``A`` and ``B`` tables, the ``L(w_t)`` registers and
        their host writes; return the three read ports and the ``L(w_t)`` registers."""
        q = self._sleep.log_frac
        m.submodules.log2 = log2 = Memory(shape=unsigned(max(1, max(self._log2).bit_length())),
                                          depth=1 << q, init=self._log2)
        # the tables are written only while no item is in flight (no collision that matters)
        m.submodules.octave = octave = Memory(
            shape=signed(self._a_bits), depth=len(self._octave), init=self._octave,
            attrs=NO_RW_CHECK)
        m.submodules.fraction = fraction = Memory(
            shape=signed(self._b_bits), depth=1 << q, init=self._fraction, attrs=NO_RW_CHECK)
        log2_rd = log2.read_port()
        a_rd, a_wr = octave.read_port(), octave.write_port()
        b_rd, b_wr = fraction.read_port(), fraction.write_port()
        log_t = [Signal(range(self._l_max + 1), name=f"log_target_{k}", init=v)
                 for k, v in enumerate(self._log_targets)]

        # --- host writes ------------------------------------------------------------------
        m.d.comb += [a_wr.addr.eq(self.wr_addr), a_wr.data.eq(self.wr_data),
                     b_wr.addr.eq(self.wr_addr), b_wr.data.eq(self.wr_data)]
        with m.If(self.wr_en), m.Switch(self.wr_sel):
            with m.Case(DecayTable.OCTAVE):
                m.d.comb += a_wr.en.eq(1)
            with m.Case(DecayTable.FRACTION):
                m.d.comb += b_wr.en.eq(1)
            with m.Case(DecayTable.LOG_TARGET):
                for k, lt in enumerate(log_t):
                    with m.If(self.wr_addr == k):
                        m.d.sync += lt.eq(self.wr_data)
        return log2_rd, a_rd, b_rd, log_t

    def _rings(self, m: Module) -> tuple:
        """Add the tag ring (read so that the word arrives with ``o_valid``) and the ring of
        magnitude, enable and target index (read back for stages 6 and 7); return the
        stage-1 registers that feed the latter and its read fields ``(m, en, target)``."""
        wb, tb = self._wb, self._tag_bits
        # --- tag ring: written at entry, read so that the word arrives with o_valid ---------
        # the rings write word wp and read wp - 8 or wp - 4: never the same word
        m.submodules.tags = tags = Memory(shape=unsigned(tb), depth=_TAG_RING, init=[],
                                          attrs=NO_RW_CHECK)
        tag_wr, tag_rd = tags.write_port(), tags.read_port()
        wp = Signal(range(_TAG_RING))
        m.d.sync += wp.eq(wp + 1)
        m.d.comb += [tag_wr.addr.eq(wp), tag_wr.data.eq(self.i_tag), tag_wr.en.eq(1),
                     tag_rd.addr.eq(wp - (self.latency - 1)), self.o_tag.eq(tag_rd.data)]
        # the magnitude, enable and target index likewise, written from the stage-1 registers
        # (so that each register is its input's only load) and read back for stage 6 (the
        # product) and 7: only the valid bit moves through stages 2 to 6
        a_m, a_en, a_tgt = Signal(wb), Signal(), Signal.like(self.i_target)
        m.submodules.m_ring = m_ring = Memory(shape=unsigned(wb + 1 + len(a_tgt)),
                                              depth=_TAG_RING, init=[], attrs=NO_RW_CHECK)
        m_wr, m_rd = m_ring.write_port(), m_ring.read_port()
        m.d.comb += [m_wr.addr.eq(wp), m_wr.data.eq(Cat(a_m, a_en, a_tgt)), m_wr.en.eq(1),
                     m_rd.addr.eq(wp - (_M_STAGE - 2))]
        return a_m, a_en, a_tgt, (m_rd.data[:wb], m_rd.data[wb], m_rd.data[wb + 1:])

    def _enter(self, m: Module, a_m, a_en, a_tgt) -> Signal:
        """Stage 1: register the inputs; return the stage's valid bit."""
        a_valid = Signal()
        m.d.sync += [a_valid.eq(self.i_valid), a_en.eq(self.i_en), a_m.eq(self.i_m),
                     a_tgt.eq(self.i_target)]
        return a_valid

    def _leading_one(self, m: Module, a_m, log2_rd) -> tuple[Signal, Signal]:
        """Stage 1: the leading one ``e`` of ``pos = max(m, 1)`` and the ``Q`` bits ``f``
        below it (:func:`~spikesmith.sim.sleep.log2_fixed`); the ``LOG2[f] - f`` read."""
        q, wb = self._sleep.log_frac, self._wb
        # leading one (one-hot, so that no priority chain or shifter sits before the LOG2
        # read) and the q bits below it, zero-filled when pos is shorter than q bits
        pos = Mux(a_m == 0, 1, a_m)
        lead = [pos[bit] & ~pos[bit + 1:].any() if bit < wb - 1 else pos[bit]
                for bit in range(wb)]
        e = Signal(range(max(wb, 2)))
        m.d.comb += e.eq(Cat(*(Cat(*(lead[bit] for bit in range(wb) if bit >> k & 1)).any()
                               for k in range(len(e)))))
        f = Signal(q)
        fields = [Cat(Const(0, max(0, q - bit)), pos[max(0, bit - q):bit])
                  for bit in range(wb)]
        m.d.comb += f.eq(Cat(*(Cat(*(fields[bit][k] & lead[bit] for bit in range(wb))).any()
                               for k in range(q))))
        m.d.comb += log2_rd.addr.eq(f)
        return e, f

    def _next_draw(self) -> Signal:
        """The register of the next draw: ``reg`` advanced ``DECAY_LFSR.draw_bits`` steps."""
        # The draws are taken in item order at the last stage; ``r`` holds the next draw
        # (``reg`` advanced 16 steps) so that no XOR network sits before the rounding adder.
        # (assigned to ``r`` before it is returned: the local name is the signal's name)
        r = Signal(DECAY_LFSR.width, init=int(lfsr_step(np.array([self._seed]), DECAY_LFSR,
                                                          steps=DECAY_LFSR.draw_bits)[0]))
        return r

    def _log_distance_head(self, m: Module, a_tgt, log_t, e, f) -> Signal:
        """Stage 1: ``e * 2**Q + f - L(w_t) - start * 2**Q`` registered (the log distance
        but for the ``LOG2`` word)."""
        q = self._sleep.log_frac
        # x - start * 2**Q = (e * 2**Q - L(w_t) - start * 2**Q) + LOG2[f]: the first term is
        # formed here, beside the LOG2 read, so that stage 2 has one adder after the memory
        a_lt = Signal(range(self._l_max + 1))
        with m.Switch(a_tgt):
            for k, lt in enumerate(log_t):
                with m.Case(k):
                    m.d.comb += a_lt.eq(lt)
        x_bits = (self._l_max + (-self._octaves.start << q)).bit_length() + 2
        b_pre = Signal(signed(x_bits))
        m.d.sync += b_pre.eq((e << q) + f - a_lt - (self._octaves.start << q))
        return b_pre

    def _table_reads(self, m: Module, a_valid, b_pre, log2_rd, a_rd, b_rd) -> Signal:
        """Stage 2: the log distance ``x``; the ``A[x >> Q]`` and ``B[x & (2**Q - 1)]``
        reads. Return the stage's valid bit."""
        q = self._sleep.log_frac
        # --- 2: log distance, octave and fraction reads ---------------------------------------
        sb = _carry(m, a_valid)
        x = Signal(unsigned(len(b_pre)))  # x - start * 2**Q >= 0
        m.d.comb += [
            x.eq(b_pre + log2_rd.data),
            a_rd.addr.eq(x[q:]),
            b_rd.addr.eq(x[:q]),
        ]
        return sb

    def _operands(self, m: Module, sb, a_rd, b_rd) -> tuple:
        """Stage 3: the table words (or, lent, ``g`` and ``x >> weight_bits``) registered as
        the multiplier operands. Return the valid bits of stages 3 and 4, the operands and
        the lent product's enable and low part of ``x``."""
        wb = self._wb
        # --- 3: table words arrive and are registered -----------------------------------------
        sc = _carry(m, sb)
        sd = _carry(m, sc)
        x_bits, lg_bits = self._lent
        d_a = Signal(signed(max(self._a_bits, lg_bits)))
        d_b = Signal(signed(max(self._b_bits, x_bits - wb)))
        x_en = Signal()           # lent: the operand registers hold g and x >> weight_bits
        x_lo = Signal(wb)         # and x's low part waits beside them
        if x_bits:
            m.d.sync += [x_en.eq(self.x_en), x_lo.eq(self.x[:wb]),
                         d_a.eq(Mux(self.x_en, self.g, a_rd.data)),
                         d_b.eq(Mux(self.x_en, self.x >> wb, b_rd.data))]
        else:
            m.d.sync += [d_a.eq(a_rd.data), d_b.eq(b_rd.data)]
        return sc, sd, d_a, d_b, x_en, x_lo

    def _factor(self, m: Module, sd, d_a, d_b) -> tuple:
        """Stages 4 and 5: ``ab = (A B) >> P`` and ``A + B``, then
        ``G = (A + B) + ab`` (:func:`~spikesmith.sim.sleep.decay_factor`). Return the valid
        bits of stages 5 and 6, the full product ``A B`` (also lent) and ``G``."""
        # --- 4: ab = (A B) >> P, and A + B beside it (one sum register, not two copies) ------
        se = _carry(m, sd)
        e_apb = Signal(signed(max(self._a_bits, self._b_bits) + 1))
        e_ab = Signal(signed(len(d_a) + len(d_b)))      # the full product (also lent)
        m.d.sync += [e_apb.eq(d_a + d_b), e_ab.eq(d_a * d_b)]

        # --- 5: G = (A + B) + ab -------------------------------------------------------------
        sf = _carry(m, se)
        f_g = Signal(signed(self._g_bits))
        m.d.sync += f_g.eq(e_apb + (e_ab >> DECAY_FACTOR_FRAC))
        return se, sf, e_ab, f_g

    def _product(self, m: Module, sf, ring, *, x_en, x_lo, d_a, f_g, e_ab) -> tuple:
        """Stage 6: ``prod = m G`` (0 where the decay does not apply), with ``m``, the
        enable and the target index from the ring; or, lent, the low part of ``x * g`` and
        ``x_p``. Return the stage's valid, enable, target, ``m`` and ``prod`` registers."""
        wb = self._wb
        r_m, r_en, r_tgt = ring
        # --- 6: prod = m G (0 where the decay does not apply) --------------------------------
        g_valid, g_en, g_tgt = Signal(), Signal(), Signal.like(self.i_target)
        m.d.sync += [g_valid.eq(sf), g_en.eq(r_en), g_tgt.eq(r_tgt)]
        g_m = Signal(wb)
        g_prod = Signal(signed(wb + max(self._g_bits, len(d_a)) + 1))
        m.d.sync += [g_m.eq(r_m),
                     g_prod.eq(Mux(x_en, x_lo, Mux(r_en, r_m, 0)) * Mux(x_en, d_a, f_g))]
        if self._lent[0]:
            m.d.comb += self.x_p.eq((e_ab << wb) + g_prod)
        return g_valid, g_en, g_tgt, g_m, g_prod

    def _round(self, m: Module, g_valid, g_en, g_tgt, g_m, g_prod, r) -> tuple:
        """Stage 7: ``m + dm = ((prod >> (P - 16)) + {m, r}) >> 16``, the stochastic rounding
        of :func:`~spikesmith.sim.sleep.decay_step`. Return the stage's registers."""
        # --- 7: m + dm = ((prod >> (P - 16)) + {m, r}) >> 16; the draw -----------------------
        h_valid, h_en, h_tgt = Signal(), Signal(), Signal.like(self.i_target)
        x_new = ((g_prod >> (DECAY_FACTOR_FRAC - _ROUND_BITS)) + Cat(r, g_m)) >> _ROUND_BITS
        h_x = Signal(x_new.shape())
        m.d.sync += [h_valid.eq(g_valid), h_en.eq(g_en), h_tgt.eq(g_tgt), h_x.eq(x_new)]
        return h_valid, h_en, h_tgt, h_x

    def _clip(self, m: Module, h_valid, h_en, h_tgt, h_x) -> None:
        """Stages 8 and 9: ``m' = clip(m + dm, lo[t], hi[t])`` (enabled items only) into the
        output registers."""
        # --- 8: clip to the bounds of the target index ---------------------------------------
        lo, hi = self.lo[h_tgt], self.hi[h_tgt]
        out = Mux(h_x > hi, hi, Mux(h_x < lo, lo, h_x))
        m.d.sync += [self.o_valid.eq(h_valid), self.o_m.eq(Mux(h_en, out, h_x)),
                     self.o_target.eq(h_tgt)]

    def _draw(self, m: Module, g_valid, g_en, r) -> None:
        """Stage 7's draws: each enabled item there takes ``r`` into ``reg`` (one
        ``DECAY_LFSR`` draw per item, in item order); ``set_reg`` reloads the register."""
        with m.If(g_valid & g_en):
            m.d.sync += [self.reg.eq(r), r.eq(lfsr_advance_value(r, DECAY_LFSR,
                                                                 steps=DECAY_LFSR.draw_bits))]
        with m.Elif(self.set_reg):
            m.d.sync += [self.reg.eq(self.set_value),
                         r.eq(lfsr_advance_value(self.set_value, DECAY_LFSR,
                                                 steps=DECAY_LFSR.draw_bits))]
