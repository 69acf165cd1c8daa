"""Forward pass of the NCG learning core: integration and first-spike decision, per neuron.

Neuron by neuron (``j = 0 .. N-1``), :func:`spikesmith.sim.ncg.forward` with the threshold
mux of :func:`spikesmith.sim.ncg_learning.training_thresholds` and the dropout of
:func:`spikesmith.sim.ncg_learning.train_step`:

``FWD_START``
    Read the test and training thresholds of ``j``.
``FWD_LOAD``
    Pick the threshold (training ``θ̃`` for CR-1, or for CR-2 on the target neurons of the
    label; else ``θ``), track the minimum test threshold (the CR-2 floor), draw the dropout
    bits; a dropped neuron, or an empty sample, goes straight to ``FWD_DONE``.
``FWD_RUN``
    A 3-stage pipeline replays the event list at one event per cycle: event read, weight
    read, accumulate. At each bin change the threshold is compared first (strict ``>``), and
    the neuron stops at its first spike.
``FWD_FINAL``
    The check after the last bin.
``FWD_DONE``
    Once the neuron is committed (its trace record taken), move to neuron ``j + 1``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg import NCGParams
from spikesmith.sim.ncg_types import Regulation

from . import buses
from .memories import NCGMemory, memory_geometry
from .sequencer import NCGState

__all__ = ["NCGForward"]


class NCGForward(buses.NCGUnit):
    """Integrate-and-fire pass over the sample's events for one neuron after the other.

    Parameters
    ----------
    params : NCGParams
        Core parameters (class map, regulation mode, dropout, lanes).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    state : In(NCGState)
        The sequencer state; the unit acts in ``FWD_*``.
    ctl : In(buses.control(params))
        ``train``, ``label``, ``n_events``.
    start : In(1)
        ``IDLE``: restart at neuron 0 (the ``END`` command).
    step : In(1)
        ``FWD_DONE``: the neuron is committed; go to the next.
    theta_rd, theta_train_rd, events_rd, weights_rd : Out(read request)
        Threshold reads (``FWD_START``, ``FWD_LOAD``), event and weight reads (``FWD_RUN``).
    dropout_draw : In(LFSR24.draw_bits)
        The dropout register's draw (:class:`~spikesmith.hw.ncg.lanes.NCGLanes`).
    dropout_step : Out(1)
        Step the dropout register (``FWD_LOAD`` in training, when ``config.dropout > 0``).
    neuron : Out(buses.neuron(params))
        Neuron ``j``, its group position and class; its bin and potential in ``FWD_DONE``.
    theta_min : Out(signed(threshold))
        Minimum test threshold of the neurons loaded so far (all of them after the pass).
    run, spike, end, finish : Out(1)
        Status strobes (:data:`~spikesmith.hw.ncg.sequencer.STATUS`).
    """

    def members(self, params: NCGParams) -> dict:
        geo = memory_geometry(params)
        return {
            "state": In(NCGState),
            "ctl": In(buses.control(params)),
            "start": In(1), "step": In(1),
            "theta_rd": Out(geo[NCGMemory.THETA].read_request()),
            "theta_train_rd": Out(geo[NCGMemory.THETA_TRAIN].read_request()),
            "events_rd": Out(geo[NCGMemory.EVENTS].read_request()),
            "weights_rd": Out(geo[NCGMemory.WEIGHTS].read_request()),
            "dropout_draw": In(LFSR24.draw_bits), "dropout_step": Out(1),
            "neuron": Out(buses.neuron(params)),
            "theta_min": Out(signed(self._w.threshold)),
            "run": Out(1), "spike": Out(1), "end": Out(1), "finish": Out(1),
        }

    def elaborate(self, platform):
        prm, wd, s = self._params, self._w, NCGState
        cm = prm.config.class_map
        g_n = wd.groups
        m = Module()
        nrn = self.neuron
        j, pos, grp = nrn.index, nrn.position, nrn.group
        wbase = Signal(range(max(2, cm.n_neurons * g_n + 1)))
        pipe = _Pipeline(prm, wd)

        with m.Switch(self.state):
            with m.Case(s.IDLE), m.If(self.start):
                m.d.sync += [j.eq(0), pos.eq(0), grp.eq(0), wbase.eq(0)]
            with m.Case(s.FWD_START):
                # threshold reads of neuron j are in flight
                m.d.comb += [self.theta_rd.addr.eq(j), self.theta_train_rd.addr.eq(j)]
            with m.Case(s.FWD_LOAD):
                self._load(m, pipe)
            with m.Case(s.FWD_RUN):
                self._run(m, pipe, wbase)
            with m.Case(s.FWD_FINAL):
                m.d.sync += [nrn.bin.eq(Mux(pipe.v > pipe.thr, pipe.prev_bin, prm.time_bins)),
                             nrn.potential.eq(pipe.v)]
            with m.Case(s.FWD_DONE), m.If(self.step):
                m.d.comb += self.finish.eq(j == cm.n_neurons - 1)
                m.d.sync += [j.eq(j + 1), wbase.eq(wbase + g_n)]
                with m.If(pos == cm.neurons_per_class - 1):
                    m.d.sync += [pos.eq(0), grp.eq(grp + 1)]
                with m.Else():
                    m.d.sync += pos.eq(pos + 1)
        return m

    def _load(self, m, pipe):
        """``FWD_LOAD``: threshold, minimum threshold, pipeline reset, dropout."""
        prm, nrn, ctl = self._params, self.neuron, self.ctl
        cm = prm.config.class_map
        reg_mode = prm.config.regulation
        j = nrn.index
        m.d.comb += [self.theta_rd.addr.eq(j), self.theta_train_rd.addr.eq(j)]
        theta, theta_t, thr_min = self.theta_rd.data, self.theta_train_rd.data, self.theta_min
        if reg_mode is Regulation.CR2:
            use_t = ctl.train & (nrn.group == ctl.label) & (nrn.position >= cm.n_nontarget)
        elif reg_mode is Regulation.CR1:
            use_t = ctl.train
        else:
            use_t = Const(0, 1)
        m.d.sync += [pipe.thr.eq(Mux(use_t, theta_t, theta)),
                     thr_min.eq(Mux((j == 0) | (theta < thr_min), theta, thr_min)),
                     pipe.v.eq(0), pipe.have_prev.eq(0), pipe.issue.eq(0),
                     pipe.s1_valid.eq(0), pipe.s2_valid.eq(0), nrn.bin.eq(prm.time_bins),
                     nrn.potential.eq(0)]
        active = Signal()
        if prm.config.dropout > 0:
            m.d.comb += [self.dropout_step.eq(ctl.train),
                         active.eq(~ctl.train | (self.dropout_draw >= prm.dropout))]
        else:
            m.d.comb += active.eq(1)
        m.d.comb += self.run.eq(active & (ctl.n_events != 0))

    def _run(self, m, pipe, wbase):
        """``FWD_RUN``: event read, weight read, accumulate with the spike check."""
        wd, nrn, n_events = self._w, self.neuron, self.ctl.n_events
        lp = self._params.lanes.bit_length() - 1
        # stage 0: event read
        m.d.comb += self.events_rd.addr.eq(pipe.issue)
        with m.If(pipe.issue < n_events):
            m.d.sync += [pipe.issue.eq(pipe.issue + 1), pipe.s1_valid.eq(1),
                         pipe.s1_last.eq(pipe.issue == n_events - 1)]
        with m.Else():
            m.d.sync += pipe.s1_valid.eq(0)
        # stage 1: weight read
        e_feat = self.events_rd.data[:wd.feature]
        e_bin = self.events_rd.data[wd.feature:]
        m.d.comb += self.weights_rd.addr.eq(wbase + (e_feat >> lp))
        m.d.sync += [pipe.s2_valid.eq(pipe.s1_valid), pipe.s2_last.eq(pipe.s1_last),
                     pipe.s2_bin.eq(e_bin)]
        if lp:
            m.d.sync += pipe.s2_lane.eq(e_feat[:lp])
        # stage 2: accumulate, threshold check at bin changes
        w_data = self.weights_rd.data
        w_ev = w_data.word_select(pipe.s2_lane, wd.weight) if lp else w_data[:wd.weight]
        with m.If(pipe.s2_valid):
            with m.If(pipe.have_prev & (pipe.s2_bin != pipe.prev_bin) & (pipe.v > pipe.thr)):
                m.d.sync += [nrn.bin.eq(pipe.prev_bin), nrn.potential.eq(pipe.v)]
                m.d.comb += self.spike.eq(1)
            with m.Else():
                m.d.sync += [pipe.v.eq(pipe.v + w_ev), pipe.prev_bin.eq(pipe.s2_bin),
                             pipe.have_prev.eq(1)]
                m.d.comb += self.end.eq(pipe.s2_last)


class _Pipeline:
    """Registers of one neuron's integration: threshold, potential, last bin, the event
    counter and the two pipeline stages."""

    def __init__(self, params: NCGParams, wd) -> None:
        lp = params.lanes.bit_length() - 1
        self.thr = Signal(signed(wd.threshold), name="thr")
        self.v = Signal(wd.potential, name="v")
        self.prev_bin = Signal(wd.bin, name="prev_bin")
        self.have_prev = Signal(name="have_prev")
        self.issue = Signal(range(params.config.n_inputs + 1), name="issue")
        self.s1_valid, self.s1_last = Signal(name="s1_valid"), Signal(name="s1_last")
        self.s2_valid, self.s2_last = Signal(name="s2_valid"), Signal(name="s2_last")
        self.s2_lane = Signal(max(1, lp), name="s2_lane")
        self.s2_bin = Signal(wd.bin, name="s2_bin")
