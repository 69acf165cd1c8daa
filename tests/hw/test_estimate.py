"""Tests of hw.lif.estimate and hw.lif.estimate_timing: memory mapping by hand, exact cycle
counts against the simulator, the analytic Fmax's monotonicity."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from spikesmith.hw.common.synth import Target
from spikesmith.hw.lif import estimate, estimate_timing
from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.hw.lif.estimate import (
    MemoryShape,
    core_memories,
    estimate_core,
    estimate_cycles,
    map_memory,
    synaptic_ops_per_cycle,
    timestep_cycles,
)
from spikesmith.hw.lif.estimate_timing import estimate_fmax
from spikesmith.hw.lif.lif_core import LIFCore
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer


def _config(n_in: int, n_out: int, *, lanes: int, weight_bits: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (weight_bits - 1)), 1 << (weight_bits - 1), size=(n_out, n_in))
    w[:, :2] = (1 << (weight_bits - 1)) - 1  # inputs 0 and 1 excite every neuron
    return LIFCoreConfig(
        name="c",
        layer=DenseLayer(weights=w, weight_bits=weight_bits, lif=LIFParams(threshold=6)),
        acc_bits=12,
        input_bits=1,
        lanes=lanes,
    )


def test_all_names_exist():
    for module in (estimate, estimate_timing):
        for name in module.__all__:
            assert hasattr(module, name), name


@pytest.mark.parametrize(
    ("depth", "width", "target", "bram"),
    [
        # iCE40 4 kbit: 512 x 16 -> two 256x16 blocks
        (512, 16, Target.ICE40, 2),
        # 2048 x 4: 2 blocks of 2048x2 (or 4 of 1024x4, 8 of 256x16): 2
        (2048, 4, Target.ICE40, 2),
        # 12544 x 32 ROM: 49 x 2 blocks of 256x16
        (12544, 32, Target.ICE40, 98),
        # ECP5 18 kbit: 512 x 32 fits one 512x36 PDPW16KD
        (512, 32, Target.ECP5, 1),
        # 4096 x 8: 2 blocks of 2048x9
        (4096, 8, Target.ECP5, 2),
        # xc7: 4096 x 32 ROM: 8 x 512x36 RAMB18 = 4 x 512x72 RAMB36 = 8 RAMB18 units
        (4096, 32, Target.XC7, 8),
        # xc7: 2048 x 9 -> one RAMB18
        (2048, 9, Target.XC7, 1),
    ],
)
def test_block_ram_count_of_large_rom(depth, width, target, bram):
    m = map_memory(MemoryShape("weights", depth, width, rom=True), target=target)
    assert (m.kind, m.bram) == ("block", bram)


def test_small_rom_goes_to_logic_on_xc7_at_cost_tie_boundary():
    # 8192 bits * 1/64 = 128 < 129 (one RAMB18): Yosys keeps it in LUTs
    small = map_memory(MemoryShape("weights", 2048, 4, rom=True), target=Target.XC7)
    assert small.kind == "logic"
    big = map_memory(MemoryShape("weights", 512, 32, rom=True), target=Target.XC7)
    assert (big.kind, big.bram) == ("block", 1)


def test_async_read_memory_never_uses_block_ram():
    fifo = MemoryShape("spike_fifo", 32, 6, sync_read=False)
    assert map_memory(fifo, target=Target.ICE40).kind == "logic"
    assert map_memory(fifo, target=Target.ECP5).kind == "distributed"
    assert map_memory(fifo, target=Target.XC7).kind == "distributed"


def test_ice40_ram_tie_goes_to_flip_flops():
    # 4 x 128 bits: 8 blocks (cost 512) against 512 flip-flops (cost 512)
    m = map_memory(MemoryShape("mem", 4, 128), target=Target.ICE40)
    assert (m.kind, m.ff) == ("logic", 4 * 128 + 128)


def test_core_memories_match_lif_core_layout():
    cfg = _config(64, 32, lanes=4)
    shapes = {m.name: (m.depth, m.width) for m in core_memories(cfg)}
    # state lanes: max(membrane 16, acc 12) + 1 = 17 bits
    assert shapes == {
        "weights": (64 * 8, 16),
        "state": (8, 4 * 17),
        "spike_fifo": (8, 4 + 3 + 1),  # mask, group, "at most one spike" flag
    }
    core = LIFCore(cfg)
    Fragment.get(core, None)  # elaborate: the memory of that width exists
    assert core.state_bits == 17


def test_estimate_core_bram_for_hand_case():
    cfg = _config(64, 32, lanes=4)  # weights 512x16, state 8x68
    ice40 = estimate_core(cfg, target=Target.ICE40).resources
    # two 256x16 blocks of weights; 68-bit state: five 16-bit-wide blocks (cost 5*64 + 68
    # bypass) beat 8*68 flip-flops
    assert ice40.bram == 2 + 5
    assert estimate_core(cfg, target=Target.ECP5).resources.bram == 1
    assert ice40.lut > 0
    assert ice40.ff > 0


def test_estimate_core_rejects_bad_target():
    with pytest.raises(TypeError, match="target must be a Target, not 'xc7'"):
        estimate_core(_config(8, 8, lanes=1), target="xc7")


def test_timestep_cycles_without_events_or_spikes():
    cfg = _config(8, 10, lanes=4)  # G = 3
    # the neuron pass takes one neuron per cycle: G * P = 12 cycles
    assert timestep_cycles(cfg, events=0) == 12 + 7
    assert timestep_cycles(cfg, events=2) == 2 * 3 + 4 + 12 + 5 + 1


def test_timestep_cycles_rejects_negative_events():
    with pytest.raises(ValueError, match="events must be a non-negative integer, not -1"):
        timestep_cycles(_config(8, 8, lanes=1), events=-1)


def test_synaptic_ops_per_cycle_approaches_lanes():
    cfg = _config(64, 32, lanes=4)
    sops = synaptic_ops_per_cycle(cfg, events=64)
    assert 3.5 < sops < 4


def _measure(cfg: LIFCoreConfig, steps: list[list[int]]) -> list[tuple[int, list[int]]]:
    """Run LIFCore in the Amaranth simulator; return (cycles, spikes) per timestep."""
    dut = LIFCore(cfg)
    out = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        cycle = 0
        for t, events in enumerate(steps):
            items = [(i, 0) for i in events] + [(0, 1)]
            k, start, spikes = 0, None, []
            while True:
                if k < len(items):
                    ctx.set(dut.i.valid, 1)
                    ctx.set(dut.i.payload.index, items[k][0])
                    ctx.set(dut.i.payload.eot, items[k][1])
                    ctx.set(dut.i.payload.last, int(items[k][1] and t == len(steps) - 1))
                else:
                    ctx.set(dut.i.valid, 0)
                accepted = k < len(items) and ctx.get(dut.i.ready)
                o_valid, o_eot = ctx.get(dut.o.valid), ctx.get(dut.o.payload.eot)
                if o_valid and not o_eot:
                    spikes.append(ctx.get(dut.o.payload.index))
                if accepted:
                    start = cycle if start is None else start
                    k += 1
                await ctx.tick()
                cycle += 1
                if o_valid and o_eot:
                    out.append((cycle - start, spikes))
                    break

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return out


@pytest.mark.parametrize(("n_in", "n_out", "lanes"), [(8, 8, 1), (8, 10, 4), (16, 16, 2)])
def test_cycle_model_equals_simulated_lif_core(n_in, n_out, lanes):
    cfg = _config(n_in, n_out, lanes=lanes, seed=n_out)
    steps = [[], [0], [0, 1, 3], list(range(n_in))]
    measured = _measure(cfg, steps)
    for events, (cycles, spikes) in zip(steps, measured, strict=True):
        mask = np.zeros(n_out, dtype=bool)
        mask[spikes] = True
        assert timestep_cycles(cfg, events=len(events), spikes=mask) == cycles
    total = estimate_cycles(
        cfg,
        input_events_per_step=[len(e) for e in steps],
        spikes=[np.isin(np.arange(n_out), s) for _, s in measured],
    )
    assert total == sum(c for c, _ in measured)


def test_network_synops_per_cycle_uses_the_cycle_model():
    c0, c1 = _config(8, 8, lanes=2), _config(8, 4, lanes=2)
    net = NetworkConfig(cores=(c0, c1), timesteps=2)
    cycles = timestep_cycles(c0, events=8) + timestep_cycles(c1, events=8)
    assert estimate.network_synops_per_cycle(net) == (8 * 8 + 8 * 4) / cycles


@pytest.mark.parametrize("target", [Target.ICE40, Target.ECP5])
def test_estimate_fmax_positive_and_monotonic_in_width(target):
    narrow = _config(16, 32, lanes=4)
    fmax = [
        estimate_fmax(dataclasses.replace(narrow, acc_bits=bits), target=target)
        for bits in (8, 12, 16, 24, 32, 40, 48)
    ]
    assert all(f > 0 and math.isfinite(f) for f in fmax)
    assert all(a >= b for a, b in itertools.pairwise(fmax))
    if target is Target.ICE40:
        # a wide enough state puts the accumulate carry chain on the critical path
        assert fmax[-1] < fmax[0]


def test_estimate_fmax_network_and_errors():
    c0 = _config(8, 16, lanes=4)
    c1 = dataclasses.replace(_config(16, 4, lanes=2), name="c1")
    net = NetworkConfig(cores=(c0, c1), timesteps=2)
    for target in (Target.ICE40, Target.ECP5):
        f_net = estimate_fmax(net, target=target)
        # a network is never faster than its slowest core
        assert 0 < f_net <= min(estimate_fmax(c, target=target) for c in net.cores)
    with pytest.raises(ValueError, match="timing model"):
        estimate_fmax(c0, target=Target.XC7)
    with pytest.raises(TypeError):
        estimate_fmax(object(), target=Target.ICE40)
    with pytest.raises(TypeError):
        estimate_fmax(c0, target="ice40")
