"""Competition regulation of the NCG learning core (:func:`spikesmith.sim.ncg_learning.regulate`).

After the forward pass of a training sample, for the ``M_t`` target neurons of the label's
group in index order, a read-modify-write of the training thresholds ``θ̃``:

``REG_RD``
    Read ``θ̃`` of neuron ``cr_first + k``; register its address and its step: ``+η_win`` for
    the regulation winner, ``-η_lose`` for the others.
``REG_WR``
    Add the step, clamp CR-2 to at least the minimum test threshold, saturate to the threshold
    format, write back.

The core runs it only for CR-1 / CR-2 with ``M_t >= 2`` and a non-zero step register
(``enabled``); otherwise the thresholds are left as they are, as in the golden model.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib.wiring import In, Out

from spikesmith.sim.ncg import NCGParams
from spikesmith.sim.ncg_types import Regulation

from . import buses
from .memories import NCGMemory, memory_geometry
from .sequencer import NCGState

__all__ = ["NCGRegulation"]


class NCGRegulation(buses.NCGUnit):
    """Read-modify-write of the training thresholds of the label's target neurons.

    Parameters
    ----------
    params : NCGParams
        Core parameters (regulation mode, class map, threshold format).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    state : In(NCGState)
        The sequencer state; the unit acts in ``REG_RD`` and ``REG_WR``.
    ctl : In(buses.control(params))
        ``eta_win``, ``eta_lose``.
    start : In(1)
        Restart at the first target neuron (the forward pass ends).
    winners : In(buses.winners(params))
        ``cr_first`` (first target neuron of the label) and ``cr_index`` (regulation winner).
    theta_min : In(signed(threshold))
        Minimum test threshold (the CR-2 floor).
    theta_train_rd : Out(read request)
        Read in ``REG_RD``.
    theta_train_wr : Out(write request)
        Write in ``REG_WR``.
    enabled : Out(1)
        A step register is non-zero.
    last : Out(1)
        The neuron of ``REG_WR`` is the last target neuron.
    """

    def members(self, params: NCGParams) -> dict:
        geo = memory_geometry(params)[NCGMemory.THETA_TRAIN]
        return {
            "state": In(NCGState),
            "ctl": In(buses.control(params)),
            "start": In(1),
            "winners": In(buses.winners(params)),
            "theta_min": In(signed(self._w.threshold)),
            "theta_train_rd": Out(geo.read_request()),
            "theta_train_wr": Out(geo.write_request()),
            "enabled": Out(1), "last": Out(1),
        }

    def elaborate(self, platform):
        prm, tb = self._params, self._w.threshold
        m_t = prm.config.class_map.n_targets
        thr_fmt = prm.threshold_format
        ctl, win = self.ctl, self.winners
        m = Module()
        reg_k = Signal(range(m_t + 1))
        reg_idx = Signal(self._w.neuron)
        reg_step = Signal(signed(tb + 2))
        m.d.comb += [self.enabled.eq((ctl.eta_win != 0) | (ctl.eta_lose != 0)),
                     self.last.eq(reg_k == m_t - 1)]
        with m.If(self.start):
            m.d.sync += reg_k.eq(0)
        with m.Switch(self.state):
            # REG_RD registers the address and the step, so REG_WR is one add, the CR-2 floor
            # and the saturation
            with m.Case(NCGState.REG_RD):
                idx = win.cr_first + reg_k
                m.d.comb += self.theta_train_rd.addr.eq(idx)
                m.d.sync += [reg_idx.eq(idx),
                             reg_step.eq(Mux(idx == win.cr_index, ctl.eta_win, -ctl.eta_lose))]
            with m.Case(NCGState.REG_WR):
                wide = signed(tb + 3)
                new = Signal(wide)
                m.d.comb += new.eq(self.theta_train_rd.data + reg_step)
                clamped = Signal(wide)
                if prm.config.regulation is Regulation.CR2:
                    m.d.comb += clamped.eq(Mux(new < self.theta_min, self.theta_min, new))
                else:
                    m.d.comb += clamped.eq(new)
                sat = Mux(clamped > thr_fmt.max_value, thr_fmt.max_value,
                          Mux(clamped < thr_fmt.min_value, thr_fmt.min_value, clamped))
                m.d.comb += [self.theta_train_wr.addr.eq(reg_idx),
                             self.theta_train_wr.data.eq(sat), self.theta_train_wr.en.eq(1)]
                m.d.sync += reg_k.eq(reg_k + 1)
        return m
