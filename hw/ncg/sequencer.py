"""Sequencer of the NCG learning core: the one state register and its transitions.

Every unit of :class:`~spikesmith.hw.ncg.ncg_core.NCGCore` sees :class:`NCGState` and acts in
its own states; the sequencer decides the next state from the units' status strobes. Sample
flow after ``END`` (units in brackets)::

    FWD_START  FWD_LOAD  [FWD_RUN ...]  [FWD_FINAL]  FWD_DONE     per neuron    (forward,
                                                                                 winners)
    REG_RD  REG_ADD  REG_WR                          per target neuron of the label (regulation)
    ERR_START  [ERR_DIV]                             mean firing time              (errors)
    SLOT_RD  SLOT                                    per updated neuron            (errors)
      ROW_MUL  ROW_PROD  ROW_SHIFT                   update values d+-        (row update)
      [PRE ...  NORM_PROD  NORM  NORM_DIV]           additive normalisation   (row update)
      UPD ...                                        read-modify-write of the row
    CLEAR ...  RESULT                                                          (interface)

Inference goes from the last ``FWD_DONE`` to ``CLEAR``; ``READ`` is the burst readback.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import enum
from amaranth.lib.wiring import In, Out

from spikesmith.sim.ncg import NCGParams
from spikesmith.sim.ncg_types import Method, Regulation, WeightNorm

from . import buses

__all__ = ["NCGSequencer", "NCGState"]


class NCGState(enum.Enum, shape=5):
    """States of the core (module docstring).

    The encoding is the order in which the states were first named in the single state
    machine the core had before it was split into units, for the default configuration;
    ``REG_ADD`` came later.
    """

    IDLE = 0
    FWD_START = 1
    READ = 2
    FWD_LOAD = 3
    FWD_RUN = 4
    FWD_DONE = 5
    FWD_FINAL = 6
    CLEAR = 7
    REG_RD = 8
    ERR_START = 9
    REG_WR = 10
    ERR_DIV = 11
    SLOT_RD = 12
    SLOT = 13
    ROW_MUL = 14
    ROW_PROD = 15
    ROW_SHIFT = 16
    PRE = 17
    NORM_PROD = 18
    NORM = 19
    NORM_DIV = 20
    UPD = 21
    RESULT = 22
    REG_ADD = 23


#: The status strobes of the units, each read by the sequencer in the states named.
STATUS = {
    "cmd_end": "IDLE: an END command (interface)",
    "cmd_read": "IDLE: a READ command (interface)",
    "read_done": "READ: the burst is sent (interface)",
    "run": "FWD_LOAD: the neuron integrates events (forward)",
    "spike": "FWD_RUN: the neuron fired at a bin change (forward)",
    "end": "FWD_RUN: the last event is integrated (forward)",
    "neuron_done": "FWD_DONE: the neuron is committed (interface: trace record taken)",
    "finish": "FWD_DONE: the last neuron is committed (forward)",
    "train": "FWD_DONE: training mode (interface)",
    "regulate": "FWD_DONE: a regulation step is non-zero (regulation)",
    "reg_last": "REG_WR: the last target neuron (regulation)",
    "divide": "ERR_START: some updated neuron fired (errors)",
    "div_busy": "ERR_DIV, NORM_DIV: the divider is busy",
    "error": "SLOT: the slot's neuron has a non-zero error (errors)",
    "last_slot": "SLOT, UPD: the last slot (errors)",
    "pre_done": "PRE: the row sum is complete (row update)",
    "row_done": "UPD: the row is written back (row update)",
    "clear_done": "CLEAR: the bin memory is cleared (interface)",
    "result_done": "RESULT: the result record is taken (interface)",
}


class NCGSequencer(buses.NCGUnit):
    """The state register of the NCG core and its transitions.

    Parameters
    ----------
    params : NCGParams
        Core parameters; the method (R-STDP skips the mean firing time), the regulation
        (``REG_*`` only for CR-1 / CR-2 with at least two target neurons) and the
        normalisation (``PRE`` .. ``NORM_DIV`` only for additive) shape the transitions.
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    state : Out(NCGState)
        The state register (``IDLE`` after reset).
    cmd_end, cmd_read, ... : In(1)
        The status strobes of :data:`STATUS`, each only read in the states it names.
    """

    def members(self, params: NCGParams) -> dict:
        return {"state": Out(NCGState), **{name: In(1) for name in STATUS}}

    def elaborate(self, platform):
        cfg = self._params.config
        rstdp = cfg.method is Method.RSTDP
        regulated = (cfg.regulation in (Regulation.CR1, Regulation.CR2)
                     and cfg.class_map.n_targets >= 2)
        additive = self._params.effective_norm is WeightNorm.ADDITIVE
        s = NCGState
        m = Module()

        def go(state):
            m.d.sync += self.state.eq(state)

        def after_row(cond):
            with m.If(cond):
                go(s.CLEAR)
            with m.Else():
                go(s.SLOT_RD)

        with m.Switch(self.state):
            with m.Case(s.IDLE):
                with m.If(self.cmd_end):
                    go(s.FWD_START)
                with m.Elif(self.cmd_read):
                    go(s.READ)
            with m.Case(s.READ), m.If(self.read_done):
                go(s.IDLE)
            with m.Case(s.FWD_START):
                go(s.FWD_LOAD)
            with m.Case(s.FWD_LOAD):
                with m.If(self.run):
                    go(s.FWD_RUN)
                with m.Else():
                    go(s.FWD_DONE)
            with m.Case(s.FWD_RUN):
                with m.If(self.spike):
                    go(s.FWD_DONE)
                with m.Elif(self.end):
                    go(s.FWD_FINAL)
            with m.Case(s.FWD_FINAL):
                go(s.FWD_DONE)
            with m.Case(s.FWD_DONE):
                with m.If(self.finish):
                    with m.If(~self.train):
                        go(s.CLEAR)
                    if regulated:
                        with m.Elif(self.regulate):
                            go(s.REG_RD)
                    with m.Else():
                        go(s.ERR_START)
                with m.Elif(self.neuron_done):
                    go(s.FWD_START)
            with m.Case(s.REG_RD):
                go(s.REG_ADD)
            with m.Case(s.REG_ADD):
                go(s.REG_WR)
            with m.Case(s.REG_WR):
                with m.If(self.reg_last):
                    go(s.ERR_START)
                with m.Else():
                    go(s.REG_RD)
            with m.Case(s.ERR_START):
                if rstdp:
                    go(s.ROW_MUL)
                else:
                    with m.If(self.divide):
                        go(s.ERR_DIV)
                    with m.Else():
                        go(s.SLOT_RD)
            with m.Case(s.ERR_DIV), m.If(~self.div_busy):
                go(s.SLOT_RD)
            with m.Case(s.SLOT_RD):
                go(s.SLOT)
            with m.Case(s.SLOT):
                with m.If(self.error):
                    go(s.ROW_MUL)
                with m.Else():
                    after_row(self.last_slot)
            with m.Case(s.ROW_MUL):
                go(s.ROW_PROD)
            with m.Case(s.ROW_PROD):
                go(s.ROW_SHIFT)
            with m.Case(s.ROW_SHIFT):
                go(s.PRE if additive else s.UPD)
            with m.Case(s.PRE), m.If(self.pre_done):
                go(s.NORM_PROD)
            with m.Case(s.NORM_PROD):
                go(s.NORM)
            with m.Case(s.NORM):
                go(s.NORM_DIV)
            with m.Case(s.NORM_DIV), m.If(~self.div_busy):
                go(s.UPD)
            with m.Case(s.UPD), m.If(self.row_done):
                after_row(self.last_slot)
            with m.Case(s.CLEAR), m.If(self.clear_done):
                go(s.RESULT)
            with m.Case(s.RESULT), m.If(self.result_done):
                go(s.IDLE)
        return m
