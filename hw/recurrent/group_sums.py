"""Running ``sum |w|`` of every synapse group (``sim.sleep.group_sums``), kept up to date.

One cycle after the learning pipeline writes a synapse back, its group's sum changes by
``m' - m`` (one adder and one selection bus for all groups). The same bus serves the host
(``SET SUM``: a group takes a value) and the sleep episode's early-stop check, which reads one
group per cycle through ``probe`` while no update is in flight
(:class:`~spikesmith.hw.recurrent.sequencer.Sequencer`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from spikesmith.sim.recurrent import SynapseGroup

from ..common.streams import index_bits
from .recurrent_config import CorePart, RecurrentCoreConfig

__all__ = ["GroupSums"]


class GroupSums(CorePart):
    """Per-group ``sum |w|`` registers with one shared update adder (module docstring).

    Parameters
    ----------
    config : RecurrentCoreConfig
        Group count, the sum width ``widths["sum"]``, the initial weights (reset values), the
        width of a command index.

    Members
    -------
    i_valid : In(1)
        A synapse of group ``i_group`` changed from ``i_old`` to ``i_new`` (weight LSBs).
    i_group : In(range(5))
    i_new, i_old : In(weight_bits)
    set : In(1)
        Host: group ``set_index`` takes ``set_value`` (an index past the last group: none).
    set_index : In(index_bits)
    set_value : In(widths["sum"])
    probe : In(3)
        Group whose sum appears on ``probe_sum`` (while no update is applied).
    probe_sum : Out(widths["sum"])
    sums : Out(ArrayLayout(widths["sum"], 5))
        Every group's sum (enum order).
    busy : Out(1)
        An update is applied this cycle.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        sb, wb = config.widths["sum"], config.weight_bits
        layout = data.ArrayLayout(unsigned(sb), len(SynapseGroup))
        return {
            "i_valid": In(1), "i_group": In(range(len(SynapseGroup))),
            "i_new": In(wb), "i_old": In(wb),
            "set": In(1), "set_index": In(index_bits(config.command_items)), "set_value": In(sb),
            "probe": In(3), "probe_sum": Out(sb),
            "sums": Out(layout), "busy": Out(1),
        }

    @property
    def initial(self) -> tuple[int, ...]:
        """The reset value of every group's sum (the initial weights), weight LSBs."""
        cfg = self._config
        return tuple(int(cfg.state.m[cfg.conn.group == gi].sum())
                     for gi in range(len(SynapseGroup)))

    def elaborate(self, platform):
        cfg = self._config
        sb, wb = cfg.widths["sum"], cfg.weight_bits
        m = Module()
        sums = [Signal(sb, name=f"sum_{g.value}", init=v)
                for g, v in zip(SynapseGroup, self.initial, strict=True)]
        m.d.comb += [self.sums[gi].eq(s) for gi, s in enumerate(sums)]
        u_valid, u_group, u_delta = Signal(), Signal(3), Signal(signed(wb + 1))
        m.d.sync += [u_valid.eq(self.i_valid), u_group.eq(self.i_group),
                     u_delta.eq(self.i_new - self.i_old)]
        sel = Signal(3)
        m.d.comb += [sel.eq(self.probe), self.busy.eq(u_valid)]
        with m.If(u_valid):
            m.d.comb += sel.eq(u_group)
        with m.Switch(sel):
            for gi, s_g in enumerate(sums):
                with m.Case(gi):
                    m.d.comb += self.probe_sum.eq(s_g)
        sum_d = Signal(sb)
        m.d.comb += sum_d.eq(Mux(self.set, self.set_value, self.probe_sum + u_delta))
        for gi, s_g in enumerate(sums):
            with m.If((u_valid & (u_group == gi)) | (self.set & (self.set_index == gi))):
                m.d.sync += s_g.eq(sum_d)
        return m
