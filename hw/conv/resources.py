"""Analytic LUT/FF/BRAM/DSP model of the conv core and of a conv network's glue.

Arithmetic on a :class:`~.config.ConvCoreConfig` (no tools), in the style of the dense core's
model (:mod:`spikesmith.hw.lif.estimate`), whose memory shapes and block tables it reuses with
two costs corrected from the sweep (:func:`map_conv_memory`).

Memories (:func:`conv_core_memories`, the one function to update when the core's memories
change)
    the parts of the weight ROM (``C_in*K*K*G`` words of ``P * weight_bits``) and of the state
    RAM (``E*G`` words of ``P * state_bits``, ``no_rw_check``), each a
    ``hw.common.mem.SplitMemory``: a block region, and ``side``/``tail`` parts in LUT RAM (a
    ROM part in logic) on the targets that have it, placed as Yosys chooses on the iCE40; a
    ROM part is as wide as its bit columns that are not constant (what Yosys keeps); and the
    spike queue (``SPIKE_QUEUE_DEPTH`` words, asynchronous read). The pass order comes from
    counters (``hw.conv.pass_counter``), priced with the logic.

Logic
    ``lut = c . _lut_terms`` beyond the memories (a fixed part, per lane x state bits, per
    lane x membrane bits, address bits, tap-table bits, ROM bits left in logic) and
    ``ff = registers + f . _ff_terms``, where ``registers`` is the exact count of the core's
    pipeline registers (:func:`_registers`) and the constants ``c``, ``f`` per target were
    fitted by ``benchmarks/calibrate_conv_estimate.py`` to Yosys 0.70 runs of the 22
    configurations listed there (``docs/estimates.md``, "Conv core": in-sample LUT within
    6.1 % on iCE40, 11.1 % on ECP5, 15.5 % on xc7; FF within 8 %; BRAM and DSP exact).

DSP
    one multiplier per lane for direct-current input (``weight_bits x (input_bits + 1)``), on a
    DSP block where the target's DSP takes both operands (as the dense core), and the tap
    generator's multiplication of the event's channel by ``K*K*G`` where Yosys maps it to one.

Network glue (:func:`estimate_conv_network`)
    the dense cores (``hw.lif.estimate.estimate_core``), the ``LinkFifo`` after each conv core
    (a ``SplitMemory`` of ``depth`` events, plus its output register, level and pointers),
    the register slice of every link (two entries and two flags in flip-flops, one LUT per
    entry bit), :class:`~.flatten.Flatten` (its constant multiplications, in LUTs) and
    the top's 32-bit sample counter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from spikesmith.sim.lif import ResetMode

from ..common.mem import LUT_RAM_TARGETS, block_region
from ..common.streams import index_bits
from ..common.synth import ResourceCounts, Target
from ..lif.estimate import (
    _BLOCKS,
    _DISTRIBUTED,
    _DSP_OPERANDS,
    MemoryMapping,
    MemoryShape,
    ResourceEstimate,
    _mux_luts,
    estimate_core,
)
from .config import ConvCoreConfig
from .conv_core import SPIKE_QUEUE_DEPTH
from .conv_network import _fifo_depth
from .network_config import ConvNetworkConfig
from .tables import axis_taps, pack_weight_words, pass_order

__all__ = [
    "conv_core_memories",
    "estimate_conv_core",
    "estimate_conv_network",
    "estimate_layer",
    "map_conv_memory",
]


# ---------------------------------------------------------------------------------------------
# Memories


def _emit_bits(config: ConvCoreConfig) -> tuple[int, int, int]:
    """Bits of the emitted event's ``c``, ``y``, ``x`` fields."""
    c, h, w = config.emit_shape
    return index_bits(c), index_bits(h), index_bits(w)


def _varying_bits(words: Sequence[int], width: int) -> int:
    """Bits of ``width``-bit ``words`` that are not the same in every word: the width of a ROM
    after Yosys drops its constant bit columns (``opt_mem``)."""
    ones = zeros = 0
    for w in words:
        ones |= w
        zeros |= ~w
    return bin(ones & zeros & ((1 << width) - 1)).count("1")


#: Names of the :class:`~spikesmith.hw.common.mem.SplitMemory` parts that request LUT RAM (a
#: ROM part: logic) on the targets that have it (``hw.common.mem.LUT_RAM_TARGETS``).
_LUT_PARTS = ("side", "tail")


