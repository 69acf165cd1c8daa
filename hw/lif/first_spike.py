"""First-spike decision top: the dense :class:`~spikesmith.hw.lif.network.Network` with the
"earliest output spike wins" rule in hardware and early termination of each sample.

The rule is ``sim.decision.OutputRule.FIRST_SPIKE``: the first output spike event of a sample
is the decision. The cores emit a timestep's spikes in ascending neuron order, so the first
event is the lowest index among the neurons that fire at the earliest timestep: the tie break
costs nothing. A sample whose output layer stays silent for ``T`` timesteps is decided as the
count rule decides it (all counts 0): the larger final membrane, then the lower index. The top
keeps that argmax over the output core's readback records (``P`` lanes a record, ascending
neuron order, a strictly larger membrane replaces the best) and restarts it at every output
marker, so at the sample's last marker it holds the last timestep's.

Control (one sample in the network at a time)::

    RUN    host words pass to the network; after the sample's last marker the input is held
           (the next sample waits). Output markers count timesteps. The first output spike
           ends the sample early: go to STOP. The output's last marker without a spike
           ends it as silent (the cores start the next sample from zero by themselves).
    STOP   input held; wait until the network is idle (pipelines and links drained, later
           output events dropped), then pulse ``clear`` (every core zeroes its membranes).
    WAIT   wait until the clear is done; emit the decision; then SKIP (or RUN when the host
           had already sent the sample's last marker).
    SKIP   accept and drop host words through the sample's last marker, one per cycle (a
           host that watches ``skip`` may drop them itself), then RUN.

The decision stream (always ready) carries one word per sample: ``index`` (class), ``steps``
(timesteps the sample needed, ``t* + 1``, or ``T`` when silent) and ``fired``.
"""

from __future__ import annotations

import enum

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..common.streams import (
    current_event_layout,
    index_bits,
    membrane_readback_layout,
    spike_event_layout,
)
from .config import NetworkConfig
from .network import Network

__all__ = ["FirstSpikeNetwork", "decision_layout"]


def decision_layout(n_out: int, timesteps: int) -> data.StructLayout:
    """Return the layout of a decision word: ``index`` (class of ``n_out``), ``steps``
    (``1 .. timesteps``) and ``fired``, LSB first."""
    return data.StructLayout({
        "index": unsigned(index_bits(n_out)),
        "steps": unsigned(max(1, int(timesteps).bit_length())),
        "fired": unsigned(1),
    })


class _State(enum.IntEnum):
    RUN = 0
    STOP = 1
    WAIT = 2
    SKIP = 3


