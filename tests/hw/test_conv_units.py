# amaranth: UnusedElaboratable=no
"""The conv core's units: configuration checks, address tables and the tap generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from amaranth.sim import Simulator
from conv_cases import make_config

from spikesmith.hw.common.testing import run_scenario, stream_put
from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.flatten import Flatten
from spikesmith.hw.conv.pass_counter import PassCounter
from spikesmith.hw.conv.tables import axis_taps, pack_weight_words, pass_order
from spikesmith.hw.conv.tap_generator import TapGenerator
from spikesmith.sim.conv import PoolLayer, conv_synaptic_input


def run_generator(cfg, events):
    """Feed ``events`` ``(c, y, x)`` then a marker; return the updates ``(cycle, waddr, saddr,
    eot)`` seen with ``o`` always ready."""
    dut = TapGenerator(cfg)
    seen = []

    async def producer(ctx):
        for c, y, x in events:
            await stream_put(ctx, dut.i, {"c": c, "y": y, "x": x})
        await stream_put(ctx, dut.i, {"eot": 1, "last": 1})

    async def consumer(ctx):
        ctx.set(dut.o.ready, 1)
        cycle = 0
        while not seen or not seen[-1][3]:
            _, _, valid, p = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                seen.append((cycle, p.waddr, p.saddr, p.eot))
            cycle += 1

    run_scenario(dut, testbenches=[producer, consumer])
    return seen


def _apply(cfg, updates) -> np.ndarray:
    """Return ``I - b`` (channel-major) from adding each update's weight word to its state word."""
    words = pack_weight_words(cfg)
    p, wb, g_n = cfg.lanes, cfg.weight_bits, cfg.groups
    c_out, e = cfg.out_shape[0], cfg.positions
    acc = np.zeros(c_out * e, np.int64)
    for _, waddr, saddr, eot in updates:
        if eot:
            continue
        pos, g = divmod(saddr, g_n)
        for j in range(p):
            o = g * p + j
            if o < c_out:
                w = (words[waddr] >> (j * wb)) & ((1 << wb) - 1)
                acc[o * e + pos] += w - (1 << wb) if w >> (wb - 1) else w
    return acc


@pytest.mark.parametrize("kwargs", [
    dict(kernel=3, stride=1, padding=1, lanes=2, c_out=3),
    dict(kernel=4, stride=2, padding=3, lanes=1, c_out=2, size=7),
    dict(kernel=5, stride=2, padding=0, lanes=4, c_out=3, size=8),
])
def test_tap_generator_scatters_each_spike_like_sim_conv(kwargs):
    """Every input position alone: the updates add up to sim.conv's synaptic input (bias
    aside), one update per cycle, no cycle lost between events."""
    cfg = make_config(**kwargs, bias=False, seed=3)
    c_in, h, w = cfg.in_shape
    events = [(c, y, x) for c in range(c_in) for y in range(h) for x in range(w)]
    updates = run_generator(cfg, events)
    n_in = math.prod(cfg.in_shape)
    start = 0
    for k, (c, y, x) in enumerate(events):
        one = np.zeros((1, n_in), np.uint8)
        one[0, (c * h + y) * w + x] = 1
        expected = conv_synaptic_input(one, cfg.layer)[0]
        # the updates of event k are the next (taps of y) * (taps of x) * G ones
        rows, cols = axis_taps(cfg, axis=1)[y], axis_taps(cfg, axis=2)[x]
        n = rows.n * cols.n * cfg.groups
        assert _apply(cfg, updates[start:start + n]).tolist() == expected.tolist(), (k, c, y, x)
        start += n
    assert updates[start][3] == 1 and start + 1 == len(updates)
    # back to back: the updates occupy consecutive cycles except after tapless events
    busy = [u[0] for u in updates]
    assert busy[-1] - busy[0] + 1 == len(updates) + sum(
        1 for _, y, x in events if axis_taps(cfg, axis=1)[y].n * axis_taps(cfg, axis=2)[x].n == 0)


def test_pass_order_visits_every_position_once_windows_together():
    cfg = make_config(size=7, kernel=2, stride=1, padding=0, pool=2)  # 6x6 output, 3x3 windows
    order = pass_order(cfg)
    assert sorted(e.pos for e in order) == list(range(cfg.positions))
    w = cfg.out_shape[2]
    emitted = [e for e in order if e.emit]
    assert len(emitted) == 36 and [e.open for e in emitted[:4]] == [True, False, False, False]
    assert [e.close for e in emitted[:4]] == [False, False, False, True]
    # the first window is positions (0,0) (0,1) (1,0) (1,1) and emits as (0,0)
    assert [e.pos for e in emitted[:4]] == [0, 1, w, w + 1]
    assert {(e.y, e.x) for e in emitted[:4]} == {(0, 0)}


def test_pass_order_updates_but_never_emits_dropped_rows():
    cfg = make_config(size=7, kernel=1, stride=1, padding=0, pool=2)  # 7x7 -> 3x3 pooled
    order = pass_order(cfg)
    dropped = [e.pos for e in order if not e.emit]
    assert dropped == [6, 13, 20, 27, 34, 41, 42, 43, 44, 45, 46, 47, 48]
    assert sum(e.close for e in order if e.emit) == 9