def _split(name: str, *, width: int, depth: int, words: Sequence[int] | None
           ) -> list[MemoryShape]:
    """Return the parts of a ``SplitMemory`` (``hw.common.mem``) of ``width`` x ``depth``
    named ``name/block``, ``name/side``, ``name/tail``; a ROM (``words`` given) is as wide as
    its bit columns that vary (:func:`_varying_bits`)."""
    rows, bits = block_region(width, depth)
    rom = words is not None
    parts = ((("block", range(rows), range(bits)), ("side", range(rows), range(bits, width)),
              ("tail", range(rows, depth), range(width))) if rows
             else (("tail", range(depth), range(width)),))
    out = []
    for part, w_range, b_range in parts:
        if not len(w_range) or not len(b_range):
            continue
        n_bits = len(b_range)
        if rom:
            mask = (1 << n_bits) - 1
            n_bits = _varying_bits([(v >> b_range.start) & mask
                                    for v in words[w_range.start:w_range.stop]], n_bits)
        out.append(MemoryShape(f"{name}/{part}", max(2, len(w_range)), n_bits, rom=rom))
    return out


def conv_core_memories(config: ConvCoreConfig) -> tuple[MemoryShape, ...]:
    """Return the memories that ``ConvCore(config)`` instantiates (see module docstring): the
    parts of its weight and state ``SplitMemory``, each ROM part as wide as its bits that vary
    over its words (its contents come from ``config``), and the spike queue."""
    p, g_n = config.lanes, config.groups
    _, ybits, xbits = _emit_bits(config)
    queue_bits = p + index_bits(g_n) + ybits + xbits + 1
    words = list(pack_weight_words(config))
    words += [0] * (config.weight_words - len(words))
    return (
        *_split("weights", width=p * config.weight_bits, depth=config.weight_words,
                words=words),
        *_split("state", width=p * config.state_bits, depth=config.state_words, words=None),
        MemoryShape("spike_queue", SPIKE_QUEUE_DEPTH, queue_bits, sync_read=False),
    )


#: Cost per bit of a ROM in soft logic in Yosys 0.70's ``memory_libmap``: 1/16 on the iCE40
#: and ECP5 (LUT4s), 1/64 on the 7 series (LUT6s). Read off the sweep: on the iCE40 an 800-bit
#: ROM stays in logic and a 1728-bit one takes a 64-cost block; on the ECP5 a 1728-bit ROM
#: stays in logic and a 4608-bit one takes two 128-cost blocks; on the xc7 the 4608-bit ROM
#: stays in logic (``hw.lif.estimate`` prices 1/64 everywhere: its calibration set has no ROM
#: between 800 and 4096 bits, where the two differ).
_ROM_COST = {Target.ICE40: 1 / 16, Target.ECP5: 1 / 16, Target.XC7: 1 / 64}
#: Cost per bit of each extra distributed-RAM unit in depth (its read multiplexer): the ECP5
#: puts a 48x22 state memory in ``TRELLIS_DPR16X4`` and a 64x26 one in a block; the xc7 a
#: 128x22 one in a block rather than 16 ``RAM64M`` (cost 128 against 129).
_DIST_MUX_COST = 1.0


def map_conv_memory(memory: MemoryShape, *, target: Target) -> MemoryMapping:
    """Place one memory of a conv core or link on ``target`` as Yosys 0.70's ``memory_libmap``
    does (the cheapest of soft logic, block RAM and distributed RAM, costs of
    ``hw.lif.estimate.map_memory`` with :data:`_ROM_COST` and :data:`_DIST_MUX_COST`).

    A tie goes to soft logic (the iCE40's 64x16 order ROM: 1024 bits at 1/16, one block, stays
    in logic). The one place to change when the core's memories change (module docstring).
    """
    d, w = memory.depth, memory.width
    if memory.name.rpartition("/")[2] in _LUT_PARTS and target.value in LUT_RAM_TARGETS:
        return _lut_part(memory, target=target)
    if memory.rom:
        # its LUTs are a fitted term of the logic (_lut_terms), not the read tree's count
        options = [(memory.bits * _ROM_COST[target], 0, MemoryMapping(memory, "logic", 0, 0, w))]
    else:
        ff = memory.bits + (w if memory.sync_read else 0)
        options = [(float(memory.bits), 0,
                    MemoryMapping(memory, "logic", 0, _mux_luts(d, w, target) + w, ff))]
        for depth, width, cost, sites in _DISTRIBUTED[target]:
            deep = math.ceil(d / depth)
            units = deep * math.ceil(w / width)
            mux = _mux_luts(deep, w, target)
            # a synchronous read registers the address (narrower than the data)
            ff = index_bits(d) if memory.sync_read else 0
            options.append((units * cost + _DIST_MUX_COST * w * (deep - 1), 1, MemoryMapping(
                memory, "distributed", 0, units * sites + mux, ff)))
    if memory.sync_read:
        for depth, width, count, cost in _BLOCKS[target]:
            blocks = math.ceil(d / depth) * math.ceil(w / width)
            options.append((float(blocks * cost), 2,
                            MemoryMapping(memory, "block", blocks * count, 0, 0)))
    return min(options, key=lambda o: (o[0], o[1]))[2]


