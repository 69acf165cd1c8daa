"""Network top level: a chain of :class:`~spikesmith.hw.lif.lif_core.LIFCore` generated from a
``NetworkConfig``.

Core ``l``'s output spike stream feeds core ``l+1``'s input (same layout) through a register
slice (a two-entry skid buffer: full throughput, one cycle of latency, every ``valid``,
``ready`` and payload bit between the cores registered, so no combinational path crosses from
one core into the next). Layer ``l+1`` integrates the spikes of timestep ``t`` while layer ``l``
is still emitting them, which is the ``sim.network`` semantics (layer ``l`` at timestep ``t``
consumes layer ``l-1``'s spikes of the same timestep).

Host protocol: send layer-0 events on ``i`` (one per non-zero input, then an end-of-timestep
marker per timestep; ``last`` on the sample's final marker, see
:mod:`spikesmith.hw.common.streams`);
read the output layer's spikes and markers on ``o``. A sample is done when ``o`` carries the
marker with ``last = 1``; ``samples_done`` counts such markers. Membrane readback of every layer
comes out on the always-ready ``readback_<l>`` streams.
"""

from __future__ import annotations

import itertools

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..common.streams import (
    current_event_layout,
    membrane_readback_layout,
    register_slice,
    spike_event_layout,
)
from .config import NetworkConfig
from .lif_core import LIFCore

__all__ = ["Network", "finish_network"]


def finish_network(m: Module, top: wiring.Component, cores: list, busy) -> None:
    """Wire the last core's ``o`` to ``top.o``, each core's ``readback`` to
    ``top.readback_<l>`` and ``top.clear`` to every core; drive ``top.busy`` from ``busy`` (the
    links' occupancy) and the cores' ``busy``; count ``top.samples_done``. Shared by the dense
    network and :class:`spikesmith.hw.conv.conv_network.ConvNetwork`."""
    wiring.connect(m, cores[-1].o, wiring.flipped(top.o))
    for idx, core in enumerate(cores):
        rb = getattr(top, f"readback_{idx}")
        m.d.comb += [rb.valid.eq(core.readback.valid), rb.payload.eq(core.readback.payload)]
        m.d.comb += core.clear.eq(top.clear)
        busy = busy | core.busy
    m.d.comb += top.busy.eq(busy)

    with m.If(top.o.valid & top.o.ready & top.o.payload.eot & top.o.payload.last):
        m.d.sync += top.samples_done.eq(top.samples_done + 1)


class Network(wiring.Component):
    """Chain of LIF layer cores with a streaming host interface.

    Parameters
    ----------
    config : NetworkConfig
        Cores in layer order; only the first may take direct-current (``input_bits == 8``)
        input.

    Members
    -------
    i : In(stream.Signature(event))
        Layer-0 input events and end-of-timestep markers.
    o : Out(stream.Signature(spike_event_layout(n_out)))
        Output-layer spikes and markers.
    readback_<l> : Out(stream.Signature(membrane_readback_layout(...), always_ready=True))
        Membrane and spike readback of layer ``l``.
    clear : In(1)
        Pulse while idle to start the next sample from zero membranes (not needed after a
        ``last`` marker).
    samples_done : Out(32)
        Number of output markers with ``last = 1`` so far.
    busy : Out(1)
        High while any core has work in flight.

    Raises
    ------
    TypeError
        If ``config`` is not a ``NetworkConfig``.
    ValueError
        If the cores do not chain or a hidden core expects direct-current input.
    """

    def __init__(self, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"config must be a NetworkConfig, not {config!r}")
        if not config.cores:
            raise ValueError("config must have at least one core, not 0")
        for a, b in zip(config.cores, config.cores[1:], strict=False):
            if a.n_out != b.n_in:
                raise ValueError(
                    f"core {b.name!r} must have {a.n_out} inputs (the outputs of {a.name!r}),"
                    f" not {b.n_in}")
            if b.input_bits != 1:
                raise ValueError(
                    f"core {b.name!r} must take spike input (input_bits 1) since it follows"
                    f" {a.name!r}, not input_bits {b.input_bits}")
        self._config = config
        first, last = config.cores[0], config.cores[-1]
        if first.input_bits == 1:
            in_layout = spike_event_layout(first.n_in)
        else:
            in_layout = current_event_layout(first.n_in, first.input_bits)
        ports = {
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(spike_event_layout(last.n_out))),
            "clear": In(1),
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
        cores = []
        for idx, cfg in enumerate(self._config.cores):
            core = LIFCore(cfg)
            m.submodules[f"core{idx}_{cfg.name}"] = core
            cores.append(core)

        wiring.connect(m, wiring.flipped(self.i), cores[0].i)
        busy = 0
        for idx, (a, b) in enumerate(itertools.pairwise(cores)):
            busy = busy | register_slice(m, a.o, b.i, f"link{idx}")
        finish_network(m, self, cores, busy)
        return m
