"""Network top level of conv and dense cores, generated from a :class:`ConvNetworkConfig`.

Core ``l``'s output events feed core ``l+1`` through a register slice
(:func:`spikesmith.hw.common.streams.register_slice`), as in the dense network
(:mod:`spikesmith.hw.lif.network`); between the last conv core and the first dense core a
:class:`~.flatten.Flatten` turns ``(c, y, x)`` into the channel-major index of ``sim.conv``.
Layer ``l+1`` integrates the spikes of timestep ``t`` while layer ``l`` still emits them, the
``sim.network`` semantics. After a conv core the link also holds a FIFO of up to
``LINK_FIFO_DEPTH`` events (:class:`~.link_fifo.LinkFifo`): the next core spends several
cycles on each event (``K*K*G`` for a conv core, ``G`` for a dense one), so without it the
conv core would wait, its neuron pass stalled, until the next core had taken almost every
spike of the timestep, and only then accumulate the next timestep; with it both work at once
(``docs/conv_core.md``: 14 % fewer cycles on the mnist5k conv network with the first FIFO).

Host protocol (that of the dense network): layer-0 events on ``i`` (feature events
``(c, y, x)`` when the first core is a conv core), one end-of-timestep marker per timestep,
``last`` on the sample's final one; the output layer's spikes and markers on ``o``;
``samples_done`` counts output markers with ``last = 1``; each core's readback on
``readback_<l>``.
"""

from __future__ import annotations

import itertools

from amaranth.hdl import Module, Shape
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..common.streams import register_slice
from ..lif.lif_core import LIFCore
from ..lif.network import finish_network
from .config import ConvCoreConfig
from .conv_core import ConvCore
from .flatten import Flatten
from .link_fifo import LinkFifo
from .network_config import ConvNetworkConfig

__all__ = ["LINK_FIFO_DEPTH", "ConvNetwork"]

#: Most words of the FIFO memory after a conv core (a power of two; the FIFO holds one more in
#: its output register, the link's register slice another). On the mnist5k conv network (first
#: 20 test images, Verilator) 256 costs 0.07 % more cycles than 1 024 (279 940 against 279 740
#: per sample) and 64 costs 18 % (330 936); 256 events of 14 and 11 bits fit LUT RAM (about
#: 470 and 360 LUT4) where 1 024 took a DP16KD each.
LINK_FIFO_DEPTH = 256


def _core(config):
    return ConvCore(config) if isinstance(config, ConvCoreConfig) else LIFCore(config)


def _fifo_depth(config: ConvCoreConfig) -> int:
    """Entries of the FIFO after a conv core: room for a whole timestep's output (every
    emitted position, then the marker), rounded up to a power of two, at most
    ``LINK_FIFO_DEPTH``."""
    c, h, w = config.emit_shape
    return min(LINK_FIFO_DEPTH, 1 << (c * h * w).bit_length())


def _fifo_link(m: Module, src, name: str, *, depth: int):
    """Put a FIFO of ``depth`` events after stream ``src``; return its output stream and a
    signal high while it holds an event."""
    layout = src.payload.shape()
    m.submodules[name] = fifo = LinkFifo(width=Shape.cast(layout).width, depth=depth)
    out = stream.Signature(layout).create(path=(name, "o"))
    m.d.comb += [fifo.w_data.eq(src.payload), fifo.w_en.eq(src.valid), src.ready.eq(fifo.w_rdy),
                 out.payload.eq(fifo.r_data), out.valid.eq(fifo.r_rdy), fifo.r_en.eq(out.ready)]
    return out, fifo.r_rdy | (fifo.level != 0)


class ConvNetwork(wiring.Component):
    """Chain of conv cores and dense cores with a streaming host interface.

    Parameters
    ----------
    config : ConvNetworkConfig
        Cores in layer order.

    Members
    -------
    i : In(stream.Signature(event))
        Layer-0 input events and end-of-timestep markers (the first core's ``i``).
    o : Out(stream.Signature(event))
        Output-layer spikes and markers (the last core's ``o``).
    readback_<l> : Out(stream.Signature(..., always_ready=True))
        Membrane and spike readback of core ``l`` (the core's ``readback``).
    clear : In(1)
        Pulse while idle to start the next sample from zero membranes (not needed after a
        ``last`` marker).
    samples_done : Out(32)
        Number of output markers with ``last = 1`` so far.
    busy : Out(1)
        High while any core or link has work in flight.

    Raises
    ------
    TypeError
        If ``config`` is not a ``ConvNetworkConfig``.
    """

    def __init__(self, config: ConvNetworkConfig):
        if not isinstance(config, ConvNetworkConfig):
            raise TypeError(f"config must be a ConvNetworkConfig, not {config!r}")
        self._config = config
        self._cores = [_core(c) for c in config.cores]
        first, last = self._cores[0], self._cores[-1]
        ports = {
            "i": In(stream.Signature(first.i.payload.shape())),
            "o": Out(stream.Signature(last.o.payload.shape())),
            "clear": In(1),
            "samples_done": Out(32),
            "busy": Out(1),
        }
        for idx, core in enumerate(self._cores):
            ports[f"readback_{idx}"] = Out(stream.Signature(core.readback.payload.shape(),
                                                            always_ready=True))
        super().__init__(ports)

    @property
    def config(self) -> ConvNetworkConfig:
        """The configuration the network was built from."""
        return self._config

    def elaborate(self, platform):
        """Instantiate the cores, link them (flatten between conv and dense), count samples."""
        m = Module()
        cores = self._cores
        for idx, (cfg, core) in enumerate(zip(self._config.cores, cores, strict=True)):
            m.submodules[f"core{idx}_{cfg.name}"] = core
        wiring.connect(m, wiring.flipped(self.i), cores[0].i)
        busy = 0
        for idx, (a, b) in enumerate(itertools.pairwise(cores)):
            src = a.o
            if isinstance(a, ConvCore):
                src, held = _fifo_link(m, src, f"fifo{idx}", depth=_fifo_depth(a.config))
                busy = busy | held
            if isinstance(a, ConvCore) and isinstance(b, LIFCore):
                m.submodules[f"flatten{idx}"] = flatten = Flatten(a.config.emit_shape)
                wiring.connect(m, src, flatten.i)
                src = flatten.o
            busy = busy | register_slice(m, src, b.i, f"link{idx}")
        finish_network(m, self, cores, busy)
        return m