def _lut_part(memory: MemoryShape, *, target: Target) -> MemoryMapping:
    """A ``SplitMemory`` part that requests LUT RAM where the target has it: a ROM in logic
    (priced by the fitted ROM term), a RAM in distributed RAM with its read multiplexer and
    registered address."""
    if memory.rom:
        return MemoryMapping(memory, "logic", 0, 0, memory.width)
    d, w = memory.depth, memory.width
    depth, width, _cost, sites = _DISTRIBUTED[target][0]
    deep = math.ceil(d / depth)
    units = deep * math.ceil(w / width)
    lut = units * sites + _mux_luts(deep, w, target)
    return MemoryMapping(memory, "distributed", 0, lut, index_bits(d) + w)


# ---------------------------------------------------------------------------------------------
# Logic


def _registers(config: ConvCoreConfig) -> int:
    """Return the flip-flops of ``ConvCore(config)`` outside its memories (``hw.conv``).

    Counted from ``tap_generator.py`` and ``conv_core.py``: the generator's address registers,
    the accumulate stages S1..S5, the neuron-pass stages Q0..N7, the serialiser and the spike
    queue's pointers.
    """
    p, g_n = config.lanes, config.groups
    gbits, wbits, sbits = index_bits(g_n), index_bits(config.weight_words), index_bits(
        config.state_words)
    _, ybits, xbits = _emit_bits(config)
    wb, ib, sb = config.weight_bits, config.input_bits, config.state_bits
    mb = config.lif.membrane.width
    vbits = max(1, ib)
    prod_bits = wb + (ib + 1 if ib > 1 else 0)
    sub = 1 if config.lif.reset is ResetMode.SUBTRACT else 0
    stage = 1 + gbits + sbits + ybits + xbits + 3
    generator = 1 + 3 * wbits + 3 * sbits + gbits + 3 * index_bits(config.kernel + 1) + vbits + 2
    control = 6 + sbits + gbits
    accumulate = 5 + 5 * sbits + vbits + 2 * p * prod_bits + 3 + 3 * p * sb + p * sb  # + state_q
    neuron = (index_bits(len(pass_order(config))) + 2 * gbits + 1 + 6 * stage
              + p * mb * (3 + sub) + 3 * p + p * sb + 1 + sbits + p * sb + p)
    serialiser = p + gbits + ybits + xbits + 2
    queue = 3 * index_bits(SPIKE_QUEUE_DEPTH + 1)
    return generator + control + accumulate + neuron + serialiser + queue


def _lut_terms(config: ConvCoreConfig, target: Target) -> tuple[float, ...]:
    """LUT cost terms of the core's logic: ``(1, P*state_bits, P*membrane_bits, address_bits,
    table_bits, logic_rom_bits)``.

    ``P*state_bits``: the accumulate adder, its 4:1 forwarding multiplexer, the saturation
    and the state write-data multiplexer per lane; ``P*membrane_bits``: fire compare, reset,
    leak and bias add per lane; ``address_bits``: the generator's weight and state address
    adders and multiplexers, the forwarding compares, the clear and pass counters (weight and
    state address widths); ``table_bits``: the generator's constant row and column tables
    (entries times width, multiplexers on the event's ``y`` and ``x``); ``logic_rom_bits``:
    bits of the ROMs :func:`map_conv_memory` leaves in soft logic, over 16 (their LUTs: the
    fit priced them better than a read-tree count, since ABC packs random contents unevenly).
    """
    p = config.lanes
    sb, mb = config.state_bits, config.lif.membrane.width
    addr = index_bits(config.weight_words) + index_bits(config.state_words)
    tables = 0
    for axis, size in ((1, config.in_shape[1]), (2, config.in_shape[2])):
        taps = axis_taps(config, axis=axis)
        k0 = max(t.k0 for t in taps) * config.groups * (config.kernel if axis == 1 else 1)
        o0 = max(t.o0 for t in taps) * config.groups * (config.out_shape[2] if axis == 1 else 1)
        width = sum(max(1, int(v).bit_length()) for v in (k0, o0, config.kernel))
        tables += size * width
    rom_bits = sum(m.bits for m in conv_core_memories(config)
                   if m.rom and map_conv_memory(m, target=target).kind == "logic")
    return (1.0, float(p * sb), float(p * mb), float(addr), float(tables), rom_bits / 16)


