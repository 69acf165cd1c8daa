"""Analytic resource, cycle and throughput model of the LIF core, and its check against Yosys.

Everything here is arithmetic on a :class:`~spikesmith.compiler.cores.LIFCoreConfig` (no tools,
microseconds per call). :func:`estimate_design` then runs the real tools (:mod:`.synth`) and
reports each analytic figure beside the measured one with its relative error.

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

Logic
    LUTs and flip-flops outside the memories are a linear function of the datapath widths:
    ``lut = c0 + c1 * datapath_bits + c2 * control_bits`` and ``ff = registers + f0`` where
    ``registers`` is the exact register count of the pipeline (see :func:`_logic_features`).
    The per-target constants ``c0, c1, c2, f0`` were least-squares fitted to Yosys 0.70 runs
    of eleven LIF cores (the cores and their errors are listed in ``docs/estimates.md``); single-run
    LUT counts move by tens of percent across small netlist changes, so expect LUT errors of
    that order and exact BRAM counts.

Fmax
    :func:`estimate_fmax` is a first-order timing model: the slowest of a few register-to-register
    paths of the core (and, for a network, of the skid-buffered links between cores), each
    ``t_clk_to_q + t_setup + levels * (t_lut + t_net) + width * t_carry`` with per-target
    primitive delays read from nextpnr reports (see :data:`_TIMING`).

Cycles
    :func:`timestep_cycles` is the exact schedule of ``LIFCore`` with the input always valid
    and the output always ready: ``G = ceil(n_out / P)`` cycles per input event, a 4-cycle
    accumulate drain, a ``G``-cycle neuron pass with a 5-stage pipeline, and an output
    serialiser that sends one spike per cycle and overlaps with the pass.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spikesmith.compiler.cores import LIFCoreConfig, NetworkConfig
from spikesmith.sim.lif import ResetMode

from ..common.streams import index_bits
from ..common.synth import ResourceCounts, Target

__all__ = [
    "CAPACITY",
    "Comparison",
    "EstimateReport",
    "FmaxResult",
    "MemoryMapping",
    "MemoryShape",
    "ResourceEstimate",
    "check_fit",
    "compare",
    "core_memories",
    "estimate_core",
    "estimate_cycles",
    "estimate_design",
    "estimate_fmax",
    "estimate_network",
    "map_memory",
    "measure_fmax",
    "network_synops_per_cycle",
    "synaptic_ops_per_cycle",
    "timestep_cycles",
    "utilisation",
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
    """

    name: str
    depth: int
    width: int
    rom: bool = False
    sync_read: bool = True
    transparent: bool = False

    @property
    def bits(self) -> int:
        """Stored bits."""
        return self.depth * self.width


@dataclass(frozen=True)
class MemoryMapping:
    """Where :func:`map_memory` puts one memory and what it costs.

    ``kind`` is ``"block"``, ``"distributed"`` or ``"logic"``; ``bram`` is in the target's
    :class:`~.synth.ResourceCounts` unit, ``lut`` and ``ff`` are the LUTs and flip-flops that
    the memory itself occupies.
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
        If ``target`` is not a :class:`~.synth.Target`.
    """
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    d, w = memory.depth, memory.width
    options: list[tuple[float, int, MemoryMapping]] = []
    logic_cost = memory.bits * (_ROM_LOGIC_COST if memory.rom else _RAM_LOGIC_COST)
    if memory.rom:
        logic = MemoryMapping(memory, "logic", 0, _rom_luts(d, w, target), w)
    else:
        # every word in flip-flops; a synchronous read port adds its output register
        ff = memory.bits + (w if memory.sync_read else 0)
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
            ff = w if memory.sync_read else 0
            mapping = MemoryMapping(memory, "distributed", 0, units * sites + mux, ff)
            options.append((units * cost, 1, mapping))
    return min(options, key=lambda o: (o[0], o[1]))[2]


