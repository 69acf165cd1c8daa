"""Weight row update of the NCG learning core (:func:`spikesmith.sim.ncg_learning.update_rows`).

Per updated row ``j`` (error ``e``, spike bin ``t_j``):

``ROW_MUL`` / ``ROW_PROD`` / ``ROW_SHIFT``
    ``d± = (|e| A±) >> S`` in three registered steps: operands (the rates by the sign of
    ``e``), product, shift (no multiplier between two other blocks of logic).
``PRE`` / ``NORM_PROD`` / ``NORM`` / ``NORM_DIV`` (additive normalisation only)
    A pass over the row (``P`` weights per cycle) for the row sum ``S`` and the causal count
    ``n_c``; the two products ``n_c d+`` and ``(F - n_c) d-`` registered; the offset
    ``m = (S 2**8 - S0 2**8 + n_c d+ + (F - n_c) d-) // F`` on the shared divider;
    ``d± -= m``.
``UPD``
    Read-modify-write of the row, ``P`` synapses per cycle, in two stages: X (the bin word
    arrives: causality bit ``bin_i <= t_j``, ``d+`` or ``d-``, rounding with the lane's LFSR
    draw) and Y (the weight word, read a cycle later, arrives: add, clip, write back).

``d±`` are saturated to ``dn_bits = ROUND_BITS + W + 1`` signed bits before use,
``[-2**(RB+W), 2**(RB+W) - 1]``: a value above gives ``Δw >= 2**W - 1`` under every rounding
(the saturated one too), so ``w + Δw >= 2**W - 1 >= w_max`` for any stored ``w >= 0``; a value
below gives ``Δw <= -2**W`` (the saturated one too), so ``w + Δw < 0 <= w_min``. Both clip to
the same weight, and the per-lane datapath is ``W + 2`` bits wide.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from spikesmith.sim.fixed import Rounding
from spikesmith.sim.ncg import ROUND_BITS, NCGParams

from . import buses
from .memories import NCGMemory, memory_geometry
from .sequencer import NCGState

__all__ = ["NCGRowUpdate"]


class NCGRowUpdate(buses.NCGUnit):
    """Update values, additive normalisation and read-modify-write of one weight row.

    Parameters
    ----------
    params : NCGParams
        Core parameters (formats, lanes, rounding, normalisation).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    state : In(NCGState)
        The sequencer state; the unit acts in ``ROW_*``, ``PRE``, ``NORM*`` and ``UPD``.
    ctl : In(buses.control(params))
        The four STDP rates.
    row : In(buses.row(params))
        Row, spike bin and error of the neuron to update.
    weights_rd, in_bins_rd, norm_rd : Out(read request)
        Row words, input bins, the row's normalisation target.
    weights_wr : Out(write request)
        Write-back in ``UPD``.
    div : Out(buses.divider(params))
        The normalisation offset (started in ``NORM``).
    draws : In(data.ArrayLayout(unsigned(ROUND_BITS), P))
        The rounding lanes' draws (:class:`~spikesmith.hw.ncg.lanes.NCGLanes`).
    lane_step : Out(1)
        Step the rounding lanes (a word in stage X, stochastic rounding only).
    pre_done, row_done : Out(1)
        Status strobes (:data:`~spikesmith.hw.ncg.sequencer.STATUS`).
    """

    def members(self, params: NCGParams) -> dict:
        geo = memory_geometry(params)
        return {
            "state": In(NCGState),
            "ctl": In(buses.control(params)),
            "row": In(buses.row(params)),
            "weights_rd": Out(geo[NCGMemory.WEIGHTS].read_request()),
            "in_bins_rd": Out(geo[NCGMemory.IN_BINS].read_request()),
            "norm_rd": Out(geo[NCGMemory.NORM].read_request()),
            "weights_wr": Out(geo[NCGMemory.WEIGHTS].write_request()),
            "div": Out(buses.divider(params)),
            "draws": In(data.ArrayLayout(unsigned(ROUND_BITS), params.lanes)),
            "lane_step": Out(1),
            "pre_done": Out(1), "row_done": Out(1),
        }

    def elaborate(self, platform):
        prm, wd, s = self._params, self._w, NCGState
        f_n, g_n, tf = prm.config.n_inputs, wd.groups, prm.time_frac
        m = Module()
        ctl, row = self.ctl, self.row
        r = _Registers(prm, wd)
        dn_bits = ROUND_BITS + wd.weight + 1

        def sat_d(x):
            lo, hi = -(1 << (dn_bits - 1)), (1 << (dn_bits - 1)) - 1
            return Mux(x < lo, lo, Mux(x > hi, hi, x))

        # registered every cycle: d+- are final when UPD starts, whose first cycle uses
        # no d (the first word's X stage is its second cycle)
        dp_sat = Signal(signed(dn_bits), name="d_plus_sat")
        dm_sat = Signal(signed(dn_bits), name="d_minus_sat")
        m.d.sync += [dp_sat.eq(sat_d(r.dp)), dm_sat.eq(sat_d(r.dm))]

        with m.Switch(self.state):
            with m.Case(s.ROW_MUL):
                err = row.error
                pos_e = err > 0
                m.d.sync += [
                    r.mul_e.eq(Mux(err < 0, -err, err)),
                    r.mul_p.eq(Mux(pos_e, ctl.a_plus, ctl.anti_a_plus)),
                    r.mul_m.eq(Mux(pos_e, ctl.a_minus, ctl.anti_a_minus)),
                    r.row_base.eq(row.index * g_n), r.word_k.eq(0), r.x_valid.eq(0),
                    r.row_sum.eq(0), r.n_causal.eq(0)]
            with m.Case(s.ROW_PROD):
                m.d.sync += [r.prod_p.eq(r.mul_e * r.mul_p), r.prod_m.eq(r.mul_e * r.mul_m)]
            with m.Case(s.ROW_SHIFT):
                shift = tf + prm.rate_frac - prm.weight_format.frac - ROUND_BITS
                m.d.sync += [r.dp.eq(r.prod_p >> shift), r.dm.eq(r.prod_m >> shift)]
                m.d.comb += self.norm_rd.addr.eq(row.index)
            with m.Case(s.PRE):
                self._pre(m, r)
            with m.Case(s.NORM_PROD):    # the two products registered before the sum
                m.d.comb += self.norm_rd.addr.eq(row.index)
                m.d.sync += [r.prod_p.eq(r.n_causal * r.dp),
                             r.prod_m.eq((f_n - r.n_causal) * r.dm)]
            with m.Case(s.NORM):
                m.d.comb += self.norm_rd.addr.eq(row.index)
                num = ((r.row_sum - self.norm_rd.data) << ROUND_BITS) + r.prod_p + r.prod_m
                m.d.comb += [self.div.start.eq(1), self.div.dividend.eq(num),
                             self.div.divisor.eq(f_n)]
            with m.Case(s.NORM_DIV), m.If(~self.div.busy):
                m.d.sync += [r.dp.eq(r.dp - self.div.quotient), r.dm.eq(r.dm - self.div.quotient),
                             r.word_k.eq(0), r.x_valid.eq(0)]
            with m.Case(s.UPD):
                self._update(m, r, dp_sat, dm_sat)
        return m

    def _lane_ok(self, k, lane):
        """Whether lane ``lane`` of word ``k`` (``k < G``) holds a feature, ``kP + lane < F``:
        only lanes of the last word can be padding."""
        g_n, p = self._w.groups, self._params.lanes
        if (g_n - 1) * p + lane < self._params.config.n_inputs:
            return Const(1, 1)
        return k != g_n - 1

    def _pre(self, m, r):
        """``PRE``: row sum and causal count, ``P`` words per cycle."""
        wd, row, g_n = self._w, self.row, self._w.groups
        m.d.comb += [self.norm_rd.addr.eq(row.index),
                     self.weights_rd.addr.eq(r.row_base + r.word_k),
                     self.in_bins_rd.addr.eq(r.word_k)]
        with m.If(r.word_k < g_n):
            m.d.sync += r.word_k.eq(r.word_k + 1)
        m.d.sync += [r.x_valid.eq(r.word_k < g_n), r.x_k.eq(r.word_k)]
        with m.If(r.x_valid):
            lane_sum = 0
            lane_cnt = 0
            for lane in range(self._params.lanes):
                ok = self._lane_ok(r.x_k, lane)
                wl = self.weights_rd.data.word_select(lane, wd.weight)
                bl = self.in_bins_rd.data.word_select(lane, wd.bin)
                lane_sum = lane_sum + Mux(ok, wl, 0)
                lane_cnt = lane_cnt + (ok & (bl <= row.bin))
            m.d.sync += [r.row_sum.eq(r.row_sum + lane_sum),
                         r.n_causal.eq(r.n_causal + lane_cnt)]
        m.d.comb += self.pre_done.eq(~r.x_valid & (r.word_k == g_n))

    def _update(self, m, r, dp_sat, dm_sat):
        """``UPD``: stage X (causality, d+-, rounding) and stage Y (add, clip, write)."""
        prm, wd, g_n = self._params, self._w, self._w.groups
        wb = wd.weight
        w_lo, w_hi = prm.w_range
        rounding = prm.weight_format.rounding
        # bins are read in X, the weight word a cycle later so that it arrives in Y
        m.d.comb += [self.weights_rd.addr.eq(r.row_base + r.x_k),
                     self.in_bins_rd.addr.eq(r.word_k)]
        with m.If(r.word_k < g_n):
            m.d.sync += r.word_k.eq(r.word_k + 1)
        m.d.sync += [r.x_valid.eq(r.word_k < g_n), r.x_k.eq(r.word_k),
                     r.y_valid.eq(r.x_valid), r.y_k.eq(r.x_k)]
        if rounding is Rounding.STOCHASTIC:
            m.d.comb += self.lane_step.eq(r.x_valid)
        new_word = []
        for lane in range(prm.lanes):
            bl = self.in_bins_rd.data.word_select(lane, wd.bin)
            d = Mux(bl <= self.row.bin, dp_sat, dm_sat)
            if rounding is Rounding.STOCHASTIC:
                dw = (d + self.draws[lane]) >> ROUND_BITS
            elif rounding is Rounding.FLOOR:
                dw = d >> ROUND_BITS
            else:
                q = d >> ROUND_BITS
                rem = d[:ROUND_BITS]
                half = 1 << (ROUND_BITS - 1)
                up = (rem > half) | ((rem == half) & q[0])
                dw = q + up
            # |dw| <= 2**W and 0 <= w < 2**W: the sum fits W + 2 signed bits
            y_dw = Signal(signed(wb + 2), name=f"upd_dw{lane}")
            m.d.sync += y_dw.eq(dw)
            y_w = self.weights_rd.data.word_select(lane, wb)
            total = Signal(signed(wb + 2), name=f"upd_sum{lane}")
            m.d.comb += total.eq(y_w + y_dw)
            clipped = Mux(total < w_lo, w_lo, Mux(total > w_hi, w_hi, total))
            new_word.append(Mux(self._lane_ok(r.y_k, lane), clipped[:wb], y_w))
        m.d.comb += [self.weights_wr.addr.eq(r.row_base + r.y_k),
                     self.weights_wr.data.eq(Cat(*new_word)), self.weights_wr.en.eq(r.y_valid)]
        m.d.comb += self.row_done.eq(~r.x_valid & ~r.y_valid & (r.word_k == g_n))


class _Registers:
    """Registers of the row update: operands and products, ``d±``, row base, the word
    counter and the two pipeline stages, row sum and causal count."""

    def __init__(self, params: NCGParams, wd) -> None:
        cfg = params.config
        f_n, n_n, g_n, tf = cfg.n_inputs, cfg.class_map.n_neurons, wd.groups, params.time_frac
        d_bits = buses.update_bits(params)
        self.dp = Signal(signed(d_bits), name="d_plus")
        self.dm = Signal(signed(d_bits), name="d_minus")
        # registered multiplier operands and products (|e| A+-, then the normalisation terms)
        self.mul_e = Signal(tf + 3, name="mul_e")
        self.mul_p = Signal(signed(wd.rate), name="mul_p")
        self.mul_m = Signal(signed(wd.rate), name="mul_m")
        prod_bits = max(tf + 3 + wd.rate, f_n.bit_length() + 1 + d_bits) + 1
        self.prod_p = Signal(signed(prod_bits), name="prod_p")
        self.prod_m = Signal(signed(prod_bits), name="prod_m")
        self.row_base = Signal(range(max(2, n_n * g_n + 1)), name="row_base")
        self.word_k = Signal(range(g_n + 1), name="word_k")
        self.x_valid, self.x_k = Signal(name="x_valid"), Signal(range(g_n + 1), name="x_k")
        self.y_valid, self.y_k = Signal(name="y_valid"), Signal(range(g_n + 1), name="y_k")
        self.row_sum = Signal(wd.potential + 1, name="row_sum")
        self.n_causal = Signal(range(f_n + 1), name="n_causal")