#: Per-target LUT cost per term of :func:`_lut_terms` (all >= 0) and flip-flops per term of
#: :func:`_ff_terms` beyond :func:`_registers`. Fitted by
#: ``benchmarks/calibrate_conv_estimate.py`` (the largest relative error of 22 Yosys 0.70
#: runs per target made small; ``docs/estimates.md``).
_LUT_FIT: dict[Target, tuple[float, ...]] = {
    Target.ICE40: (0.000, 0.000, 11.247, 22.415, 0.332, 2.028),
    Target.ECP5: (0.000, 0.000, 11.573, 23.064, 0.541, 2.181),
    Target.XC7: (0.000, 0.000, 6.447, 11.551, 0.210, 0.849),
}
_FF_FIT: dict[Target, tuple[float, ...]] = {
    Target.ICE40: (51.416, -9.456, 0.865, 0.821),
    Target.ECP5: (87.769, -54.224, 1.897, -0.000),
    Target.XC7: (51.969, 1.624, -2.727, 1.554),
}


def _ff_terms(config: ConvCoreConfig) -> tuple[float, ...]:
    """Flip-flop correction terms beyond :func:`_registers`: ``(1, P, P*state_bits,
    P*membrane_bits`` with a reset to zero``)`` (registers Yosys merges or drops: duplicated
    sums, constant bias bits, pipeline fields no later stage reads)."""
    p = config.lanes
    zero = config.lif.reset is ResetMode.ZERO
    return (1.0, float(p), float(p * config.state_bits),
            float(p * config.lif.membrane.width) if zero else 0.0)


#: Least product width (operand bits summed) at which Yosys 0.70 puts the tap generator's
#: constant multiplication ``c * (K*K*G)`` on a DSP block (``mul2dsp``: both operands at least
#: 2 bits, and on the iCE40 and xc7 a wide enough product). Read off the sweep and the
#: mnist5k conv network: ECP5 any (a 2-bit channel times 27 takes a ``MULT18X18D``), xc7 10
#: (4 + 5 bits stays in LUTs, 5 + 5 and 4 + 7 take a ``DSP48E1``), iCE40 above 11 (4 + 7 bits
#: stays in LUTs; no wider case measured).
_CONST_MUL_DSP_BITS = {Target.ICE40: 12, Target.ECP5: 4, Target.XC7: 10}


def _dsp(config: ConvCoreConfig, target: Target) -> int:
    """DSP blocks: the lane multipliers of direct-current input where the target's DSP takes
    both operands, and the tap generator's constant multiplication (:data:`_CONST_MUL_DSP_BITS`;
    a power-of-two constant is a shift)."""
    dsp = 0
    if config.input_bits > 1:
        a, b = config.weight_bits, config.input_bits + 1
        da, db = _DSP_OPERANDS[target]
        if min(a, b) <= min(da, db) and max(a, b) <= max(da, db):
            dsp = config.lanes
    const = config.kernel * config.kernel * config.groups
    c_bits, k_bits = index_bits(config.in_shape[0]), const.bit_length()
    if (const & (const - 1) and min(c_bits, k_bits) >= 2
            and c_bits + k_bits >= _CONST_MUL_DSP_BITS[target]):
        dsp += 1
    return dsp


