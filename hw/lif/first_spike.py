"""First-spike decision top: the dense :class:`~spikesmith.hw.lif.network.Network` with the
"earliest output spike wins" rule in hardware and early termination of each sample.

The rule is ``sim.decision.OutputRule.FIRST_SPIKE``: at the first timestep with an output
spike, the spiking neuron with the larger membrane after reset wins, then the lower index; a
sample silent for ``T`` timesteps is decided as the count rule decides it (the larger final
membrane, then the lower index). The top folds the output core's readback records (one per
group of ``P`` lanes per timestep, ascending neuron order, membranes after reset and spike
bits) into the best ``(spiked, membrane)`` of the timestep, a strictly better record lane
replacing it (so ties keep the lower index), padding lanes skipped; the core sends a
timestep's output marker after its last record, so at the marker the timestep's best is known.

Control (one sample in the network at a time)::

    RUN    host words pass to the network; after the sample's last marker the input is held
           (the next sample waits). At each output marker: if a neuron spiked in that
           timestep, the decision is final: go to STOP; else at the last marker decide the
           silent sample (the cores start the next sample from zero by themselves).
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
from amaranth.lib.wiring import Out

from ..common.streams import index_bits, spike_event_layout
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
        last = config.cores[-1]
        members = self._net.signature.members
        ports = {
            "i": members["i"],
            "o": Out(stream.Signature(spike_event_layout(last.n_out), always_ready=True)),
            "decision": Out(stream.Signature(decision_layout(last.n_out, config.timesteps),
                                             always_ready=True)),
            "skip": Out(1),
            "samples_done": Out(32),
            "busy": Out(1),
        }
        ports.update({k: members[k] for k in members if k.startswith("readback_")})
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
        spiked, index = self._best_of_timestep(m, net)
        marker = net.o.valid & net.o.payload.eot
        accepted = self.i.valid & self.i.ready
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
                with m.If(marker & spiked):
                    m.d.sync += [hold.index.eq(index), hold.steps.eq(t_out + 1),
                                 hold.fired.eq(1), state.eq(_State.STOP)]
                with m.Elif(marker & net.o.payload.last):
                    m.d.comb += [self.decision.valid.eq(1), self.decision.payload.steps.eq(T),
                                 self.decision.payload.index.eq(index)]
                    m.d.sync += [t_out.eq(0), in_done.eq(0),
                                 self.samples_done.eq(self.samples_done + 1)]
                with m.Elif(marker):
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

    def _best_of_timestep(self, m: Module, net: Network) -> tuple:
        """Fold the output core's readback records of the current timestep into the best
        ``(spiked, membrane)`` lane (module docstring); restart at every output marker.
        Return ``(spiked, index)`` of the best, this cycle's record included."""
        last = self._config.cores[-1]
        rb = getattr(net, f"readback_{len(self._config.cores) - 1}")
        best_s, best_ok = Signal(), Signal()
        best_v = Signal(signed(last.lif.membrane.width))
        best_i = Signal(unsigned(index_bits(last.n_out)))
        cur_s, cur_v, cur_i, cur_ok = best_s, best_v, best_i, best_ok
        for j in range(last.lanes):
            idx = rb.payload.index + j
            real = rb.valid & (idx < last.n_out)
            s, v = rb.payload.spikes[j], rb.payload.membranes[j]
            better = (s & ~cur_s) | ((s == cur_s) & (v > cur_v))
            take = real & (~cur_ok | better)
            # one signal per lane and field: without them each lane's expression would copy
            # the previous lanes' twice (exponential in the lanes)
            nxt = (Signal.like(cur_s, name=f"best_s_{j}"), Signal.like(cur_v, name=f"best_v_{j}"),
                   Signal.like(cur_i, name=f"best_i_{j}"), Signal(name=f"best_ok_{j}"))
            m.d.comb += [nxt[0].eq(Mux(take, s, cur_s)), nxt[1].eq(Mux(take, v, cur_v)),
                         nxt[2].eq(Mux(take, idx, cur_i)), nxt[3].eq(cur_ok | real)]
            cur_s, cur_v, cur_i, cur_ok = nxt
        m.d.sync += [best_s.eq(cur_s), best_v.eq(cur_v), best_i.eq(cur_i), best_ok.eq(cur_ok)]
        with m.If(net.o.valid & net.o.payload.eot):
            m.d.sync += best_ok.eq(0)
        spiked, index = Signal(), Signal.like(best_i)
        m.d.comb += [spiked.eq(cur_ok & cur_s), index.eq(cur_i)]
        return spiked, index
