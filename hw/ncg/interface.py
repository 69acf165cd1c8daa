"""Host side of the NCG learning core: command decoding, registers, readback and records.

Protocol: :mod:`spikesmith.hw.ncg.ncg_streams`. In ``IDLE`` the interface takes one command
per cycle: ``EVENT`` writes the event list and the bin memory, ``END`` latches the label and
starts the sample, ``WRITE`` sets a register, a memory word or an LFSR register, ``READ`` starts
a burst. It sends every record: ``DATA`` in ``READ``, ``TRACE`` in ``FWD_DONE`` (when ``MODE``
bit 1 is set; the forward pass waits for it), ``RESULT`` after ``CLEAR``, which resets the
bin memory to "silent" (``G`` cycles). It also counts the cycles of the sample, from its first
command to ``RESULT``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from spikesmith.sim.ncg import NCGParams

from ..common.streams import index_bits
from . import buses
from .memories import NCGMemory, memory_geometry
from .ncg_streams import (
    NCGKind,
    NCGOp,
    NCGReg,
    NCGSpace,
    ncg_command_layout,
    ncg_record_layout,
)
from .sequencer import NCGState

__all__ = ["NCGInterface"]

#: Memories the host writes, by address space; the last four are also read in bursts.
_WRITTEN = {NCGSpace.WEIGHT: NCGMemory.WEIGHTS, NCGSpace.THETA: NCGMemory.THETA,
            NCGSpace.THETA_TRAIN: NCGMemory.THETA_TRAIN, NCGSpace.NORM: NCGMemory.NORM}


class NCGInterface(buses.NCGUnit):
    """Command decoder, host registers, sample buffer writes, burst readback and records.

    Parameters
    ----------
    params : NCGParams
        Core parameters (widths of the commands, records and memories).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    state : In(NCGState)
        The sequencer state.
    i : In(stream.Signature(ncg_command_layout(...)))
        Commands; ``ready`` in ``IDLE`` only.
    o : Out(stream.Signature(ncg_record_layout(...)))
        Records.
    ctl : Out(buses.control(params))
        Host registers (``MODE``, rates, steps, gaps) and the sample's ``label`` and
        ``n_events``.
    neuron : In(buses.neuron(params))
        The neuron of ``FWD_DONE`` (``TRACE`` record: index, bin, potential).
    winners : In(buses.winners(params))
        The global winner (``RESULT`` record: its class).
    weights_wr, theta_wr, theta_train_wr, norm_wr, events_wr, in_bins_wr : Out(write request)
        Host writes (``IDLE``), the event list and bins (``EVENT``), the bin clear (``CLEAR``).
    weights_rd, theta_rd, theta_train_rd, norm_rd : Out(read request)
        Burst readback (``READ``).
    read_enable : Out(1)
        Enable of the read registers of those four memories: low while ``READ`` waits for the
        record stream, 1 in every other state.
    lanes : Out(buses.lane_port(params))
        Writes and reads of the LFSR registers.
    cmd_end, cmd_read, read_done, neuron_done, clear_done, result_done : Out(1)
        Status strobes for the sequencer (:data:`~spikesmith.hw.ncg.sequencer.STATUS`);
        ``cmd_end`` also restarts the forward pass and the winners, ``neuron_done`` commits a
        neuron.
    """

    def members(self, params: NCGParams) -> dict:
        geo = memory_geometry(params)
        writes = {f"{mem.value}_wr": Out(geo[mem].write_request())
                  for mem in (*_WRITTEN.values(), NCGMemory.EVENTS, NCGMemory.IN_BINS)}
        reads = {f"{mem.value}_rd": Out(geo[mem].read_request()) for mem in _WRITTEN.values()}
        return {
            "state": In(NCGState),
            "i": In(stream.Signature(ncg_command_layout(self._w))),
            "o": Out(stream.Signature(ncg_record_layout(self._w))),
            "ctl": Out(buses.control(params)),
            "neuron": In(buses.neuron(params)),
            "winners": In(buses.winners(params)),
            **writes, **reads,
            "read_enable": Out(1),
            "lanes": Out(buses.lane_port(params)),
            **{name: Out(1) for name in ("cmd_end", "cmd_read", "read_done", "neuron_done",
                                         "clear_done", "result_done")},
        }

    def elaborate(self, platform):
        wd, s = self._w, NCGState
        p, g_n = self._params.lanes, wd.groups
        m = Module()
        cmd, ctl = self.i.payload, self.ctl
        mode = Signal(2)
        m.d.comb += [ctl.train.eq(mode[0]), ctl.trace.eq(mode[1])]
        sample_cycles = Signal(32)
        m.d.sync += sample_cycles.eq(sample_cycles + 1)
        burst = _Burst(wd)
        m.d.comb += self.lanes.rd_index.eq(burst.addr[:index_bits(p + 1)])
        clr_k = Signal(range(g_n + 1))
        # the event list entry is written at n_events (enable in EVENT)
        feat = cmd.index[:wd.feature]
        m.d.comb += [self.events_wr.addr.eq(ctl.n_events),
                     self.events_wr.data.eq(Cat(feat, cmd.value[:wd.bin]))]
        m.d.comb += self.read_enable.eq(1)

        with m.Switch(self.state):
            with m.Case(s.IDLE):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    self._command(m, mode, sample_cycles, burst)
            with m.Case(s.READ):
                self._readback(m, burst)
            with m.Case(s.FWD_DONE):
                m.d.comb += [self.neuron_done.eq(~ctl.trace | self.o.ready),
                             self.o.valid.eq(ctl.trace), self.o.payload.kind.eq(NCGKind.TRACE),
                             self.o.payload.index.eq(self.neuron.index),
                             self.o.payload.value.eq(Cat(self.neuron.bin,
                                                         self.neuron.potential))]
            with m.Case(s.CLEAR):
                silent = memory_geometry(self._params)[NCGMemory.IN_BINS].init[0]
                m.d.comb += [self.in_bins_wr.addr.eq(clr_k), self.in_bins_wr.data.eq(silent),
                             self.in_bins_wr.en.eq((1 << p) - 1)]
                m.d.sync += clr_k.eq(clr_k + 1)
                with m.If(clr_k == g_n - 1):
                    m.d.sync += [clr_k.eq(0), ctl.n_events.eq(0)]
                    m.d.comb += self.clear_done.eq(1)
            with m.Case(s.RESULT):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.kind.eq(NCGKind.RESULT),
                             self.o.payload.index.eq(self.winners.cls),
                             self.o.payload.value.eq(sample_cycles),
                             self.result_done.eq(self.o.ready)]
        return m

    def _command(self, m, mode, sample_cycles, burst):
        """Decode the command in ``IDLE`` (``i.valid`` high)."""
        wd, ctl, cmd = self._w, self.ctl, self.i.payload
        p, bb = self._params.lanes, wd.bin
        lp = p.bit_length() - 1
        feat = cmd.index[:wd.feature]
        ev_lane = feat[:lp] if lp else Const(0, 1)
        with m.Switch(cmd.op):
            with m.Case(NCGOp.EVENT):
                m.d.comb += [self.events_wr.en.eq(ctl.n_events < self._params.config.n_inputs),
                             self.in_bins_wr.addr.eq(feat >> lp),
                             self.in_bins_wr.data.eq(cmd.value[:bb].replicate(p))]
                for lane in range(p):
                    m.d.comb += self.in_bins_wr.en[lane].eq(ev_lane == lane)
                m.d.sync += ctl.n_events.eq(ctl.n_events + 1)
                with m.If(ctl.n_events == 0):
                    m.d.sync += sample_cycles.eq(1)
            with m.Case(NCGOp.END):
                with m.If(ctl.n_events == 0):
                    m.d.sync += sample_cycles.eq(1)
                m.d.sync += ctl.label.eq(cmd.value)
                m.d.comb += self.cmd_end.eq(1)
            with m.Case(NCGOp.WRITE):
                self._write(m, mode)
            with m.Case(NCGOp.READ):
                m.d.sync += [burst.space.eq(cmd.space), burst.addr.eq(cmd.index),
                             burst.left.eq(cmd.value), burst.valid.eq(0)]
                m.d.comb += self.cmd_read.eq(1)

    def _write(self, m, mode):
        """Decode one ``WRITE`` command (combinational write enables, register updates)."""
        cmd, ctl = self.i.payload, self.ctl
        regs = {NCGReg.MODE: mode, NCGReg.A_PLUS: ctl.a_plus, NCGReg.A_MINUS: ctl.a_minus,
                NCGReg.ANTI_A_PLUS: ctl.anti_a_plus, NCGReg.ANTI_A_MINUS: ctl.anti_a_minus,
                NCGReg.ETA_WIN: ctl.eta_win, NCGReg.ETA_LOSE: ctl.eta_lose,
                NCGReg.G_T: ctl.g_t, NCGReg.G_NT: ctl.g_nt}
        with m.Switch(cmd.space):
            with m.Case(NCGSpace.REG), m.Switch(cmd.index):
                for reg, sig in regs.items():
                    with m.Case(reg):
                        m.d.sync += sig.eq(cmd.value)
            for space, mem in _WRITTEN.items():
                with m.Case(space):
                    req = getattr(self, f"{mem.value}_wr")
                    m.d.comb += [req.addr.eq(cmd.index), req.data.eq(cmd.value), req.en.eq(1)]
            with m.Case(NCGSpace.LFSR):
                m.d.comb += [self.lanes.wr_en.eq(1), self.lanes.wr_index.eq(cmd.index),
                             self.lanes.wr_data.eq(cmd.value)]

    def _readback(self, m, burst):
        """``READ``: one entry per cycle while the record stream takes them."""
        rd_en = Signal()
        m.d.comb += [rd_en.eq(~burst.valid | self.o.ready), self.read_enable.eq(rd_en)]
        for mem in _WRITTEN.values():
            m.d.comb += getattr(self, f"{mem.value}_rd").addr.eq(burst.addr)
        with m.If(rd_en):
            with m.If(burst.left != 0):
                m.d.sync += [burst.addr.eq(burst.addr + 1), burst.left.eq(burst.left - 1),
                             burst.valid.eq(1), burst.index.eq(burst.addr),
                             burst.lfsr.eq(self.lanes.rd_data)]
            with m.Else():
                m.d.sync += burst.valid.eq(0)
                with m.If(~burst.valid):
                    m.d.comb += self.read_done.eq(1)
        m.d.comb += [self.o.valid.eq(burst.valid), self.o.payload.kind.eq(NCGKind.DATA),
                     self.o.payload.space.eq(burst.space),
                     self.o.payload.index.eq(burst.index)]
        with m.Switch(burst.space):
            for space, mem in _WRITTEN.items():
                with m.Case(space):
                    data = getattr(self, f"{mem.value}_rd").data
                    m.d.comb += self.o.payload.value.eq(data.as_unsigned())
            with m.Case(NCGSpace.LFSR):
                m.d.comb += self.o.payload.value.eq(burst.lfsr)


class _Burst:
    """Registers of a burst read: space, next address, entries left, the record's index and
    LFSR value, and whether a record is pending."""

    def __init__(self, wd) -> None:
        self.space = Signal(3, name="rd_space")
        self.addr = Signal(wd.index + 1, name="rd_addr")
        self.left = Signal(wd.value + 1, name="rd_left")
        self.valid = Signal(name="rd_valid")
        self.index = Signal(wd.index, name="rd_index")
        self.lfsr = Signal(wd.lfsr, name="lfsr_rd")