def estimate_conv_core(config: ConvCoreConfig, *, target: Target) -> ResourceEstimate:
    """Return the analytic LUT/FF/BRAM/DSP estimate of ``ConvCore(config)`` on ``target``.

    Raises
    ------
    TypeError
        If ``config`` is not a ``ConvCoreConfig`` or ``target`` not a ``Target``.
    """
    if not isinstance(config, ConvCoreConfig):
        raise TypeError(f"config must be a ConvCoreConfig, not {config!r}")
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    mems = tuple(map_conv_memory(m, target=target) for m in conv_core_memories(config))
    lut = sum(c * x for c, x in zip(_LUT_FIT[target], _lut_terms(config, target),
                                    strict=True))
    lut += sum(m.lut for m in mems)
    ff = _registers(config) + sum(m.ff for m in mems) + sum(
        c * x for c, x in zip(_FF_FIT[target], _ff_terms(config), strict=True))
    return ResourceEstimate(
        target=target,
        resources=ResourceCounts(lut=max(0, round(lut)), ff=max(0, round(ff)),
                                 bram=sum(m.bram for m in mems), dsp=_dsp(config, target)),
        memories=mems,
    )


# ---------------------------------------------------------------------------------------------
# Network


def _link_fifo(config: ConvCoreConfig, *, depth: int, target: Target) -> ResourceCounts:
    """A ``LinkFifo`` of ``depth`` emitted events (``hw.conv.conv_network``):
    its ``SplitMemory`` parts (``depth`` words, synchronous read), the output register, level,
    pointers and handshake logic."""
    c, y, x = _emit_bits(config)
    width = c + y + x + 2
    mems = [map_conv_memory(m, target=target)
            for m in _split("link_fifo", width=width, depth=depth, words=None)]
    ptr = index_bits(depth)
    ff = sum(m.ff for m in mems) + width + 1 + 2 * (ptr + 1) + 2 * ptr
    lut = sum(m.lut for m in mems) + 4 * ptr + 6
    return ResourceCounts(lut=lut, ff=ff, bram=sum(m.bram for m in mems), dsp=0)


def _flatten(shape: tuple[int, int, int]) -> ResourceCounts:
    """:class:`~.flatten.Flatten`: ``(c*H + y)*W + x`` by constants, about one LUT per bit of
    each partial product of the two constant multiplications and each adder."""
    c, h, w = shape
    out = index_bits(c * h * w)
    terms = bin(h).count("1") + bin(w).count("1")
    return ResourceCounts(lut=out * terms, ff=0, bram=0, dsp=0)


def _slice(event_bits: int) -> ResourceCounts:
    """A register slice: two entries and two flags in flip-flops, one LUT per entry bit."""
    return ResourceCounts(lut=event_bits, ff=2 * event_bits + 2, bram=0, dsp=0)


def _event_bits(core) -> int:
    if isinstance(core, ConvCoreConfig):
        return sum(_emit_bits(core)) + 2
    return index_bits(core.n_out) + 2


def estimate_layer(core, *, target: Target) -> ResourceCounts:
    """Return the analytic resources of one core of a conv network (conv or dense)."""
    if isinstance(core, ConvCoreConfig):
        return estimate_conv_core(core, target=target).resources
    return estimate_core(core, target=target).resources


def estimate_conv_network(config: ConvNetworkConfig, *, target: Target) -> ResourceCounts:
    """Return the analytic resources of ``hw.conv.conv_network.ConvNetwork(config)`` on
    ``target``: the cores, the link FIFOs after conv cores, the flatten, the register slices
    and the top's sample counter (module docstring).

    Raises
    ------
    TypeError
        If ``config`` is not a ``ConvNetworkConfig``.
    """
    if not isinstance(config, ConvNetworkConfig):
        raise TypeError(f"config must be a ConvNetworkConfig, not {config!r}")
    parts = [estimate_layer(c, target=target) for c in config.cores]
    for a, b in zip(config.cores, config.cores[1:], strict=False):
        bits = _event_bits(a)
        if isinstance(a, ConvCoreConfig):
            parts.append(_link_fifo(a, depth=_fifo_depth(a), target=target))
            if not isinstance(b, ConvCoreConfig):
                parts.append(_flatten(a.emit_shape))
                bits = index_bits(math.prod(a.emit_shape)) + 2
        parts.append(_slice(bits))
    parts.append(ResourceCounts(lut=32 if target is Target.XC7 else 40, ff=32, bram=0, dsp=0))
    return ResourceCounts(**{f: sum(getattr(p, f) for p in parts)
                             for f in ("lut", "ff", "bram", "dsp", "spram")})