def run_pass_counter(cfg, steps: int, *, restart_at: int | None = None):
    """Return the counter's entries ``(base, y, x, open, close, emit)`` over ``steps`` cycles of
    ``advance`` (``restart`` instead at cycle ``restart_at``)."""
    dut = PassCounter(cfg)
    seen = []

    async def bench(ctx):
        for cycle in range(steps):
            restart = cycle == restart_at
            ctx.set(dut.restart, restart)
            ctx.set(dut.advance, 1)
            seen.append(tuple(ctx.get(getattr(dut, n))
                              for n in ("base", "y", "x", "open", "close", "emit")))
            await ctx.tick()

    run_scenario(dut, testbenches=[bench])
    return seen


@pytest.mark.parametrize(("size", "kernel", "pool", "lanes"), [
    (7, 2, 2, 2),    # 6x6 map, 3x3 windows, no leftover
    (7, 1, 2, 1),    # 7x7 map: a leftover column and row
    (8, 2, 3, 4),    # 7x7 map, 3x3 pooling: two leftover columns and rows
    (6, 2, None, 2),  # no pooling: row-major
    (5, 2, 4, 2),    # 4x4 map, one 4x4 window, nothing left over
])
def test_pass_counter_follows_pass_order_and_wraps(size, kernel, pool, lanes):
    cfg = make_config(size=size, kernel=kernel, stride=1, padding=0, pool=pool, lanes=lanes)
    want = [(e.pos * cfg.groups, e.y, e.x, int(e.open), int(e.close), int(e.emit))
            for e in pass_order(cfg)]
    n = len(want)
    assert run_pass_counter(cfg, 2 * n + 3) == want + want + want[:3]
    # a restart returns to the first entry from the middle of the order
    assert run_pass_counter(cfg, n + 5, restart_at=4)[5:] == want[:n]


def test_axis_taps_of_strided_padded_rows():
    # K=3, S=2, P=1, H=5 -> H_out=3; row y reaches oy with 2*oy + ky - 1 == y
    cfg = make_config(size=5, kernel=3, stride=2, padding=1)
    taps = [(t.k0, t.o0, t.n) for t in axis_taps(cfg, axis=1)]
    assert taps == [(1, 0, 1), (0, 1, 2), (1, 1, 1), (0, 2, 2), (1, 2, 1)]
    with pytest.raises(ValueError, match=r"axis must be 1 \(rows\) or 2 \(columns\), not 0"):
        axis_taps(cfg, axis=0)


def test_conv_core_config_rejects_bad_input():
    cfg = make_config()
    layer = cfg.layer
    with pytest.raises(ValueError, match="core name must be an identifier, not 'a b'"):
        ConvCoreConfig(name="a b", layer=layer, acc_bits=8, lanes=2)
    with pytest.raises(TypeError, match="layer must be a ConvLayer, not 3"):
        ConvCoreConfig(name="c", layer=3, acc_bits=8, lanes=2)
    with pytest.raises(TypeError, match="pool must be a PoolLayer or None, not 2"):
        ConvCoreConfig(name="c", layer=layer, pool=2, acc_bits=8, lanes=2)
    wrong = PoolLayer(kernel=2, in_shape=(3, 8, 8))
    with pytest.raises(ValueError, match=r"pool input shape must be the conv output shape "
                                         r"\(3, 6, 6\), not \(3, 8, 8\)"):
        ConvCoreConfig(name="c", layer=layer, pool=wrong, acc_bits=8, lanes=2)
    with pytest.raises(ValueError, match="input_bits must be 1 \\(spikes\\) or 8 \\(direct\\), "
                                         "not 4"):
        ConvCoreConfig(name="c", layer=layer, acc_bits=8, lanes=2, input_bits=4)
    with pytest.raises(ValueError, match="lanes"):
        ConvCoreConfig(name="c", layer=layer, acc_bits=8, lanes=3)


def test_conv_core_config_shapes():
    cfg = make_config(c_in=2, c_out=3, size=6, kernel=3, stride=1, padding=1, lanes=2, pool=2)
    assert (cfg.in_shape, cfg.out_shape, cfg.emit_shape) == ((2, 6, 6), (3, 6, 6), (3, 3, 3))
    assert (cfg.groups, cfg.positions, cfg.state_words, cfg.weight_words) == (2, 36, 72, 36)
    assert cfg.state_bits == max(10, cfg.acc_bits) + 1
    assert len(pack_weight_words(cfg)) == cfg.weight_words


def test_flatten_gives_the_channel_major_index_of_sim_conv():
    """Flatten is combinational: every (c, y, x) and a marker, checked without a clock."""
    shape = (3, 5, 7)
    dut = Flatten(shape)
    sent = [(c, y, x, 0, 0) for c in range(3) for y in range(5) for x in range(7)]
    sent.append((0, 0, 0, 1, 1))
    got = []

    async def testbench(ctx):
        ctx.set(dut.o.ready, 1)
        for c, y, x, eot, last in sent:
            ctx.set(dut.i.payload, {"c": c, "y": y, "x": x, "eot": eot, "last": last})
            ctx.set(dut.i.valid, 1)
            p = ctx.get(dut.o.payload)
            got.append((ctx.get(dut.o.valid), ctx.get(dut.i.ready), p.index, p.eot, p.last))

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    flat = np.ravel_multi_index(np.array(sent)[:-1, :3].T, shape).tolist()
    assert got == [(1, 1, i, 0, 0) for i in flat] + [(1, 1, 0, 1, 1)]
    with pytest.raises(ValueError, match=r"shape must be three positive integers \(C, H, W\), "
                                         r"not \(3, 0, 7\)"):
        Flatten((3, 0, 7))
