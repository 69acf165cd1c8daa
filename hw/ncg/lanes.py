"""LFSR lanes of the NCG learning core: ``P`` rounding registers and one dropout register.

Register ``q < P`` draws the stochastic-rounding bits of synapse lane ``q`` of the row update,
register ``P`` the output-dropout bits of the forward pass (the draws of
:func:`spikesmith.sim.ncg_learning.update_rows` and ``sim.ncg_learning._dropout_mask``). A draw
advances a register by ``LFSR24.draw_bits`` steps in one cycle (:func:`~spikesmith.hw.common.lfsr.
lfsr_advance_value`) and uses the low ``draw_bits`` bits of the advanced state. The host
loads and reads the registers (space ``LFSR``).
"""

from __future__ import annotations

from amaranth.hdl import Array, Module, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg import NCGParams

from ..common.lfsr import lfsr_advance_value
from . import buses

__all__ = ["NCGLanes"]


class NCGLanes(buses.NCGUnit):
    """``P + 1`` LFSR24 registers with one-cycle draws and host access.

    Parameters
    ----------
    params : NCGParams
        Core parameters (``P = params.lanes``).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    step : In(1)
        Advance registers ``0 .. P-1`` by one draw at the clock edge.
    step_dropout : In(1)
        Advance register ``P`` by one draw at the clock edge.
    draws : Out(data.ArrayLayout(unsigned(LFSR24.draw_bits), P + 1))
        The draw each register gives when it is stepped in this cycle (the low bits of its
        advanced state), combinational.
    host : In(buses.lane_port(params))
        Host write (``wr_en``: register ``wr_index`` ``<- wr_data``; indices past ``P`` are
        ignored) and read (``rd_data`` = register ``rd_index``).
    """

    def members(self, params: NCGParams) -> dict:
        return {
            "step": In(1), "step_dropout": In(1),
            "draws": Out(data.ArrayLayout(unsigned(LFSR24.draw_bits), params.lanes + 1)),
            "host": In(buses.lane_port(params)),
        }

    def elaborate(self, platform):
        p = self._params.lanes
        m = Module()
        lanes = [Signal(LFSR24.width, name=f"lfsr{q}", init=1) for q in range(p + 1)]
        for q, lane in enumerate(lanes):
            nxt = lfsr_advance_value(lane, LFSR24, steps=LFSR24.draw_bits)
            m.d.comb += self.draws[q].eq(nxt[:LFSR24.draw_bits])
            with m.If(self.host.wr_en & (self.host.wr_index == q)):
                m.d.sync += lane.eq(self.host.wr_data)
            with m.Elif(self.step_dropout if q == p else self.step):
                m.d.sync += lane.eq(nxt)
        m.d.comb += self.host.rd_data.eq(Array(lanes)[self.host.rd_index])
        return m
