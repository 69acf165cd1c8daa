# amaranth: UnusedElaboratable=no
"""``hw.common.mem.SplitMemory`` (the conv core's state and weight memories) against a list,
the per-target choice of distributed RAM, and the links' ``LinkFifo`` against a queue."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.hw.common.mem import (
    DISTRIBUTED_RAM,
    NO_RW_CHECK,
    SplitMemory,
    block_count,
    block_region,
    lut_ram_cost,
    yosys_memory_commands,
)
from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.conv.link_fifo import LinkFifo


def run_random_traffic(dut: SplitMemory, init: list[int], *, cycles: int, seed: int
                       ) -> tuple[list[int], list[int]]:
    """Drive random reads and writes for ``cycles`` cycles; return the words read and those a
    list model of the memory expects (the word before that cycle's write, after the edge)."""
    rng = np.random.default_rng(seed)
    model = list(init) + [0] * (dut.depth - len(init))
    got, want = [], []

    async def bench(ctx):
        for _ in range(cycles):
            r_addr = int(rng.integers(dut.depth))
            ctx.set(dut.r_addr, r_addr)
            write = dut.writable and bool(rng.integers(2))
            if dut.writable:
                w_addr, w_data = int(rng.integers(dut.depth)), int(rng.integers(1 << dut.width))
                ctx.set(dut.w_addr, w_addr)
                ctx.set(dut.w_data, w_data)
                ctx.set(dut.w_en, write)
            sample = model[r_addr]
            await ctx.tick()  # the read data of the address set before the edge
            got.append(ctx.get(dut.r_data))
            want.append(sample)
            if write:
                model[w_addr] = w_data

    run_scenario(dut, testbenches=[bench])
    return got, want


@pytest.mark.parametrize(("width", "depth", "writable", "parts"), [
    (40, 1100, True, {"block", "side", "tail"}),   # 1024 x 36 blocks, 4 bits, 76 words
    (40, 1100, False, {"block", "side", "tail"}),  # the same read-only (weights)
    (12, 1094, True, {"block", "tail"}),           # 1024 x 12 blocks, 70 words
    (14, 1024, True, {"block"}),
    (12, 70, True, {"tail"}),
])
def test_split_memory_reads_what_a_list_holds(width, depth, writable, parts):
    rng = np.random.default_rng(depth)
    init = [int(v) for v in rng.integers(1 << width, size=depth - 5)]
    dut = SplitMemory(width=width, depth=depth, init=init, writable=writable,
                      attrs=NO_RW_CHECK)
    rows, bits = dut.rows, dut.bits
    present = {"block": rows > 0, "side": 0 < bits < width, "tail": rows < depth}
    assert {name for name, here in present.items() if here} == parts
    got, want = run_random_traffic(dut, init, cycles=3 * depth // 2, seed=depth)
    assert got == want


def test_block_region_of_the_mnist5k_conv_memories():
    # first core's state: 1 152 words of 8 x 25 bits; 18 DP16KD as one memory
    assert block_count(200, 1152) == 18
    assert block_region(200, 1152) == (1024, 198) and block_count(198, 1024) == 11
    # second core's state (256 words) and weights (1 600 words of 8 x 8 bits)
    assert block_region(200, 256) == (256, 180) and block_count(180, 256) == 5
    assert block_region(64, 1600) == (1536, 64) and block_count(64, 1536) == 6
    # a small memory is LUT RAM whole
    assert block_region(64, 50) == (0, 0)
    assert lut_ram_cost(4, 32) == 2 * 4 + 4 * 1


def test_split_memory_refuses_bad_shapes():
    with pytest.raises(ValueError, match="width and depth must be positive, not 0 and 4"):
        SplitMemory(width=0, depth=4)
    with pytest.raises(ValueError, match="init must hold at most 2 words, not 3"):
        SplitMemory(width=4, depth=2, init=[1, 2, 3])


def test_distributed_ram_is_requested_only_where_the_target_has_it():
    assert yosys_memory_commands("ecp5") == yosys_memory_commands("xc7") == ()
    (command,) = yosys_memory_commands("ice40")
    assert command == f"setattr -unset {next(iter(DISTRIBUTED_RAM))} a:ram_style"


@pytest.mark.parametrize("depth", [4, 5])
def test_link_fifo_keeps_order_under_random_traffic(depth):
    """Random writes and reads: the words come out in order, none lost, the level and the
    ready flags as a queue of ``depth + 1`` words says."""
    dut = LinkFifo(width=8, depth=depth)
    rng = np.random.default_rng(depth)
    sent, got = [], []

    async def bench(ctx):
        queue = 0
        for _ in range(400):
            w_en, r_en = bool(rng.integers(2)), bool(rng.integers(2))
            word = int(rng.integers(256))
            ctx.set(dut.w_en, w_en)
            ctx.set(dut.w_data, word)
            ctx.set(dut.r_en, r_en)
            assert ctx.get(dut.level) == queue
            w_rdy, r_rdy, data = ctx.get(dut.w_rdy), ctx.get(dut.r_rdy), ctx.get(dut.r_data)
            # room below depth words; none at depth + 1 (the memory and the output register)
            assert w_rdy if queue < depth else not w_rdy if queue == depth + 1 else True
            await ctx.tick()
            if w_en and w_rdy:
                sent.append(word)
                queue += 1
            if r_en and r_rdy:
                got.append(data)
                queue -= 1

    run_scenario(dut, testbenches=[bench])
    assert len(got) > 100 and got == sent[:len(got)]
