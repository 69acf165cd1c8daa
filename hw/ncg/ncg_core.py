"""NCG learning core: single-spike IF readout with S2-STDP and Neuronal Competition Groups.

Inference and on-chip learning in one block, bit-exact with the integer golden model: the
forward pass of :mod:`spikesmith.sim.ncg` (:func:`~spikesmith.sim.ncg.forward`) and the learning
of :mod:`spikesmith.sim.ncg_learning` (:func:`~spikesmith.sim.ncg_learning.regulate`,
:func:`~spikesmith.sim.ncg_learning.s2stdp_errors`,
:func:`~spikesmith.sim.ncg_learning.update_rows`, :func:`~spikesmith.sim.ncg_learning.train_step`);
the equations live there and are not repeated here. Host protocol:
:mod:`spikesmith.hw.ncg.ncg_streams`.

The core is a composition of units, one ``wiring.Component`` per file, each with its own
bench (``tests/hw/test_ncg_units.py``, ``tests/hw/test_ncg_learning_units.py``):

=========================  ==========================================================
unit                       does
=========================  ==========================================================
:class:`NCGSequencer`      the one state register and its transitions (``sequencer``)
:class:`NCGInterface`      commands, host registers, sample buffer, readback, records
:class:`NCGForward`        integration and first-spike decision, neuron by neuron
:class:`NCGWinners`        global / group / regulation winners, slots, firing-time sum
:class:`NCGRegulation`     competition regulation of the training thresholds
:class:`NCGErrors`         mean firing time, target times, per-slot errors
:class:`NCGRowUpdate`      ``d±``, additive normalisation, read-modify-write of a row
:class:`NCGLanes`          the ``P + 1`` LFSR24 registers (rounding, dropout)
:class:`FloorDivider`      the divider shared by the errors and the row update
=========================  ==========================================================

Every unit but the lanes, the winners and the divider sees the sequencer state and acts in
its own states; the memories (:mod:`spikesmith.hw.ncg.memories`) and the divider are shared
by ORing the requests of their users, each zero outside its states. The sample flow is in
:mod:`spikesmith.hw.ncg.sequencer`: after ``END`` the forward pass, then in training the
regulation, the errors and, per updated neuron, the row update; then ``CLEAR`` and
``RESULT``. The composition adds no register and no logic level to the single state machine
it replaced (same cycle counts, same records).
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg import NCGParams

from . import buses
from .errors import NCGErrors
from .forward import NCGForward
from .interface import NCGInterface
from .lanes import NCGLanes
from .memories import NCGMemory, memory_geometry, share_read, share_write
from .ncg_divider import FloorDivider
from .ncg_streams import NCGWidths, ncg_command_layout, ncg_record_layout
from .regulation import NCGRegulation
from .row_update import NCGRowUpdate
from .sequencer import NCGSequencer
from .winners import NCGWinners

__all__ = ["NCGCore"]


class NCGCore(buses.NCGUnit):
    """On-chip S2-STDP / SSTDP / R-STDP learning core with NCG competition regulation.

    Parameters
    ----------
    params : NCGParams
        Integer parameters of :mod:`spikesmith.sim.ncg` (shapes, formats, ``K``, ``P``,
        method, regulation, rounding, dropout). Weights, thresholds, ``S0``, rates, gaps and
        LFSR seeds are loaded by the host through ``WRITE`` commands.

    Members
    -------
    i : In(stream.Signature(ncg_command_layout(...)))
        Commands (:mod:`spikesmith.hw.ncg.ncg_streams`).
    o : Out(stream.Signature(ncg_record_layout(...)))
        Records: results, burst-read data, traces.
    busy : Out(1)
        High while a command is being processed.

    Raises
    ------
    TypeError, ValueError
        As :class:`~spikesmith.hw.ncg.buses.NCGUnit`: ``params`` not an ``NCGParams``, lanes
        not a power of two, ``WeightNorm.MULTIPLICATIVE`` (not implemented).
    """

    def members(self, params: NCGParams) -> dict:
        return {
            "i": In(stream.Signature(ncg_command_layout(self._w))),
            "o": Out(stream.Signature(ncg_record_layout(self._w))),
            "busy": Out(1),
        }

    @property
    def widths(self) -> NCGWidths:
        """Register and datapath widths."""
        return self._w

    @property
    def n_updated(self) -> int:
        """Slots of neurons that one sample may update (``C``, ``N`` or 1 for R-STDP)."""
        return buses.updated_neurons(self._params)

    def elaborate(self, platform):
        prm = self._params
        m = Module()
        m.submodules.seq = seq = NCGSequencer(prm)
        m.submodules.iface = iface = NCGInterface(prm)
        m.submodules.lanes = lanes = NCGLanes(prm)
        m.submodules.fwd = fwd = NCGForward(prm)
        m.submodules.win = win = NCGWinners(prm)
        m.submodules.reg = reg = NCGRegulation(prm)
        m.submodules.err = err = NCGErrors(prm)
        m.submodules.upd = upd = NCGRowUpdate(prm)
        nb, db = buses.divider_bits(prm)
        m.submodules.div = div = FloorDivider(dividend_bits=nb, divisor_bits=db)

        wiring.connect(m, wiring.flipped(self.i), iface.i)
        wiring.connect(m, iface.o, wiring.flipped(self.o))
        m.d.comb += self.busy.eq(~self.i.ready)

        # buses between the units (module docstring of hw.ncg.buses)
        m.d.comb += [unit.state.eq(seq.state) for unit in (iface, fwd, reg, err, upd)]
        wiring.connect(m, iface.ctl, fwd.ctl, win.ctl, reg.ctl, err.ctl, upd.ctl)
        wiring.connect(m, fwd.neuron, win.neuron, iface.neuron)
        wiring.connect(m, win.winners, reg.winners, err.winners, iface.winners)
        wiring.connect(m, err.row, upd.row)
        wiring.connect(m, iface.lanes, lanes.host)
        draws = lanes.draws.as_value()
        m.d.comb += [
            fwd.start.eq(iface.cmd_end), win.start.eq(iface.cmd_end),
            fwd.step.eq(iface.neuron_done), win.commit.eq(iface.neuron_done),
            reg.start.eq(fwd.finish), reg.theta_min.eq(fwd.theta_min),
            err.row_done.eq(upd.row_done),
            lanes.step.eq(upd.lane_step), lanes.step_dropout.eq(fwd.dropout_step),
            upd.draws.eq(draws[:prm.lanes * LFSR24.draw_bits]),
            fwd.dropout_draw.eq(lanes.draws[prm.lanes]),
        ]
        status = {
            "cmd_end": iface.cmd_end, "cmd_read": iface.cmd_read, "read_done": iface.read_done,
            "run": fwd.run, "spike": fwd.spike, "end": fwd.end,
            "neuron_done": iface.neuron_done, "finish": fwd.finish, "train": iface.ctl.train,
            "regulate": reg.enabled, "reg_last": reg.last,
            "divide": err.divide, "div_busy": div.busy, "error": err.error,
            "last_slot": err.last_slot, "pre_done": upd.pre_done, "row_done": upd.row_done,
            "clear_done": iface.clear_done, "result_done": iface.result_done,
        }
        m.d.comb += [getattr(seq, name).eq(value) for name, value in status.items()]

        # the shared divider: requests ORed (each zero outside its states)
        for name in ("start", "dividend", "divisor"):
            m.d.comb += getattr(div, name).eq(getattr(err.div, name) | getattr(upd.div, name))
        m.d.comb += [req.busy.eq(div.busy) for req in (err.div, upd.div)]
        m.d.comb += [req.quotient.eq(div.quotient) for req in (err.div, upd.div)]

        # the memories and their users
        mw = NCGMemory
        reads = {
            mw.WEIGHTS: [iface.weights_rd, fwd.weights_rd, upd.weights_rd],
            mw.IN_BINS: [upd.in_bins_rd],
            mw.EVENTS: [fwd.events_rd],
            mw.THETA: [iface.theta_rd, fwd.theta_rd],
            mw.THETA_TRAIN: [iface.theta_train_rd, fwd.theta_train_rd, reg.theta_train_rd],
            mw.NORM: [iface.norm_rd, upd.norm_rd],
            mw.SLOTS: [err.slots_rd],
        }
        writes = {
            mw.WEIGHTS: [iface.weights_wr, upd.weights_wr], mw.IN_BINS: [iface.in_bins_wr],
            mw.EVENTS: [iface.events_wr], mw.THETA: [iface.theta_wr],
            mw.THETA_TRAIN: [iface.theta_train_wr, reg.theta_train_wr],
            mw.NORM: [iface.norm_wr], mw.SLOTS: [win.slots_wr],
        }
        for mem, geo in memory_geometry(prm).items():
            m.submodules[mem.value] = memory = geo.build()
            port = share_read(m, memory, reads[mem], name=f"{mem.value}_rd")
            if mem in (mw.WEIGHTS, mw.THETA, mw.THETA_TRAIN, mw.NORM):
                m.d.comb += port.en.eq(iface.read_enable)
            share_write(m, memory, writes[mem], granularity=geo.granularity)
        return m
