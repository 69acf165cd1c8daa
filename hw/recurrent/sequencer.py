"""Step sequencer of the recurrent core: the phases of a wake or sleep step, the sleep
episode's batches and early stop, and the dumps.

One step (``sim.recurrent_net`` stage order), each phase one item per cycle::

    INPUT       issue input i (its regs and pre words read; RateEncoder one cycle later)
    SWEEP       drive sweep (RowSweep), until it and the synapse pipeline have drained
    NEURON      issue neuron j (its words read; NeuronPipeline one cycle later); the decay
                unit's multipliers are lent meanwhile (``x_en``)
    SWEEP       learning sweep
    STEP_END    count the step; in sleep, a decay batch every ``period`` steps: a status
                record, then STOP_CHECK
    STOP_CHECK  one group per cycle: its sum (GroupSums ``probe``) against its early-stop
                level (a regs word); the episode stops when every sum is at most its level
                (``sim.sleep.sums_at_baseline``) or when the budget is used
    FINISH      the command's status record

``WAKE n`` runs ``n`` steps, ``SLEEP b`` one episode of budget ``b``; ``DUMP_WEIGHTS`` and
``DUMP_NEURONS`` read every weight or neuron word, one per cycle. The other commands are the
:class:`~spikesmith.hw.recurrent.command_decoder.CommandDecoder`'s; every command is taken
only in ``IDLE`` (``ready``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from spikesmith.sim.recurrent import SynapseGroup

from .recurrent_config import CorePart, RecurrentCoreConfig, memory_addr_bits
from .recurrent_streams import RecurrentOp, StatusEvent, recurrent_command_layout

__all__ = ["Sequencer"]


class Sequencer(CorePart):
    """The core's state machine (module docstring).

    Parameters
    ----------
    config : RecurrentCoreConfig
        Sizes (inputs, neurons, synapses, rows), the ``regs`` layout.

    Members
    -------
    command : In(recurrent_command_layout(command_items))
    valid : In(1)
        A command is offered.
    ready : Out(1)
        It is taken (``IDLE``).
    period : In(16)
        Steps per decay batch (run-time).
    level : In(reg_word_bits)
        The ``regs`` word at ``regs_addr`` of the last cycle (an early-stop level).
    probe_sum : In(widths["sum"])
        The sum of group ``probe`` (GroupSums).
    row : In(range(max(2, n_pre)))
        The sweep's row (its ``pre`` word is read during ``SWEEP``).
    sweep_done : In(1)
        The sweep has issued every row.
    learn : In(1)
        The sweep is the learning sweep.
    drained : In(1)
        No synapse is in the sweep's issue register, the synapse pipeline or the group sums.
    neuron_busy : In(1)
        A neuron is in N2..N4.
    sleeping : Out(1)
        The running command is ``SLEEP``.
    batch : Out(1)
        This sleep step ends a decay batch (a register: valid from the second cycle of a
        step).
    sweep_start, sweep_learn, sweep_run : Out(1)
        RowSweep ``start``, ``start_learn`` and ``run``.
    clear_any : Out(1)
        NeuronPipeline ``clear_any`` (after the drive sweep).
    x_en : Out(1)
        The neuron pass borrows the decay unit's multipliers.
    probe : Out(3)
        Group of ``probe_sum`` (used in the stop check; a stale group elsewhere).
    regs_addr, pre_addr, post_word_addr, neuron_addr, acc_addr, weight_addr : Out
        Read addresses of ``regs``, ``pre`` (both ports), ``neurons``, ``acc``, ``weights``
        (0 where this unit reads nothing).
    i_valid, i_index : Out
        Input ``i_index``'s words are on the read ports.
    n_valid, n_index : Out
        Neuron ``n_index``'s words are on the read ports (a step).
    nd_valid, nd_index : Out
        Neuron ``nd_index``'s words are on the read ports (``DUMP_NEURONS``).
    wd_valid, wd_index : Out
        Weight ``wd_index`` is on the read port (``DUMP_WEIGHTS``).
    status_valid : Out(1)
    status_event : Out(2)
        A ``StatusEvent``.
    status_steps : Out(32)
    status_stopped : Out(1)
        The status record's fields (``status_record_layout``; the sums are GroupSums').
    busy : Out(1)
        A command is running or a dump record is in flight.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        p, s_n = config.net.neuron, config.n_syn
        inputs, neurons, syn = range(p.n_input + 1), range(p.n_post + 1), range(s_n + 1)
        return {
            "command": In(recurrent_command_layout(config.command_items)),
            "valid": In(1), "ready": Out(1),
            "period": In(16), "level": In(config.reg_word_bits),
            "probe_sum": In(config.widths["sum"]),
            "row": In(range(max(2, p.n_pre))), "sweep_done": In(1), "learn": In(1),
            "drained": In(1),
            "neuron_busy": In(1),
            "sleeping": Out(1), "batch": Out(1),
            "sweep_start": Out(1), "sweep_learn": Out(1), "sweep_run": Out(1),
            "clear_any": Out(1), "x_en": Out(1), "probe": Out(3),
            "regs_addr": Out(memory_addr_bits(config.stop_base + len(SynapseGroup))),
            "pre_addr": Out(memory_addr_bits(p.n_pre)),
            "post_word_addr": Out(memory_addr_bits(p.n_pre)),
            "neuron_addr": Out(memory_addr_bits(p.n_post)),
            "acc_addr": Out(memory_addr_bits(p.n_post)),
            "weight_addr": Out(memory_addr_bits(s_n)),
            "i_valid": Out(1), "i_index": Out(inputs),
            "n_valid": Out(1), "n_index": Out(neurons),
            "nd_valid": Out(1), "nd_index": Out(neurons),
            "wd_valid": Out(1), "wd_index": Out(syn),
            "status_valid": Out(1), "status_event": Out(2), "status_steps": Out(32),
            "status_stopped": Out(1),
            "busy": Out(1),
        }

    def elaborate(self, platform):
        cfg = self._config
        p, s_n, n_groups = cfg.net.neuron, cfg.n_syn, len(SynapseGroup)
        n_in, n_post, stop_base = p.n_input, p.n_post, cfg.stop_base
        cmd, sleeping = self.command, self.sleeping
        m = Module()

        count = Signal(32)        # steps of the current command done
        left = Signal(32)         # steps still to run (asked, or the sleep budget)
        phase_k = Signal(16)
        # registered (the comparison is not in the sweep's decisions): phase_k, sleeping
        # and period change in IDLE and STEP_END only, and batch is used in STEP_END and
        # the sweeps, never in the cycle after such a change
        m.d.sync += self.batch.eq(sleeping & (phase_k == self.period - 1))
        stopped = Signal()
        # early stop: after a decay batch the five sums are compared with the stop levels
        # (block RAM words after the LFSR registers) one per cycle, on one comparator
        cg = Signal(range(n_groups + 2))
        cg_prev = Signal(3)       # cg one cycle late (a register, not a decrement, selects)
        at_baseline = Signal()
        ii, nj, kd = Signal(range(n_in + 1)), Signal(range(n_post + 1)), Signal(range(s_n + 1))
        i1_valid, i1_i = self.i_valid, self.i_index
        n1_valid, n1_j = self.n_valid, self.n_index
        nd_valid, nd_j = self.nd_valid, self.nd_index
        d_valid, d_k = self.wd_valid, self.wd_index
        m.d.comb += self.status_steps.eq(count)
        # issue stages default to idle; the states below override (last assignment wins)
        m.d.sync += [i1_valid.eq(0), n1_valid.eq(0), d_valid.eq(0), nd_valid.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.ready.eq(1)
                with m.If(self.valid), m.Switch(cmd.op):
                    with m.Case(RecurrentOp.WAKE, RecurrentOp.SLEEP):
                        m.d.sync += [sleeping.eq(cmd.op == RecurrentOp.SLEEP),
                                     count.eq(0), left.eq(cmd.value), phase_k.eq(0),
                                     stopped.eq(0), ii.eq(0)]
                        with m.If(cmd.value == 0):
                            m.next = "FINISH"
                        with m.Else():
                            m.next = "INPUT"
                    with m.Case(RecurrentOp.DUMP_WEIGHTS):
                        m.d.sync += kd.eq(0)
                        if s_n:
                            m.next = "DUMP"
                    with m.Case(RecurrentOp.DUMP_NEURONS):
                        m.d.sync += nj.eq(0)
                        m.next = "NEURON_DUMP"

            with m.State("INPUT"):
                m.d.comb += [self.regs_addr.eq(ii), self.pre_addr.eq(ii)]
                m.d.sync += [i1_valid.eq(ii < n_in), i1_i.eq(ii)]
                with m.If(ii < n_in):
                    m.d.sync += ii.eq(ii + 1)
                with m.Elif(~i1_valid):
                    m.d.comb += self.sweep_start.eq(1)
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                m.d.comb += [self.pre_addr.eq(self.row), self.sweep_run.eq(1)]
                with m.If(self.sweep_done & self.drained):
                    with m.If(self.learn):
                        m.next = "STEP_END"
                    with m.Else():
                        m.d.sync += nj.eq(0)
                        m.d.comb += self.clear_any.eq(1)
                        m.next = "NEURON"

            with m.State("NEURON"):
                m.d.comb += [self.x_en.eq(1), self.neuron_addr.eq(nj), self.acc_addr.eq(nj),
                             self.regs_addr.eq(n_in + nj), self.post_word_addr.eq(n_in + nj)]
                m.d.sync += [n1_valid.eq(nj < n_post), n1_j.eq(nj)]
                with m.If(nj < n_post):
                    m.d.sync += nj.eq(nj + 1)
                with m.Elif(~n1_valid & ~self.neuron_busy):
                    m.d.comb += [self.sweep_start.eq(1), self.sweep_learn.eq(1)]
                    m.next = "SWEEP"

            with m.State("STEP_END"):
                m.d.sync += [count.eq(count + 1), left.eq(left - 1)]
                with m.If(sleeping):
                    m.d.sync += phase_k.eq(Mux(self.batch, 0, phase_k + 1))
                    m.d.comb += [self.status_valid.eq(self.batch),
                                 self.status_event.eq(StatusEvent.BATCH),
                                 self.status_steps.eq(count + 1)]
                with m.If(sleeping & self.batch):
                    m.d.sync += [cg.eq(0), at_baseline.eq(1)]
                    m.next = "STOP_CHECK"
                with m.Elif(left == 1):
                    m.next = "FINISH"
                with m.Else():
                    m.d.sync += ii.eq(0)
                    m.next = "INPUT"

            with m.State("STOP_CHECK"):
                # level of group cg fetched, group cg - 1 compared (cg = 1..n_groups), and the
                # decision taken one cycle later from the registered result
                m.d.comb += self.regs_addr.eq(stop_base + Mux(cg < n_groups, cg, 0))
                m.d.sync += [cg.eq(cg + 1), cg_prev.eq(cg)]
                with m.If((cg != 0) & (cg <= n_groups) & (self.probe_sum > self.level)):
                    m.d.sync += at_baseline.eq(0)
                with m.If(cg == n_groups + 1):
                    with m.If(at_baseline):
                        m.d.sync += stopped.eq(left != 0)
                        m.next = "FINISH"
                    with m.Elif(left == 0):
                        m.next = "FINISH"
                    with m.Else():
                        m.d.sync += ii.eq(0)
                        m.next = "INPUT"

            with m.State("FINISH"):
                m.d.comb += [self.status_valid.eq(1), self.status_stopped.eq(stopped),
                             self.status_event.eq(Mux(sleeping, StatusEvent.EPISODE,
                                                      StatusEvent.WAKE))]
                m.next = "IDLE"

            with m.State("NEURON_DUMP"):
                m.d.comb += [self.neuron_addr.eq(nj), self.post_word_addr.eq(n_in + nj)]
                m.d.sync += [nd_valid.eq(nj < n_post), nd_j.eq(nj)]
                with m.If(nj < n_post):
                    m.d.sync += nj.eq(nj + 1)
                with m.Else():
                    m.next = "IDLE"

            with m.State("DUMP"):
                m.d.comb += self.weight_addr.eq(kd)
                m.d.sync += [d_valid.eq(1), d_k.eq(kd), kd.eq(kd + 1)]
                with m.If(kd == s_n - 1):
                    m.next = "IDLE"

        # the probe follows cg_prev in every state (not decoded from the state: the stop
        # check's comparison starts at a register); outside the stop check it is unused
        m.d.comb += [self.busy.eq(~self.ready | d_valid | nd_valid), self.probe.eq(cg_prev)]
        return m