class FirstSpikeNetwork(wiring.Component):
    """A dense network whose top decides by the first output spike and stops the sample.

    Parameters
    ----------
    config : NetworkConfig
        The cores (see :class:`~spikesmith.hw.lif.network.Network`).

    Members
    -------
    i : In(stream.Signature(event))
        Layer-0 input events and markers, as for ``Network``.
    decision : Out(stream.Signature(decision_layout(n_out, T), always_ready=True))
        One word per sample (module docstring).
    o : Out(stream.Signature(spike_event_layout(n_out), always_ready=True))
        The output layer's spikes and markers as the network emits them (observation: also
        the events after a decision, until the stop).
    readback_<l> : Out(stream.Signature(membrane_readback_layout(...), always_ready=True))
        Membrane and spike readback of layer ``l``, as ``Network``'s.
    skip : Out(1)
        High while the top drops the rest of a decided sample's input.
    samples_done : Out(32)
        Decisions emitted so far.
    busy : Out(1)
        High while the network has work in flight or a sample is being stopped.

    Raises
    ------
    TypeError, ValueError
        As ``Network``.
    """

    def __init__(self, config: NetworkConfig):
        self._net = Network(config)
        self._config = config
        first, last = config.cores[0], config.cores[-1]
        in_layout = (spike_event_layout(first.n_in) if first.input_bits == 1
                     else current_event_layout(first.n_in, first.input_bits))
        ports = {
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(spike_event_layout(last.n_out), always_ready=True)),
            "decision": Out(stream.Signature(decision_layout(last.n_out, config.timesteps),
                                             always_ready=True)),
            "skip": Out(1),
            "samples_done": Out(32),
            "busy": Out(1),
        }
        for idx, core in enumerate(config.cores):
            ports[f"readback_{idx}"] = Out(stream.Signature(
                membrane_readback_layout(core.n_out, membrane_bits=core.lif.membrane.width,
                                         lanes=core.lanes),
                always_ready=True))
        super().__init__(ports)

    @property
    def config(self) -> NetworkConfig:
        """The configuration the network was built from."""
        return self._config

    def elaborate(self, platform):
        m = Module()
        m.submodules.network = net = self._net
        T = self._config.timesteps
        state = Signal(_State, init=_State.RUN)
        in_done = Signal()      # the host's last marker of this sample went into the network
        t_out = Signal(range(T + 1))
        hold = Signal.like(self.decision.payload)
        o = net.o.payload
        accepted = self.i.valid & self.i.ready
        best = self._membrane_argmax(m, net)
        m.d.comb += [self.o.valid.eq(net.o.valid), self.o.payload.eq(net.o.payload)]
        for idx in range(len(self._config.cores)):
            mine, theirs = getattr(self, f"readback_{idx}"), getattr(net, f"readback_{idx}")
            m.d.comb += [mine.valid.eq(theirs.valid), mine.payload.eq(theirs.payload)]
        m.d.comb += [net.o.ready.eq(1), net.i.payload.eq(self.i.payload),
                     self.skip.eq(state == _State.SKIP),
                     self.busy.eq(net.busy | (state != _State.RUN) | in_done)]

        with m.Switch(state):
            with m.Case(_State.RUN):
                m.d.comb += [net.i.valid.eq(self.i.valid & ~in_done),
                             self.i.ready.eq(net.i.ready & ~in_done)]
                with m.If(accepted & self.i.payload.eot & self.i.payload.last):
                    m.d.sync += in_done.eq(1)
                with m.If(net.o.valid & ~o.eot):
                    m.d.sync += [hold.index.eq(o.index), hold.steps.eq(t_out + 1),
                                 hold.fired.eq(1), state.eq(_State.STOP)]
                with m.Elif(net.o.valid & o.last):
                    m.d.comb += [self.decision.valid.eq(1), self.decision.payload.steps.eq(T),
                                 self.decision.payload.index.eq(best)]
                    m.d.sync += [t_out.eq(0), in_done.eq(0),
                                 self.samples_done.eq(self.samples_done + 1)]
                with m.Elif(net.o.valid):
                    m.d.sync += t_out.eq(t_out + 1)
            with m.Case(_State.STOP), m.If(~net.busy):
                m.d.comb += net.clear.eq(1)
                m.d.sync += state.eq(_State.WAIT)
            with m.Case(_State.WAIT), m.If(~net.busy):
                m.d.comb += [self.decision.valid.eq(1), self.decision.payload.eq(hold)]
                m.d.sync += [t_out.eq(0), in_done.eq(0),
                             self.samples_done.eq(self.samples_done + 1),
                             state.eq(_State.RUN)]
                with m.If(~in_done):
                    m.d.sync += state.eq(_State.SKIP)
            with m.Case(_State.SKIP):
                m.d.comb += self.i.ready.eq(1)
                with m.If(accepted & self.i.payload.eot & self.i.payload.last):
                    m.d.sync += state.eq(_State.RUN)
        return m

    def _membrane_argmax(self, m: Module, net: Network) -> Signal:
        """Fold the output core's readback records into the index of the largest membrane
        (lower index on ties, padding lanes skipped); restart at every output marker. Return
        the index register."""
        last = self._config.cores[-1]
        rb = getattr(net, f"readback_{len(self._config.cores) - 1}")
        best_v = Signal(signed(last.lif.membrane.width))
        best_i = Signal(unsigned(index_bits(last.n_out)))
        best_ok = Signal()
        cur_v, cur_i, cur_ok = best_v, best_i, best_ok
        for j in range(last.lanes):
            idx = rb.payload.index + j
            real = idx < last.n_out
            v = rb.payload.membranes[j]
            take = real & (~cur_ok | (v > cur_v))
            cur_v, cur_i, cur_ok = Mux(take, v, cur_v), Mux(take, idx, cur_i), cur_ok | real
        with m.If(rb.valid):
            m.d.sync += [best_v.eq(cur_v), best_i.eq(cur_i), best_ok.eq(cur_ok)]
        with m.If(net.o.valid & net.o.payload.eot):
            m.d.sync += best_ok.eq(0)
        return best_i
