"""Competition regulation of the NCG learning core (:func:`spikesmith.sim.ncg_learning.regulate`).

After the forward pass of a training sample, for the ``M_t`` target neurons of the label's
group in index order, a read-modify-write of the training thresholds ``θ̃``:

``REG_RD``
    Read ``θ̃`` of neuron ``cr_first + k``; register its address, its step (``+η_win`` for
    the regulation winner, ``-η_lose`` for the others) and the two bounds moved by the step.
``REG_ADD``
    Add the step, clamp CR-2 to at least the minimum test threshold, saturate to the threshold
    format, register: the clamps are decided by comparing the read value with the moved
    bounds, beside the add (one carry chain deep, not three).
``REG_WR``
    Write the registered threshold back (no logic between the block RAM's read and write
    ports).

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
        The sequencer state; the unit acts in ``REG_RD``, ``REG_ADD`` and ``REG_WR``.
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
        wide = signed(tb + 3)
        # REG_RD registers, besides the address, the bounds moved by the step: with the
        # floor L = max(theta_min, min) (CR-2; min for CR-1), the result
        # min(max(d + step, L), max) is L' = min(L, max) when d < L - step, max when
        # d > max - step, else d + step; REG_WR is then one add beside two comparisons
        # (the same integers: no rounding involved)
        reg_step = Signal(signed(tb + 2))
        reg_low, reg_high = Signal(wide), Signal(wide)     # L - step, max - step
        reg_floor = Signal(wide)                           # L'
        reg_new = Signal(signed(tb))                       # REG_ADD's result
        m.d.comb += [self.enabled.eq((ctl.eta_win != 0) | (ctl.eta_lose != 0)),
                     self.last.eq(reg_k == m_t - 1)]
        with m.If(self.start):
            m.d.sync += reg_k.eq(0)
        floor = Signal(wide)
        if prm.config.regulation is Regulation.CR2:
            m.d.comb += floor.eq(Mux(self.theta_min < thr_fmt.min_value, thr_fmt.min_value,
                                     self.theta_min))
        else:
            m.d.comb += floor.eq(thr_fmt.min_value)
        with m.Switch(self.state):
            with m.Case(NCGState.REG_RD):
                idx = win.cr_first + reg_k
                winner = idx == win.cr_index
                m.d.comb += self.theta_train_rd.addr.eq(idx)
                m.d.sync += [
                    reg_idx.eq(idx),
                    reg_step.eq(Mux(winner, ctl.eta_win, -ctl.eta_lose)),
                    reg_low.eq(Mux(winner, floor - ctl.eta_win, floor + ctl.eta_lose)),
                    reg_high.eq(Mux(winner, thr_fmt.max_value - ctl.eta_win,
                                    thr_fmt.max_value + ctl.eta_lose)),
                    reg_floor.eq(Mux(floor > thr_fmt.max_value, thr_fmt.max_value, floor)),
                ]
            with m.Case(NCGState.REG_ADD):
                d = self.theta_train_rd.data
                m.d.sync += reg_new.eq(Mux(d < reg_low, reg_floor,
                                           Mux(d > reg_high, thr_fmt.max_value, d + reg_step)))
            with m.Case(NCGState.REG_WR):
                m.d.comb += [self.theta_train_wr.addr.eq(reg_idx),
                             self.theta_train_wr.data.eq(reg_new), self.theta_train_wr.en.eq(1)]
                m.d.sync += reg_k.eq(reg_k + 1)
        return m
