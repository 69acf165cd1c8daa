"""Errors of the NCG learning core (:func:`spikesmith.sim.ncg_learning.s2stdp_errors`; R-STDP's
``±T_max`` on the global winner as in :func:`spikesmith.sim.ncg_learning.train_step`).

``ERR_START``
    R-STDP: the row is the global winner, the error ``+2**TF`` if it is a target neuron of the
    label, else ``-2**TF``. Otherwise start the mean firing time ``Σ τ / n`` on the shared
    divider (if some updated neuron fired).
``ERR_DIV``
    ``t_base = min(Σ τ // n, 2**TF - g_nt)`` (``2**TF - g_nt`` if none fired).
``SLOT_RD``
    Read slot ``u`` (neuron, bin, target); register the target times ``t_base - g_t`` and
    ``t_base + g_nt``.
``SLOT``
    The error ``τ - T*`` (SSTDP: target time bounded by ``τ``); a non-zero error makes the
    slot's neuron the row to update, a zero one moves to the next slot.

After the row update of a slot (``row_done``) the unit moves to the next slot.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib.wiring import In, Out

from spikesmith.sim.ncg import NCGParams
from spikesmith.sim.ncg_types import Method

from . import buses
from .memories import NCGMemory, memory_geometry
from .sequencer import NCGState
from .winners import spike_time

__all__ = ["NCGErrors"]


class NCGErrors(buses.NCGUnit):
    """Target times and per-slot errors; picks the rows the update rewrites.

    Parameters
    ----------
    params : NCGParams
        Core parameters (method, time format, slots).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    state : In(NCGState)
        The sequencer state; the unit acts in ``ERR_START``, ``ERR_DIV``, ``SLOT_RD``,
        ``SLOT``.
    ctl : In(buses.control(params))
        ``g_t``, ``g_nt``, ``label``.
    winners : In(buses.winners(params))
        The global winner (R-STDP), ``tau_sum`` and ``n_fired``.
    slots_rd : Out(read request)
        Read in ``SLOT_RD``.
    div : Out(buses.divider(params))
        The mean firing time (started in ``ERR_START``).
    row_done : In(1)
        ``UPD``: the row of the current slot is written back: next slot.
    row : Out(buses.row(params))
        Row, bin and error of the neuron to update (valid from ``ROW_MUL``).
    divide, error, last_slot : Out(1)
        Status strobes (:data:`~spikesmith.hw.ncg.sequencer.STATUS`).
    """

    def members(self, params: NCGParams) -> dict:
        return {
            "state": In(NCGState),
            "ctl": In(buses.control(params)),
            "winners": In(buses.winners(params)),
            "slots_rd": Out(memory_geometry(params)[NCGMemory.SLOTS].read_request()),
            "div": Out(buses.divider(params)),
            "row_done": In(1),
            "row": Out(buses.row(params)),
            "divide": Out(1), "error": Out(1), "last_slot": Out(1),
        }

    def elaborate(self, platform):
        prm, s = self._params, NCGState
        tf, tmax = prm.time_frac, prm.t_max
        n_upd = buses.updated_neurons(prm)
        method = prm.config.method
        ctl, win, row = self.ctl, self.winners, self.row
        m = Module()
        t_base = Signal(signed(tf + 3))
        # target times t_base - g_t and t_base + g_nt (full width), registered in SLOT_RD
        t_early = Signal((t_base - ctl.g_t).shape())
        t_late = Signal((t_base + ctl.g_nt).shape())
        slot = Signal(range(n_upd + 1))
        cap = tmax - ctl.g_nt
        m.d.comb += self.last_slot.eq(slot == n_upd - 1)
        with m.Switch(self.state):
            with m.Case(s.ERR_START):
                m.d.sync += slot.eq(0)
                if method is Method.RSTDP:
                    reward = (win.cls == ctl.label) & win.target
                    m.d.sync += [row.index.eq(win.index), row.bin.eq(win.bin),
                                 row.error.eq(Mux(reward, tmax, -tmax))]
                else:
                    with m.If(win.n_fired != 0):
                        m.d.comb += [self.divide.eq(1), self.div.start.eq(1),
                                     self.div.dividend.eq(win.tau_sum),
                                     self.div.divisor.eq(win.n_fired)]
                    with m.Else():
                        m.d.sync += t_base.eq(cap)
            with m.Case(s.ERR_DIV), m.If(~self.div.busy):
                m.d.sync += t_base.eq(Mux(self.div.quotient < cap, self.div.quotient, cap))
            with m.Case(s.SLOT_RD):
                m.d.comb += self.slots_rd.addr.eq(slot)
                m.d.sync += [t_early.eq(t_base - ctl.g_t), t_late.eq(t_base + ctl.g_nt)]
            with m.Case(s.SLOT):
                self._slot(m, slot, t_early, t_late)
            with m.Case(s.UPD), m.If(self.row_done):
                m.d.sync += slot.eq(slot + 1)
        return m

    def _slot(self, m, slot, early, late):
        """``SLOT``: the error of the slot's neuron."""
        prm, wd, row = self._params, self._w, self.row
        data = self.slots_rd.data
        s_j, s_b, s_tgt = data[:wd.neuron], data[wd.neuron:wd.neuron + wd.bin], data[-1]
        tau_j = Signal(signed(prm.time_frac + 3))
        m.d.comb += tau_j.eq(spike_time(s_b, prm))
        tgt_time = Signal(signed(prm.time_frac + 3))
        if prm.config.method is Method.SSTDP:
            m.d.comb += tgt_time.eq(Mux(s_tgt, Mux(tau_j < early, tau_j, early),
                                        Mux(tau_j > late, tau_j, late)))
        else:
            m.d.comb += tgt_time.eq(Mux(s_tgt, early, late))
        with m.If(tau_j != tgt_time):
            m.d.sync += [row.index.eq(s_j), row.bin.eq(s_b), row.error.eq(tau_j - tgt_time)]
            m.d.comb += self.error.eq(1)
        with m.Else():
            m.d.sync += slot.eq(slot + 1)