def core_memories(config: LIFCoreConfig) -> tuple[MemoryShape, ...]:
    """Return the memories that ``LIFCore(config)`` instantiates."""
    p = config.lanes
    groups = -(-config.n_out // p)
    return (
        MemoryShape("weights", max(2, config.n_in * groups), p * config.weight_bits, rom=True),
        # not transparent, but a read returns the old word on a same-address write, which Yosys
        # prices on a block like a transparent port (a bypass of the port's width)
        MemoryShape("state", max(2, groups), p * _state_bits(config), transparent=True),
        MemoryShape("spike_fifo", groups, p + index_bits(groups) + 1, sync_read=False),
    )


def _state_bits(config: LIFCoreConfig) -> int:
    """Bits per lane of the core's state memory (``LIFCore.state_bits``)."""
    return max(config.lif.membrane.width, config.acc_bits) + 1


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

    The LUT terms are ``(1, P * state_bits, P * membrane_bits, control_bits)``: a fixed part
    (stream handshakes, phase flags), the per-lane logic as wide as the state (accumulate adder,
    forwarding multiplexer, saturation compares, write-data multiplexer), the per-lane logic
    as wide as the membrane (fire compare, reset subtract and multiplexer, leak subtract) and
    the counters and comparators of group indices and addresses.
    """
    p = config.lanes
    groups = -(-config.n_out // p)
    gbits = index_bits(groups)
    wb, ib = config.weight_bits, config.input_bits
    mb = config.lif.membrane.width
    sb = _state_bits(config)
    addr_bits = max(1, (max(2, config.n_in * groups) - 1).bit_length())
    prod_bits = wb + (ib + 1 if ib > 1 else 0)
    value_bits = ib if ib > 1 else 0
    fifo_bits = 3 * max(1, groups.bit_length())
    sub = 2 if config.lif.reset is ResetMode.SUBTRACT else 1
    registers = (
        (1 + addr_bits + gbits + value_bits)  # S0
        + (1 + gbits + value_bits)  # S1
        + (1 + gbits + p * prod_bits + 2)  # S2 (and its two forwarding selects)
        + (1 + gbits + 2 * p * sb)  # S3 valid, group, sum and the sum written before
        + 5 * (1 + gbits)  # N0..N4 valid and group
        + p * mb * (2 + sub)  # N2 u, N3 u (and u - threshold), N4 v
        + 3 * p + 1  # lane mask, fire, spikes, any
        + 6 + gbits  # phase flags, clear counter
        + p + gbits  # serialiser
        + fifo_bits
    )
    control = addr_bits + 8 * gbits + p * gbits
    muls = p if ib > 1 else 0
    return _Features(registers, (1.0, p * sb, p * mb, control), muls, (wb, ib + 1))


#: Per-target LUT cost per term of :func:`_logic_features` (all >= 0) and flip-flops beyond
#: the counted registers. Fitted by ``benchmarks/calibrate_estimate.py`` (non-negative least
#: squares on Yosys 0.70 runs; see ``docs/estimates.md``).
_LUT_FIT: dict[Target, tuple[float, float, float, float]] = {
    Target.ICE40: (18.046, 0.0, 7.635, 3.016),
    Target.ECP5: (0.0, 0.0, 8.299, 3.566),
    Target.XC7: (64.277, 0.0, 5.586, 1.016),
}
_FF_FIT: dict[Target, float] = {Target.ICE40: -12.0, Target.ECP5: -10.0, Target.XC7: -10.0}

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
        Totals in the target's units (see :mod:`.synth`).
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
    drains by ``D = E*G + 4`` (``D = 1`` when ``E = 0``); the neuron pass reads group ``g`` on
    cycle ``D + 1 + g`` and its 5-stage pipeline empties on ``D + G + 5``. The spike mask of
    group ``g`` reaches the serialiser on cycle ``D + 7 + g`` at the earliest, which sends one
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
    p = config.lanes
    groups = -(-config.n_out // p)
    drained = int(events) * groups + 4 if events else 1
    done = drained + groups + 5
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
            start = drained + 7 + g
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


# ---------------------------------------------------------------------------------------------
# Fmax


@dataclass(frozen=True)
class _Timing:
    """Primitive delays of one target, ns (nextpnr's timing model; see :data:`_TIMING`)."""

    clk_to_q: float
    setup: float
    lut: float
    net: float
    carry: float
    bram_clk_to_q: float | None
    lut_inputs: int = 4


#: Per-target primitive delays (ns), all read from nextpnr 0.x (yowasp) ``--report`` JSON files,
#: never fitted to the Fmax figures the model is compared with:
#:
#: * iCE40 UP5K (``--up5k``): ``clk_to_q`` 1.39 (DFF ``O``), ``setup`` 0.1 (``CEN``), ``lut``
#:   0.874 (``SB_LUT4`` ``I3 -> O``, the most common logic step) from the critical path of the
#:   digits demo core (``fmax_core/ice40/harness.up5k-sg48.s1.report.json``); ``net`` 1.761 (one
#:   DFF -> LUT route) and ``carry`` 0.278 per bit (``CIN -> COUT``) from a separate run of a
#:   24-bit accumulator (``q <= q + r``, ``synth_ice40``, ``--freq 40``). No block-RAM delay:
#:   in the same kind of run a 256x16 ``SB_RAM40_4K`` read into a 16-bit accumulator was never
#:   the critical path (103 MHz, set by the adder), so a read counts as a register output.
#: * ECP5 LFE5U-25F (``--25k``): ``clk_to_q`` 0.525 (``TRELLIS_FF`` ``Q``), ``setup`` 0.0 (``DI``),
#:   ``net`` 0.976 (FF -> ``CCU2C`` route) and ``carry`` 0.0355 per bit (0.071 per 2-bit
#:   ``CCU2C``, ``FCI -> FCO``) from the same 24-bit accumulator run (``synth_ecp5``, ``--freq
#:   125``); ``lut`` 0.236 (``LUT4`` ``B -> F``) and ``bram_clk_to_q`` 5.609 (``DP16KD``
#:   ``CLKA -> DOA``) from the digits demo core report
#:   (``fmax_core/ecp5/harness.25k-cabga256.s1.report.json``).
_TIMING: dict[Target, _Timing] = {
    Target.ICE40: _Timing(clk_to_q=1.39, setup=0.1, lut=0.874, net=1.761, carry=0.278,
                          bram_clk_to_q=None),
    Target.ECP5: _Timing(clk_to_q=0.525, setup=0.0, lut=0.236, net=0.976, carry=0.0355,
                         bram_clk_to_q=5.609),
}


def _levels(inputs: int, k: int) -> int:
    """LUT levels of a tree that combines ``inputs`` signals with ``k``-input LUTs."""
    levels, reach = 1, k
    while reach < inputs:
        levels, reach = levels + 1, reach * k
    return levels


def _core_paths(config: LIFCoreConfig, k: int) -> dict[str, tuple[int, int]]:
    """Register-to-register paths of ``LIFCore(config)``: name -> (LUT levels, carry bits).

    * ``accumulate``: the S3 sum register -> the forwarding mux (3:1, two selects: 5 inputs,
      two LUT4 levels) -> the adder of ``state_bits`` (one LUT level into the carry chain) ->
      the S3 sum register.
    * ``input_handshake``: ``s0_valid & (s0_g == G-1)`` (``gbits + 1`` inputs) -> ``i.ready``
      (5 terms) -> the accept of an end-of-timestep marker (``valid & ready & eot``) -> the
      ``draining`` enable (2 terms).
    * ``fire``: ``n2_u >= threshold`` and ``n2_u - threshold``: one LUT level into a
      membrane-wide carry chain.
    * ``saturate``: the N1 overflow test on the ``state_bits - membrane_bits + 1`` top bits, then
      the 3:1 result multiplexer (one more level).
    """
    p = config.lanes
    groups = -(-config.n_out // p)
    gbits = index_bits(groups)
    sb, mb = _state_bits(config), config.lif.membrane.width
    handshake = sum(_levels(n, k) for n in (gbits + 1, 5, 3, 2))
    return {
        "accumulate": (2 + 1, sb),
        "input_handshake": (handshake, 0),
        "fire": (1, mb),
        "saturate": (_levels(sb - mb + 1, k) + 1, 0),
    }


def _memory_mappings(config: LIFCoreConfig, target: Target) -> tuple[MemoryMapping, ...]:
    """Return :func:`map_memory` of every memory of ``LIFCore(config)`` on ``target``."""
    return tuple(map_memory(m, target=target) for m in core_memories(config))


def _link_levels(config: LIFCoreConfig, k: int) -> int:
    """LUT levels from a core's spike FIFO level to the next skid buffer's enable.

    ``fifo.r_rdy`` (``level != 0`` over the FIFO level's bits) -> ``send_marker`` (one more
    level: the late ``r_rdy`` meets the precombined phase flags) -> ``o.valid`` -> the skid
    entry's load enable (``hw.lif.network``).
    """
    groups = -(-config.n_out // config.lanes)
    return _levels(max(1, groups.bit_length()), k) + 3


def estimate_fmax(config: LIFCoreConfig | NetworkConfig, *, target: Target) -> float:
    """Return the analytic Fmax of ``LIFCore(config)`` or ``Network(config)`` on ``target``, MHz.

    The clock period is the slowest path of :func:`_core_paths` (every core of a network) and of
    the links between cores (a network). Where the target has a block-RAM delay in
    :data:`_TIMING` and :func:`map_memory` puts a memory in block RAM, its read launches
    ``bram_clk_to_q`` instead of ``clk_to_q``: the weights go over one route into the S2
    registers, the state through the accumulate path. A logic path costs
    ``clk_to_q + setup + levels * (lut + net) + carry_bits * carry``. Placement and routing
    congestion are not modelled: routes are one typical hop each, so the estimate is an
    optimistic first order.

    Parameters
    ----------
    config : LIFCoreConfig or NetworkConfig
        A core or a network.
    target : Target
        ``Target.ICE40`` (UP5K) or ``Target.ECP5`` (LFE5U-25F).

    Returns
    -------
    float
        Fmax in MHz.

    Raises
    ------
    TypeError
        If ``config`` or ``target`` has the wrong type.
    ValueError
        If ``target`` has no timing model (``Target.XC7``).
    """
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    if isinstance(config, NetworkConfig):
        cores, links = tuple(config.cores), tuple(config.cores[:-1])
    elif isinstance(config, LIFCoreConfig):
        cores, links = (config,), ()
    else:
        raise TypeError(f"config must be a LIFCoreConfig or NetworkConfig, not {config!r}")
    if target not in _TIMING:
        raise ValueError(f"no timing model for {target.value}")
    tm = _TIMING[target]
    k = tm.lut_inputs
    # (launch delay, LUT levels, carry bits) per path
    paths = [(tm.clk_to_q, n, w) for c in cores for n, w in _core_paths(c, k).values()]
    paths += [(tm.clk_to_q, _link_levels(c, k), 0) for c in links]
    if tm.bram_clk_to_q is not None:
        for c in cores:
            blocks = {m.memory.name for m in _memory_mappings(c, target) if m.kind == "block"}
            if "weights" in blocks:  # weight word over one route into the S2 product registers
                paths.append((tm.bram_clk_to_q + tm.net, 0, 0))
            if "state" in blocks:  # state word through the forwarding mux and the adder
                paths.append((tm.bram_clk_to_q, *_core_paths(c, k)["accumulate"]))
    period = max(t0 + tm.setup + n * (tm.lut + tm.net) + w * tm.carry for t0, n, w in paths)
    return 1000.0 / period


# ---------------------------------------------------------------------------------------------
# Comparison and the whole report


@dataclass(frozen=True)
class Comparison:
    """An analytic figure beside a measured one; ``rel_error = (analytic - measured) / measured``
    (``0.0`` when both are 0, ``inf`` when only the measurement is 0)."""

    analytic: float
    measured: float
    rel_error: float

    def to_dict(self) -> dict[str, float]:
        """Return ``{"analytic", "measured", "rel_error"}``."""
        return {"analytic": self.analytic, "measured": self.measured, "rel_error": self.rel_error}


def compare(analytic: float, measured: float) -> Comparison:
    """Return ``analytic`` beside ``measured`` with the relative error."""
    if measured == 0:
        err = 0.0 if analytic == 0 else math.inf
    else:
        err = (analytic - measured) / measured
    return Comparison(float(analytic), float(measured), float(err))


_FIELDS = ("lut", "ff", "bram", "dsp")


#: Parts whose capacity decides ``fits``: (name, lut, ff, bram, dsp) in the units of
#: :class:`~.synth.ResourceCounts`. iCE40 UP5K (5,280 logic cells: one LUT4 and one DFF each,
#: 30 SB_RAM40_4K, 8 SB_MAC16), ECP5 LFE5U-25F (24,288 LUT4/FF, 56 DP16KD, 28 MULT18X18D),
#: Artix-7 XC7A35T (20,800 LUT6, 41,600 FF, 100 RAMB18, 90 DSP48E1; synthesis only).
CAPACITY: dict[Target, tuple[str, ResourceCounts]] = {
    Target.ICE40: ("iCE40 UP5K", ResourceCounts(lut=5280, ff=5280, bram=30, dsp=8)),
    Target.ECP5: ("ECP5 LFE5U-25F", ResourceCounts(lut=24288, ff=24288, bram=56, dsp=28)),
    Target.XC7: ("Artix-7 XC7A35T", ResourceCounts(lut=20800, ff=41600, bram=100, dsp=90)),
}


def utilisation(resources: ResourceCounts, *, target: Target) -> dict[str, float]:
    """Return the used fraction of each resource of ``target``'s part (:data:`CAPACITY`)."""
    cap = CAPACITY[target][1]
    return {f: getattr(resources, f) / getattr(cap, f) for f in _FIELDS}


def check_fit(resources: ResourceCounts, *, target: Target) -> str | None:
    """Return why ``resources`` cannot fit ``target``'s part, or ``None`` when they may.

    On iCE40 a logic cell holds one LUT4 and one flip-flop, so ``lut`` and ``ff`` are each
    compared with the cell count (a necessary condition; placement may still fail).
    """
    name, cap = CAPACITY[target]
    over = [
        f"{f} {getattr(resources, f)} > {getattr(cap, f)}"
        for f in _FIELDS
        if getattr(resources, f) > getattr(cap, f)
    ]
    return f"does not fit the {name}: {', '.join(over)}" if over else None


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


def network_synops_per_cycle(config: NetworkConfig) -> float:
    """Return synaptic operations per cycle of ``config`` over one dense, spike-free timestep.

    Every core receives one event per input (``n_in`` events) and the cycles are the cores'
    :func:`timestep_cycles` summed (layers run one after the other, the upper bound of
    :func:`estimate_cycles`).
    """
    ops = sum(c.n_in * c.n_out for c in config.cores)
    return ops / sum(timestep_cycles(c, events=c.n_in) for c in config.cores)


@dataclass(frozen=True)
class FmaxResult:
    """Fmax of one design on one part, or why there is none.

    Parameters
    ----------
    fmax_mhz : float or None
        nextpnr Fmax inside :class:`~.harness.FmaxHarness`, MHz; ``None`` when not measured.
    fits : bool
        Whether the design (with the harness) fits the part.
    reason : str or None
        Why ``fmax_mhz`` is ``None`` (does not fit, tool failure).
    critical_path : tuple[str, ...]
        Signals along the critical path.
    utilisation : Mapping[str, tuple[int, int]]
        nextpnr bel use ``(used, available)``, or Yosys counts against :data:`CAPACITY` when
        placement was skipped.
    """

    fmax_mhz: float | None
    fits: bool
    reason: str | None = None
    critical_path: tuple[str, ...] = ()
    utilisation: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return {
            "fmax_mhz": self.fmax_mhz,
            "fits": self.fits,
            "reason": self.reason,
            "critical_path": list(self.critical_path),
            "utilisation": {k: list(v) for k, v in self.utilisation.items()},
        }


@dataclass(frozen=True)
class EstimateReport:
    """Analytic and measured resources and Fmax of a generated network.

    Parameters
    ----------
    resources : Mapping[Target, ResourceCounts]
        Yosys counts of ``hw.lif.network.Network(config)`` per target.
    analytic : Mapping[Target, ResourceCounts]
        :func:`estimate_network` per target.
    fmax_network : Mapping[Target, FmaxResult]
        The whole network in the harness (ICE40: UP5K, ECP5: 25F).
    fmax_core : Mapping[Target, FmaxResult]
        The first LIF core in the harness.
    cycles_per_step : int
        Cycles of one dense, spike-free timestep summed over the cores.
    synops_per_cycle : float
        :func:`network_synops_per_cycle`.
    design : str
        What was synthesised.
    seconds : float
        Wall-clock time of :func:`estimate_design`, s.
    fmax_analytic : Mapping[Target, float]
        :func:`estimate_fmax` of the network per placed target.
    fmax_core_analytic : Mapping[Target, float]
        :func:`estimate_fmax` of the first core per placed target.
    """

    resources: Mapping[Target, ResourceCounts]
    analytic: Mapping[Target, ResourceCounts]
    fmax_network: Mapping[Target, FmaxResult]
    fmax_core: Mapping[Target, FmaxResult]
    cycles_per_step: int
    synops_per_cycle: float
    design: str
    seconds: float = 0.0
    fmax_analytic: Mapping[Target, float] = field(default_factory=dict)
    fmax_core_analytic: Mapping[Target, float] = field(default_factory=dict)

    @property
    def fmax_mhz(self) -> dict[Target, float]:
        """Network Fmax per target where it was measured."""
        return {t: r.fmax_mhz for t, r in self.fmax_network.items() if r.fmax_mhz is not None}

    def fits(self, target: Target) -> bool:
        """Whether the network fits ``target``'s part (placement where it ran, else counts)."""
        if target in self.fmax_network:
            return self.fmax_network[target].fits
        return check_fit(self.resources[target], target=target) is None

    def comparisons(self, target: Target) -> dict[str, Comparison]:
        """Return the analytic-vs-Yosys comparison of every resource on ``target``."""
        a, m = self.analytic[target], self.resources[target]
        return {f: compare(getattr(a, f), getattr(m, f)) for f in _FIELDS}

    def to_dict(self) -> dict:
        """Return a JSON-ready dict.

        Keys: ``resources.<target>.{lut,ff,bram,dsp}`` (Yosys, whole network),
        ``analytic.<target>...``, ``error.<target>...`` (relative), ``fits.<target>``,
        ``utilisation.<target>.{lut,ff,bram,dsp}`` (fraction of :data:`CAPACITY`),
        ``fmax_mhz.<target>`` (network, only where measured), ``fmax_notes.<target>`` (why
        not), ``fmax_core_mhz.<target>``, ``fmax_analytic_mhz.<target>`` and
        ``fmax_core_analytic_mhz.<target>`` (:func:`estimate_fmax`), ``fmax_error.<target>`` and
        ``fmax_core_error.<target>`` (relative error of the analytic Fmax against the measured
        one, where measured), ``fmax_detail.{network,core}.<target>``,
        ``critical_path.<target>``, ``cycles_per_step``, ``synops_per_cycle``, ``design``,
        ``seconds``.
        """
        return {
            "design": self.design,
            "resources": {
                t.value: {f: getattr(r, f) for f in _FIELDS} for t, r in self.resources.items()
            },
            "analytic": {
                t.value: {f: getattr(r, f) for f in _FIELDS} for t, r in self.analytic.items()
            },
            "error": {
                t.value: {f: c.rel_error for f, c in self.comparisons(t).items()}
                for t in self.resources
                if t in self.analytic
            },
            "fits": {t.value: self.fits(t) for t in self.resources},
            "utilisation": {
                t.value: utilisation(r, target=t) for t, r in self.resources.items()
            },
            "fmax_mhz": {t.value: f for t, f in self.fmax_mhz.items()},
            "fmax_notes": {
                t.value: r.reason for t, r in self.fmax_network.items() if r.fmax_mhz is None
            },
            "fmax_core_mhz": {
                t.value: r.fmax_mhz for t, r in self.fmax_core.items() if r.fmax_mhz is not None
            },
            "fmax_analytic_mhz": {t.value: f for t, f in self.fmax_analytic.items()},
            "fmax_core_analytic_mhz": {t.value: f for t, f in self.fmax_core_analytic.items()},
            "fmax_error": {
                t.value: compare(f, self.fmax_network[t].fmax_mhz).rel_error
                for t, f in self.fmax_analytic.items()
                if t in self.fmax_network and self.fmax_network[t].fmax_mhz is not None
            },
            "fmax_core_error": {
                t.value: compare(f, self.fmax_core[t].fmax_mhz).rel_error
                for t, f in self.fmax_core_analytic.items()
                if t in self.fmax_core and self.fmax_core[t].fmax_mhz is not None
            },
            "fmax_detail": {
                "network": {t.value: r.to_dict() for t, r in self.fmax_network.items()},
                "core": {t.value: r.to_dict() for t, r in self.fmax_core.items()},
            },
            "critical_path": {
                t.value: list(r.critical_path) for t, r in self.fmax_network.items()
            },
            "cycles_per_step": self.cycles_per_step,
            "synops_per_cycle": self.synops_per_cycle,
            "seconds": round(self.seconds, 1),
        }


def measure_fmax(design, *, target: Target, workdir: os.PathLike | str, freq: float,
                 seed: int = 1, timeout_s: float | None = 600.0) -> FmaxResult:
    """Synthesise ``design`` in :class:`~.harness.FmaxHarness` and place and route it.

    Placement is skipped when the Yosys counts exceed :data:`CAPACITY`; a failed placement
    is reported too. Neither raises: the result says why there is no Fmax.

    Parameters
    ----------
    design : wiring.Component
        Design to wrap.
    target : Target
        ``ICE40`` (UP5K) or ``ECP5`` (25F).
    workdir : path-like
        Folder for the tool outputs.
    freq : float
        Requested frequency, MHz.
    seed : int
        nextpnr seed.
    timeout_s : float or None
        Limit per tool run, s.
    """
    from ..common.harness import FmaxHarness
    from ..common.synth import ToolError, place_and_route, synthesize

    try:
        syn = synthesize(FmaxHarness(design), target=target, top="harness", workdir=workdir,
                         timeout_s=timeout_s)
    except ToolError as exc:
        return FmaxResult(None, True, f"synthesis failed: {str(exc).splitlines()[0]}")
    cap = CAPACITY[target][1]
    counts = {f: (getattr(syn.resources, f), getattr(cap, f)) for f in _FIELDS}
    reason = check_fit(syn.resources, target=target)
    if reason is not None:
        return FmaxResult(None, False, reason, utilisation=counts)
    try:
        res = place_and_route(syn.netlist, target=target, freq_mhz=freq, seed=seed,
                              timeout_s=timeout_s)
    except ToolError as exc:
        lines = [ln for ln in str(exc).splitlines() if "ERROR" in ln or "Unable" in ln]
        why = lines[0].strip() if lines else str(exc).splitlines()[0]
        placed = "Unable to place" in str(exc) or "no BELs remaining" in str(exc)
        return FmaxResult(None, not placed, f"place and route failed: {why}",
                          utilisation=counts)
    return FmaxResult(res.fmax_mhz, True, None, res.critical_signals(), res.utilisation)


def estimate_design(
    config: NetworkConfig,
    *,
    workdir: os.PathLike | str,
    targets: Sequence[Target] = (Target.ICE40, Target.ECP5, Target.XC7),
    pnr: bool = True,
    freq_mhz: Mapping[Target, float] | None = None,
    seed: int = 1,
    jobs: int | None = None,
    timeout_s: float | None = 600.0,
) -> EstimateReport:
    """Synthesise the generated network for ``targets`` and measure Fmax where it fits.

    The synthesised design is ``hw.lif.network.Network(config)``, the top that ``hw.lif.generate``
    writes; the analytic numbers (:func:`estimate_network`) stand beside its Yosys counts.
    With ``pnr``, nextpnr measures, on the iCE40 UP5K and the ECP5-25F among ``targets``, the
    Fmax of the first LIF core and of the whole network, each inside
    :class:`~.harness.FmaxHarness`. A design that does not fit a part is reported
    (``fits = False``, utilisation, the reason in ``fmax_notes``), never raised. Tool runs go
    in parallel threads (``jobs``, default the CPU count).

    Parameters
    ----------
    config : NetworkConfig
        The network.
    workdir : path-like
        Folder for all tool outputs.
    targets : sequence of Target
        Families to synthesise for.
    pnr : bool
        Also place and route for Fmax (ICE40 and ECP5 among ``targets``).
    freq_mhz : mapping, optional
        Requested frequency per target (default 40 MHz iCE40, 125 MHz ECP5: the project's
        Fmax goals).
    seed : int
        nextpnr seed.
    jobs : int, optional
        Tool runs at a time.
    timeout_s : float or None
        Limit per tool run, s.

    Raises
    ------
    TypeError
        If ``config`` is not a ``NetworkConfig`` or a target is not a ``Target``.
    ToolError
        If Yosys fails on the network itself.
    """
    import time
    from concurrent.futures import ThreadPoolExecutor

    from ..common.synth import synthesize
    from .lif_core import LIFCore
    from .network import Network

    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, not {config!r}")
    for t in targets:
        if not isinstance(t, Target):
            raise TypeError(f"targets must hold Target values, not {t!r}")
    start = time.perf_counter()
    freq = {Target.ICE40: 40.0, Target.ECP5: 125.0, **(freq_mhz or {})}
    work = Path(workdir)
    placeable = [t for t in targets if pnr and t in (Target.ICE40, Target.ECP5)]
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        # the slowest runs first: network harnesses, then plain networks, then the core
        net_fmax = {
            t: pool.submit(measure_fmax, Network(config), target=t, workdir=work / "fmax_net",
                           freq=freq[t], seed=seed, timeout_s=timeout_s)
            for t in placeable
        }
        syn = {
            t: pool.submit(synthesize, Network(config), target=t, top="network",
                           workdir=work / "network", timeout_s=timeout_s)
            for t in targets
        }
        core_fmax = {
            t: pool.submit(measure_fmax, LIFCore(config.cores[0]), target=t,
                           workdir=work / "fmax_core", freq=freq[t], seed=seed,
                           timeout_s=timeout_s)
            for t in placeable
        }
        resources = {t: f.result().resources for t, f in syn.items()}
        fmax_network = {t: f.result() for t, f in net_fmax.items()}
        fmax_core = {t: f.result() for t, f in core_fmax.items()}
    return EstimateReport(
        resources=resources,
        analytic={t: estimate_network(config, target=t) for t in targets},
        fmax_network=fmax_network,
        fmax_core=fmax_core,
        cycles_per_step=sum(timestep_cycles(c, events=c.n_in) for c in config.cores),
        synops_per_cycle=network_synops_per_cycle(config),
        design="network",
        seconds=time.perf_counter() - start,
        fmax_analytic={t: estimate_fmax(config, target=t) for t in placeable},
        fmax_core_analytic={t: estimate_fmax(config.cores[0], target=t) for t in placeable},
    )
