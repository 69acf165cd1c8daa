"""Analytic resource, cycle and throughput model of the LIF core.

Everything here is arithmetic on a :class:`~spikesmith.hw.lif.config.LIFCoreConfig` (no tools,
microseconds per call); the analytic Fmax is in :mod:`.estimate_timing`. The estimate stage of
the flow (``spikesmith.estimate``) runs the real tools and reports each analytic figure beside
the measured one with its relative error.

Memories
    The core has three memories (see :mod:`spikesmith.hw.lif.lif_core`): the weight ROM
    (``n_in * G`` words of ``P * weight_bits``), the state RAM (``G`` words of
    ``P * state_bits``, one write and one synchronous read port that returns the old word on a
    same-address write, priced as a transparent one) and the output
    spike FIFO (``G`` words of ``P + index_bits(G) + 1`` bits, asynchronous read).
    :func:`map_memory` places each the way Yosys 0.70's ``memory_libmap`` does: it prices
    every option and keeps the cheapest.

    * block RAM: whole blocks of the cheapest aspect ratio (iCE40 ``SB_RAM40_4K`` 256x16 ..
      2048x2, cost 64; ECP5 ``DP16KD`` 1024x18 .. 16384x1 and ``PDPW16KD`` 512x36, cost 128;
      7-series ``RAMB18E1`` 512x36 .. 16384x1, cost 129, and ``RAMB36E1`` 512x72 .. 32768x1,
      cost 257, counted as 2 RAMB18). Only synchronous read ports fit; a transparent read
      port costs its width more (the bypass logic).
    * distributed RAM: ECP5 ``TRELLIS_DPR16X4`` (16x4, cost 4, not for ROMs), 7-series
      ``RAM32M`` (32x6) / ``RAM64M`` (64x3) (cost 8 each).
    * soft logic: 1 per bit for a RAM, 1/64 per bit for a ROM. A tie between logic and a block
      goes to the block for a ROM and to logic for a RAM (what Yosys 0.70 did on the
      calibration set).
    * a weight ROM of at least ``config.WEIGHT_ROM_BLOCK_DEPTH`` words carries a
      ``rom_style = "block"`` attribute: only the block options are priced.
    * the state read of a core with ``G <= 2`` is transparent: off block RAM it registers
      its address, not its data.

Logic
    LUTs and flip-flops outside the memories are a linear function of the datapath widths:
    ``lut = c0 + c1 * datapath_bits + c2 * control_bits`` and ``ff = registers + f0`` where
    ``registers`` is the exact register count of the pipeline (see :func:`_logic_features`).
    The per-target constants ``c0, c1, c2, f0`` were least-squares fitted to Yosys 0.70 runs
    of eleven LIF cores (the cores and their errors are listed in ``docs/estimates.md``); single-run
    LUT counts move by tens of percent across small netlist changes, so expect LUT errors of
    that order and exact BRAM counts.

Cycles
    :func:`timestep_cycles` is the exact schedule of ``LIFCore`` with the input always valid
    and the output always ready: ``G = ceil(n_out / P)`` cycles per input event, a 4-cycle
    accumulate drain, a ``G * P``-cycle neuron pass (one neuron per cycle) with a 5-stage
    pipeline, and an output
    serialiser that sends one spike per cycle and overlaps with the pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from spikesmith.sim.lif import ResetMode

from ..common.streams import index_bits
from ..common.synth import ResourceCounts, Target
from .config import LIFCoreConfig, NetworkConfig

__all__ = [
    "MemoryMapping",
    "MemoryShape",
    "ResourceEstimate",
    "core_memories",
    "estimate_core",
    "estimate_cycles",
    "estimate_network",
    "map_memory",
    "network_synops_per_cycle",
    "synaptic_ops_per_cycle",
    "timestep_cycles",
]


# ---------------------------------------------------------------------------------------------
# Memories


@dataclass(frozen=True)
class MemoryShape:
    """One memory of a core.

    Parameters
    ----------
    name : str
        Role (``weights``, ``acc``, ``mem``, ``spike_fifo``).
    depth, width : int
        Words and bits per word.
    rom : bool
        No write port (contents fixed at configuration).
    sync_read : bool
        Registered read port (block RAM capable); ``False`` for an asynchronous read.
    transparent : bool
        The read port returns data written in the same cycle.
    block : bool
        Synthesis is told to use block RAM (a ``rom_style``/``ram_style`` attribute): only
        the block options are priced (``sync_read`` must hold).
    address_register : bool
        Off block RAM, the synchronous read registers its address instead of its data (Yosys
        does so for a read port transparent to the write port).
    """

    name: str
    depth: int
    width: int
    rom: bool = False
    sync_read: bool = True
    transparent: bool = False
    block: bool = False
    address_register: bool = False

    @property
    def bits(self) -> int:
        """Stored bits."""
        return self.depth * self.width


@dataclass(frozen=True)
class MemoryMapping:
    """Where :func:`map_memory` puts one memory and what it costs.

    ``kind`` is ``"block"``, ``"distributed"`` or ``"logic"``; ``bram`` is in the target's
    :class:`~spikesmith.hw.common.synth.ResourceCounts` unit, ``lut`` and ``ff`` are the LUTs
    and flip-flops that the memory itself occupies.
    """

    memory: MemoryShape
    kind: str
    bram: int
    lut: int
    ff: int


# (depth, width, blocks counted, cost) per block geometry
_BLOCKS: dict[Target, tuple[tuple[int, int, int, int], ...]] = {
    Target.ICE40: ((256, 16, 1, 64), (512, 8, 1, 64), (1024, 4, 1, 64), (2048, 2, 1, 64)),
    Target.ECP5: (
        (512, 36, 1, 128),
        (1024, 18, 1, 128),
        (2048, 9, 1, 128),
        (4096, 4, 1, 128),
        (8192, 2, 1, 128),
        (16384, 1, 1, 128),
    ),
    Target.XC7: (
        (512, 36, 1, 129),
        (1024, 18, 1, 129),
        (2048, 9, 1, 129),
        (4096, 4, 1, 129),
        (8192, 2, 1, 129),
        (16384, 1, 1, 129),
        (512, 72, 2, 257),
        (1024, 36, 2, 257),
        (2048, 18, 2, 257),
        (4096, 9, 2, 257),
        (8192, 4, 2, 257),
        (16384, 2, 2, 257),
        (32768, 1, 2, 257),
    ),
}

# (depth, width, cost, LUT sites) per distributed-RAM primitive
_DISTRIBUTED: dict[Target, tuple[tuple[int, int, int, int], ...]] = {
    Target.ICE40: (),
    Target.ECP5: ((16, 4, 4, 6),),
    Target.XC7: ((32, 6, 8, 4), (64, 3, 8, 4)),
}

# LUT inputs per target: a LUT-k implements a 2**(k-2):1 multiplexer slice of a read mux
_LUT_INPUTS = {Target.ICE40: 4, Target.ECP5: 4, Target.XC7: 6}

_ROM_LOGIC_COST = 1 / 64
_RAM_LOGIC_COST = 1.0


def _mux_luts(depth: int, width: int, target: Target) -> int:
    """LUTs of a ``depth``:1 read multiplexer, ``width`` bits wide."""
    k = _LUT_INPUTS[target]
    per_lut = 2 ** (k - 2) if k > 4 else 2  # a LUT4 is a 2:1 mux with two spare inputs
    per_lut = 4 if k >= 6 else per_lut
    return width * max(0, math.ceil((depth - 1) / (per_lut - 1)))


def _rom_luts(depth: int, width: int, target: Target) -> int:
    """LUTs of a ROM in soft logic: one LUT per ``2**k`` words per bit, plus the mux tree."""
    k = _LUT_INPUTS[target]
    leaves = math.ceil(depth / 2**k)
    return width * (leaves + _mux_luts(leaves, 1, target))


def map_memory(memory: MemoryShape, *, target: Target) -> MemoryMapping:
    """Place ``memory`` on ``target`` as Yosys' ``memory_libmap`` would (see module docstring).

    Raises
    ------
    TypeError
        If ``target`` is not a :class:`~spikesmith.hw.common.synth.Target`.
    """
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    d, w = memory.depth, memory.width
    options: list[tuple[float, int, MemoryMapping]] = []
    logic_cost = memory.bits * (_ROM_LOGIC_COST if memory.rom else _RAM_LOGIC_COST)
    read_reg = 0
    if memory.sync_read:
        read_reg = max(1, (d - 1).bit_length()) if memory.address_register else w
    if memory.rom:
        logic = MemoryMapping(memory, "logic", 0, _rom_luts(d, w, target), w)
    else:
        # every word in flip-flops; a synchronous read port adds its output register
        ff = memory.bits + read_reg
        logic = MemoryMapping(memory, "logic", 0, _mux_luts(d, w, target) + w, ff)
    # tie-break: a ROM prefers the block (rank 0 < 1), a RAM prefers logic
    options.append((logic_cost, 1 if memory.rom else 0, logic))
    if memory.sync_read:
        penalty = w if memory.transparent else 0
        for depth, width, count, cost in _BLOCKS[target]:
            blocks = math.ceil(d / depth) * math.ceil(w / width)
            mapping = MemoryMapping(
                memory, "block", blocks * count, penalty, 2 * penalty if penalty else 0
            )
            options.append((blocks * cost + penalty, 0 if memory.rom else 1, mapping))
    if not memory.rom:
        for depth, width, cost, sites in _DISTRIBUTED[target]:
            units = math.ceil(d / depth) * math.ceil(w / width)
            mux = _mux_luts(math.ceil(d / depth), w, target)
            mapping = MemoryMapping(memory, "distributed", 0, units * sites + mux, read_reg)
            options.append((units * cost, 1, mapping))
    if memory.block and memory.sync_read:
        options = [o for o in options if o[2].kind == "block"]
    return min(options, key=lambda o: (o[0], o[1]))[2]


def core_memories(config: LIFCoreConfig) -> tuple[MemoryShape, ...]:
    """Return the memories that ``LIFCore(config)`` instantiates."""
    p, groups = config.lanes, config.groups
    return (
        MemoryShape("weights", config.weight_words, p * config.weight_bits, rom=True,
                    block=config.weights_in_block),
        # not transparent, but a read returns the old word on a same-address write, which Yosys
        # prices on a block like a transparent port (a bypass of the port's width)
        MemoryShape("state", max(2, groups), p * config.state_bits, transparent=True,
                    address_register=groups <= 2),
        MemoryShape("spike_fifo", groups, p + index_bits(groups) + 1, sync_read=False),
    )


# ---------------------------------------------------------------------------------------------
# Logic


@dataclass(frozen=True)
class _Features:
    registers: int
    lut_terms: tuple[float, float, float, float]
    multipliers: int
    multiplier_bits: tuple[int, int]


def _logic_features(config: LIFCoreConfig) -> _Features:
    """Register count and LUT cost terms of the core's pipeline (``hw.lif.lif_core``).

    The LUT terms are ``(1, P * state_bits, membrane_bits, control_bits)``: a fixed part
    (stream handshakes, phase flags), the per-lane logic as wide as the state (accumulate adder,
    write-data multiplexer, the neuron pass's lane multiplexer), the one neuron unit of the
    pass (saturation, reset subtract and multiplexer, leak subtract) and the counters and
    comparators of group indices and addresses.
    """
    p, groups = config.lanes, config.groups
    gbits = index_bits(groups)
    wb, ib = config.weight_bits, config.input_bits
    mb = config.lif.membrane.width
    sb = config.state_bits
    addr_bits = max(1, (max(2, config.n_in * groups) - 1).bit_length())
    prod_bits = wb + (ib + 1 if ib > 1 else 0)
    value_bits = ib if ib > 1 else 0
    fifo_bits = 3 * max(1, groups.bit_length())
    sub = 2 if config.lif.reset is ResetMode.SUBTRACT else 1
    forwards = 1 if groups == 1 else 0  # S2 operand select (``LIFCore._products``)
    jbits = index_bits(p)
    registers = (
        (1 + addr_bits + gbits + value_bits)  # S0
        + (1 + gbits + value_bits)  # S1
        + (1 + gbits + p * prod_bits + forwards)  # S2 (and its forwarding selects)
        + (1 + gbits + p * sb)  # S3 valid, group, sum
        + 5 * (1 + gbits + jbits)  # N0..N4 valid, group and lane
        + mb * (1 + sub) + p * mb  # N2 u, N3 u (and u - threshold), N4 membranes of a group
        + p + 5  # real neuron, fire, the group's spikes, any, at most one, last lane
        + 6 + gbits  # phase flags, clear counter
        + p + gbits  # serialiser
        + fifo_bits
    )
    control = addr_bits + 8 * gbits + p * gbits
    muls = p if ib > 1 else 0
    return _Features(registers, (1.0, p * sb, mb, control), muls, (wb, ib + 1))


#: Per-target LUT cost per term of :func:`_logic_features` (all >= 0) and flip-flops beyond
#: the counted registers. Fitted by ``benchmarks/calibrate_estimate.py`` (non-negative least
#: squares on Yosys 0.70 runs; see ``docs/estimates.md``).
_LUT_FIT: dict[Target, tuple[float, float, float, float]] = {
    Target.ICE40: (0.0, 2.590, 3.660, 2.737),
    Target.ECP5: (0.0, 3.743, 7.648, 2.538),
    Target.XC7: (81.067, 2.795, 0.0, 0.254),
}
_FF_FIT: dict[Target, float] = {Target.ICE40: 0.0, Target.ECP5: -2.0, Target.XC7: -2.0}

# Widest multiplier operands one DSP block takes (iCE40 SB_MAC16 16x16, ECP5 18x18,
# DSP48E1 25x18); Yosys maps a multiply to a DSP when both operands fit and the product is
# wider than a few bits.
_DSP_OPERANDS = {Target.ICE40: (16, 16), Target.ECP5: (18, 18), Target.XC7: (25, 18)}


@dataclass(frozen=True)
class ResourceEstimate:
    """Analytic resources of one core on one target.

    Parameters
    ----------
    target : Target
        Family.
    resources : ResourceCounts
        Totals in the target's units (see :mod:`spikesmith.hw.common.synth`).
    memories : tuple[MemoryMapping, ...]
        Where each memory went.
    """

    target: Target
    resources: ResourceCounts
    memories: tuple[MemoryMapping, ...] = field(repr=False)


def estimate_core(config: LIFCoreConfig, *, target: Target) -> ResourceEstimate:
    """Return the analytic LUT/FF/BRAM/DSP estimate of ``LIFCore(config)`` on ``target``.

    Raises
    ------
    TypeError
        If ``config`` is not a ``LIFCoreConfig`` or ``target`` not a ``Target``.
    """
    if not isinstance(config, LIFCoreConfig):
        raise TypeError(f"config must be a LIFCoreConfig, not {config!r}")
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    mems = tuple(map_memory(m, target=target) for m in core_memories(config))
    feats = _logic_features(config)
    lut = sum(c * x for c, x in zip(_LUT_FIT[target], feats.lut_terms, strict=True))
    lut += sum(m.lut for m in mems)
    ff = feats.registers + _FF_FIT[target] + sum(m.ff for m in mems)
    a, b = feats.multiplier_bits
    da, db = _DSP_OPERANDS[target]
    fits = min(a, b) <= min(da, db) and max(a, b) <= max(da, db)
    dsp = feats.multipliers if fits else 0
    return ResourceEstimate(
        target=target,
        resources=ResourceCounts(
            lut=max(0, round(lut)),
            ff=max(0, round(ff)),
            bram=sum(m.bram for m in mems),
            dsp=dsp,
        ),
        memories=mems,
    )


def estimate_network(config: NetworkConfig, *, target: Target) -> ResourceCounts:
    """Return the analytic resources of ``hw.lif.network.Network(config)`` on ``target``.

    The sum of the cores, the top's 32-bit ``samples_done`` counter and, on each link between
    cores, the two-entry skid buffer of ``hw.lif.network`` (two entries of a spike event and two
    valid flags in flip-flops; one LUT per entry bit for the main entry's input multiplexer).
    """
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    est = [estimate_core(c, target=target).resources for c in config.cores]
    total = {f: sum(getattr(e, f) for e in est) for f in ("lut", "ff", "bram", "dsp", "spram")}
    total["lut"] += 32 if target is Target.XC7 else 40
    total["ff"] += 32
    for core in config.cores[:-1]:
        event_bits = index_bits(core.n_out) + 2  # index, eot, last
        total["ff"] += 2 * event_bits + 2
        total["lut"] += event_bits
    return ResourceCounts(**total)



# ---------------------------------------------------------------------------------------------
# Cycles


def timestep_cycles(
    config: LIFCoreConfig, *, events: int, spikes: np.ndarray | Sequence[int] | None = None
) -> int:
    """Return the exact cycles ``LIFCore`` spends on one timestep.

    Counted from the cycle the first input item (event or end-of-timestep marker) is accepted
    to the cycle the output marker is accepted, inclusive, with the input always valid and the
    output always ready. The next timestep's first item is accepted on the following cycle,
    so the cycles of a sample are the sum over its timesteps.

    Schedule (``G`` groups; ``E`` events): events are accepted every ``G`` cycles and the
    marker on the cycle of the last weight read, cycle ``E*G``; the accumulate pipeline
    drains by ``D = E*G + 4`` (``D = 1`` when ``E = 0``); the neuron pass takes one neuron
    per cycle, lane ``j`` of group ``g`` on cycle ``D + 1 + g*P + j``, and its 5-stage
    pipeline empties on ``D + G*P + 5``. The spike mask of group ``g`` reaches the serialiser
    on cycle ``D + 7 + g*P + P - 1`` at the earliest, which sends one
    spike per cycle; the marker goes on the first cycle with both the pass and the serialiser
    done.

    Parameters
    ----------
    config : LIFCoreConfig
        The core.
    events : int
        Input events of the timestep (not counting its marker).
    spikes : array-like of bool or int, optional
        Output spikes of the timestep, one entry per neuron (``n_out``), e.g. from
        ``sim.lif.lif_step``. ``None`` means no spikes (the lower bound).

    Raises
    ------
    ValueError
        If ``events`` is negative or ``spikes`` has the wrong length.
    """
    if not isinstance(events, int | np.integer) or events < 0:
        raise ValueError(f"events must be a non-negative integer, not {events!r}")
    p, groups = config.lanes, config.groups
    drained = int(events) * groups + 4 if events else 1
    done = drained + groups * p + 5
    if spikes is not None:
        s = np.asarray(spikes).astype(bool).ravel()
        if s.size != config.n_out:
            raise ValueError(f"spikes must have n_out = {config.n_out} entries, not {s.size}")
        padded = np.zeros(groups * p, dtype=bool)
        padded[: s.size] = s
        per_group = padded.reshape(groups, p).sum(axis=1)
        last_sent = None
        for g, k in enumerate(per_group):
            if k == 0:
                continue
            start = drained + 7 + g * p + p - 1
            if last_sent is not None:
                start = max(start, last_sent + 1)
            last_sent = start + int(k) - 1
        if last_sent is not None:
            done = max(done, last_sent + 1)
    return done + 1


def estimate_cycles(
    config: LIFCoreConfig | NetworkConfig,
    *,
    input_events_per_step: Sequence[int] | int,
    spikes: Sequence[np.ndarray] | np.ndarray | None = None,
    timesteps: int | None = None,
) -> int:
    """Return the cycles of one sample.

    Parameters
    ----------
    config : LIFCoreConfig or NetworkConfig
        One core (exact count) or a chain of cores. For a chain, layer ``k + 1`` receives the
        spikes of layer ``k`` as events, and the count is the sum of the layers' timestep
        cycles: an upper bound, since the generated top may overlap layers.
    input_events_per_step : sequence of int or int
        Events into the (first) core per timestep; an int repeats over ``timesteps``.
    spikes : array or sequence of arrays, optional
        Output spikes, ``(T, n_out)`` for a core, one such array per layer for a network.
        Needed for a network (to know the events of the later layers); for a core ``None``
        counts no output spikes.
    timesteps : int, optional
        Timesteps when ``input_events_per_step`` is an int (default: the network's).

    Raises
    ------
    TypeError
        If ``config`` has another type.
    ValueError
        On inconsistent lengths or a network without ``spikes``.
    """
    if isinstance(config, NetworkConfig):
        steps = config.timesteps if timesteps is None else timesteps
        events = _per_step(input_events_per_step, steps)
        if spikes is None or len(spikes) != len(config.cores):
            raise ValueError(
                f"spikes must give one (T, n_out) array per layer ({len(config.cores)}) for a"
                f" network, not {None if spikes is None else len(spikes)}"
            )
        total = 0
        for core, layer_spikes in zip(config.cores, spikes, strict=True):
            total += estimate_cycles(core, input_events_per_step=events, spikes=layer_spikes)
            events = [int(np.count_nonzero(s)) for s in np.asarray(layer_spikes)]
        return total
    if not isinstance(config, LIFCoreConfig):
        raise TypeError(f"config must be a LIFCoreConfig or NetworkConfig, not {config!r}")
    if isinstance(input_events_per_step, int | np.integer) and timesteps is None:
        raise ValueError("timesteps must be given when input_events_per_step is an int")
    events = _per_step(input_events_per_step, timesteps)
    if spikes is not None and len(spikes) != len(events):
        raise ValueError(f"spikes must have {len(events)} timesteps, not {len(spikes)}")
    return sum(
        timestep_cycles(config, events=e, spikes=None if spikes is None else spikes[t])
        for t, e in enumerate(events)
    )


def _per_step(events: Sequence[int] | int, steps: int | None) -> list[int]:
    if isinstance(events, int | np.integer):
        return [int(events)] * int(steps or 0)
    out = [int(e) for e in events]
    if steps is not None and len(out) != steps:
        raise ValueError(f"input_events_per_step must have {steps} entries, not {len(out)}")
    return out


def synaptic_ops_per_cycle(config: LIFCoreConfig, *, events: int) -> float:
    """Return useful synaptic operations per cycle over one spike-free timestep.

    Each event updates ``n_out`` synapses; ``P`` is the ceiling reached while accumulating
    (``n_out / G`` exactly when ``P`` divides ``n_out``).
    """
    return events * config.n_out / timestep_cycles(config, events=events)


def network_synops_per_cycle(config: NetworkConfig) -> float:
    """Return synaptic operations per cycle of ``config`` over one dense, spike-free timestep.

    Every core receives one event per input (``n_in`` events) and the cycles are the cores'
    :func:`timestep_cycles` summed (layers run one after the other, the upper bound of
    :func:`estimate_cycles`).
    """
    ops = sum(c.n_in * c.n_out for c in config.cores)
    return ops / sum(timestep_cycles(c, events=c.n_in) for c in config.cores)
