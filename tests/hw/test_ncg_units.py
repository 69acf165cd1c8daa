# amaranth: UnusedElaboratable=no
"""Each unit of the NCG core alone in the Amaranth simulator, against sim.ncg or small tables.

The testbench plays the sequencer (drives ``state`` and the strobes) and the shared resources:
memories (:func:`serve_memory`: a registered read, a write per cycle) and the divider
(:func:`serve_divider`, a few cycles of ``busy`` then ``n // d``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ncg_core import small_params

from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.ncg.interface import NCGInterface
from spikesmith.hw.ncg.lanes import NCGLanes
from spikesmith.hw.ncg.memories import NCGMemory, memory_geometry
from spikesmith.hw.ncg.ncg_streams import NCGKind, NCGOp, NCGReg, NCGSpace, NCGWidths
from spikesmith.hw.ncg.sequencer import NCGSequencer, NCGState
from spikesmith.hw.ncg.winners import NCGWinners
from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg_random import draw_block
from spikesmith.sim.ncg_types import Method, Regulation, first_winner, group_winners

S = NCGState
SLOW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def serve_memory(words: dict, read=None, write=None, granularity=None):
    """A process serving one memory: ``read.data`` is the word at the previous cycle's
    ``read.addr``; ``write`` stores ``data`` at ``addr`` where ``en`` (one bit per
    ``granularity`` bits, or per word)."""
    async def process(ctx):
        sigs = ([read.addr] if read is not None else []) + (
            [write.addr, write.data, write.en] if write is not None else [])
        async for _clk, _rst, *vals in ctx.tick().sample(*sigs):
            if read is not None:
                ctx.set(read.data, words.get(vals[0], 0))
                vals = vals[1:]
            if write is None or not vals[2]:
                continue
            addr, value, en = vals
            if granularity is None:
                words[addr] = value
                continue
            mask = sum(((1 << granularity) - 1) << (granularity * b)
                       for b in range(len(write.en)) if en >> b & 1)
            words[addr] = (words.get(addr, 0) & ~mask) | (value & mask)
    return process


def serve_divider(req, latency=3):
    """A process answering ``req.start`` with ``busy`` for ``latency`` cycles, then ``n // d``."""
    async def process(ctx):
        left = 0
        async for _clk, _rst, start, n, d in ctx.tick().sample(req.start, req.dividend,
                                                              req.divisor):
            if left:
                left -= 1
                ctx.set(req.busy, left != 0)
            elif start:
                left = latency
                ctx.set(req.busy, 1)
                ctx.set(req.quotient, n // d)
    return process


def set_ctl(ctx, ctl, params, *, train=1, label=0, n_events=0, rates=None):
    """Drive the control bundle as the interface would."""
    g_t, g_nt = params.gaps
    vals = {"train": train, "label": label, "n_events": n_events, "g_t": g_t, "g_nt": g_nt}
    if rates is not None:
        vals.update(a_plus=rates.a_plus, a_minus=rates.a_minus, anti_a_plus=rates.anti_a_plus,
                    anti_a_minus=rates.anti_a_minus, eta_win=rates.eta_win,
                    eta_lose=rates.eta_lose)
    for name, v in vals.items():
        ctx.set(getattr(ctl, name), v)


def random_outputs(params, rng):
    """Random (bins, potentials) of the N neurons, many ties."""
    n, k = params.config.class_map.n_neurons, params.time_bins
    t = rng.integers(0, k + 1, n)
    t[rng.random(n) < 0.3] = k
    return t.astype(np.int64), rng.integers(0, 40, n).astype(np.int64)


# --- sequencer ----------------------------------------------------------------------------

TRAINING_PATH = [  # (strobes high in the cycle, state after the clock edge)
    ({"cmd_read": 1}, S.READ), ({}, S.READ), ({"read_done": 1}, S.IDLE),
    ({"cmd_end": 1}, S.FWD_START), ({}, S.FWD_LOAD), ({}, S.FWD_DONE), ({}, S.FWD_DONE),
    ({"neuron_done": 1}, S.FWD_START), ({}, S.FWD_LOAD), ({"run": 1}, S.FWD_RUN),
    ({}, S.FWD_RUN), ({"spike": 1}, S.FWD_DONE), ({"neuron_done": 1}, S.FWD_START),
    ({}, S.FWD_LOAD), ({"run": 1}, S.FWD_RUN), ({"end": 1}, S.FWD_FINAL), ({}, S.FWD_DONE),
    ({"neuron_done": 1, "finish": 1, "train": 1, "regulate": 1}, S.REG_RD), ({}, S.REG_ADD),
    ({}, S.REG_WR), ({}, S.REG_RD), ({}, S.REG_ADD), ({}, S.REG_WR),
    ({"reg_last": 1}, S.ERR_START),
    ({"divide": 1}, S.ERR_DIV), ({"div_busy": 1}, S.ERR_DIV), ({}, S.SLOT_RD), ({}, S.SLOT),
    ({}, S.SLOT_RD), ({}, S.SLOT), ({"error": 1}, S.ROW_MUL), ({}, S.ROW_PROD),
    ({}, S.ROW_SHIFT), ({}, S.PRE), ({}, S.PRE), ({"pre_done": 1}, S.NORM_PROD), ({}, S.NORM),
    ({}, S.NORM_DIV), ({"div_busy": 1}, S.NORM_DIV), ({}, S.UPD), ({}, S.UPD),
    ({"row_done": 1}, S.SLOT_RD), ({}, S.SLOT), ({"last_slot": 1}, S.CLEAR), ({}, S.CLEAR),
    ({"clear_done": 1}, S.RESULT), ({}, S.RESULT), ({"result_done": 1}, S.IDLE),
]
INFERENCE_PATH = [
    ({"cmd_end": 1}, S.FWD_START), ({}, S.FWD_LOAD), ({}, S.FWD_DONE),
    ({"neuron_done": 1, "finish": 1, "regulate": 1}, S.CLEAR),
]
RSTDP_PATH = [  # no regulation, no normalisation: ERR_START to ROW_MUL, ROW_SHIFT to UPD
    ({"cmd_end": 1}, S.FWD_START), ({}, S.FWD_LOAD), ({}, S.FWD_DONE),
    ({"neuron_done": 1, "finish": 1, "train": 1, "regulate": 1}, S.ERR_START),
    ({"divide": 1}, S.ROW_MUL), ({}, S.ROW_PROD), ({}, S.ROW_SHIFT), ({}, S.UPD),
    ({"row_done": 1, "last_slot": 1}, S.CLEAR),
]


@pytest.mark.parametrize(("kwargs", "path"), [
    ({}, TRAINING_PATH), ({}, INFERENCE_PATH),
    ({"method": Method.RSTDP, "regulation": Regulation.NONE, "w_norm": False}, RSTDP_PATH),
], ids=["training", "inference", "rstdp"])
def test_sequencer_paths(kwargs, path):
    dut = NCGSequencer(small_params(**kwargs))
    got = []

    async def bench(ctx):
        for strobes, _ in path:
            for name, v in strobes.items():
                ctx.set(getattr(dut, name), v)
            await ctx.tick()
            for name in strobes:
                ctx.set(getattr(dut, name), 0)
            got.append(ctx.get(dut.state))

    run_scenario(dut, testbenches=[bench])
    assert got == [state for _, state in path]


# --- LFSR lanes ---------------------------------------------------------------------------

@SLOW
@given(seeds=st.lists(st.integers(1, (1 << 24) - 1), min_size=9, max_size=9),
       steps=st.integers(1, 5))
def test_lanes_match_draw_block(seeds, steps):
    params = small_params(lanes=8)
    dut = NCGLanes(params)
    p = params.lanes
    got_draws, got_regs = [], []

    async def bench(ctx):
        for q, s in enumerate(seeds):
            ctx.set(dut.host.wr_en, 1)
            ctx.set(dut.host.wr_index, q)
            ctx.set(dut.host.wr_data, s)
            await ctx.tick()
        ctx.set(dut.host.wr_index, p + 3)      # no such register: ignored
        ctx.set(dut.host.wr_data, 0)
        await ctx.tick()
        ctx.set(dut.host.wr_en, 0)
        for strobe in [dut.step] * steps + [dut.step_dropout]:
            got_draws.append([ctx.get(dut.draws[q]) for q in range(p + 1)])
            ctx.set(strobe, 1)
            await ctx.tick()
            ctx.set(strobe, 0)
        for q in range(p + 1):
            ctx.set(dut.host.rd_index, q)
            got_regs.append(ctx.get(dut.host.rd_data))

    run_scenario(dut, testbenches=[bench])
    draws, regs = draw_block(np.array(seeds[:p]), LFSR24, draws=steps)
    d_draw, d_reg = draw_block(np.array(seeds[p:]), LFSR24, draws=1)
    assert [row[:p] for row in got_draws[:steps]] == draws.T.tolist()
    assert got_draws[steps][p] == int(d_draw[0, 0])
    assert got_regs == [*regs.tolist(), int(d_reg[0])]


def test_lanes_rejects_non_params():
    with pytest.raises(TypeError, match="NCGParams"):
        NCGLanes(8)


# --- winners ------------------------------------------------------------------------------

@SLOW
@given(seed=st.integers(0, 2**16), wta=st.booleans(), label=st.integers(0, 2))
def test_winners_match_spike_order(seed, wta, label):
    params = small_params(class_wta=wta, m=3, n_nt=1)
    cm, k = params.config.class_map, params.time_bins
    t, v = random_outputs(params, np.random.default_rng(seed))
    dut = NCGWinners(params)
    slots: dict = {}
    got = {}

    async def bench(ctx):
        ctx.set(dut.ctl.label, label)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for j in range(cm.n_neurons):
            for name, val in (("index", j), ("position", j % cm.neurons_per_class),
                              ("group", j // cm.neurons_per_class), ("bin", int(t[j])),
                              ("potential", int(v[j]))):
                ctx.set(getattr(dut.neuron, name), val)
            ctx.set(dut.commit, 1)
            await ctx.tick()
        ctx.set(dut.commit, 0)
        for name in ("index", "bin", "cls", "target", "cr_index", "cr_first", "tau_sum",
                     "n_fired"):
            got[name] = ctx.get(getattr(dut.winners, name))

    run_scenario(dut, testbenches=[bench],
                 processes=[serve_memory(slots, write=dut.slots_wr)])
    win = first_winner(t, v)
    tn = cm.target_neurons(label)
    upd = group_winners(t, v, cm.neurons_per_class) if wta else np.arange(cm.n_neurons)
    fired = upd[t[upd] < k]
    tau = t << (params.time_frac - params.log2_bins)
    assert got == {"index": win, "bin": t[win], "cls": cm.classes[win],
                   "target": int(cm.is_target[win]), "cr_index": tn[first_winner(t[tn], v[tn])],
                   "cr_first": tn[0], "tau_sum": int(tau[fired].sum()), "n_fired": fired.size}
    nb, bb = NCGWidths(params).neuron, NCGWidths(params).bin
    tgt = (cm.classes[upd] == label) & cm.is_target[upd]
    assert slots == {u: int(j) | int(t[j]) << nb | int(g) << (nb + bb)
                     for u, (j, g) in enumerate(zip(upd, tgt, strict=True))}


# --- interface ----------------------------------------------------------------------------

def test_interface_commands_registers_and_records():
    params = small_params()
    wd = NCGWidths(params)
    dut = NCGInterface(params)
    mems = {mem: {} for mem in NCGMemory}
    theta = {a: -5 * a for a in range(8)}
    mems[NCGMemory.THETA].update(theta)
    recs, ctl, bins_before_clear = [], {}, {}

    async def cmd(ctx, op, space=0, index=0, value=0):
        for name, v in (("op", op), ("space", space), ("index", index), ("value", value)):
            ctx.set(getattr(dut.i.payload, name), v)
        ctx.set(dut.i.valid, 1)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)

    async def bench(ctx):
        ctx.set(dut.state, S.IDLE)
        for reg in NCGReg:
            await cmd(ctx, NCGOp.WRITE, NCGSpace.REG, reg, 3 + reg)
        await cmd(ctx, NCGOp.WRITE, NCGSpace.WEIGHT, 7, 0x1234)
        await cmd(ctx, NCGOp.EVENT, index=5, value=2)
        await cmd(ctx, NCGOp.EVENT, index=6, value=4)
        bins_before_clear.update(mems[NCGMemory.IN_BINS])
        ctl.update({n: ctx.get(getattr(dut.ctl, n)) for n in (
            "train", "trace", "a_plus", "a_minus", "anti_a_plus", "anti_a_minus", "eta_win",
            "eta_lose", "g_t", "g_nt", "n_events")})
        ctx.set(dut.i.payload.op, NCGOp.END)
        ctx.set(dut.i.payload.value, 2)
        ctx.set(dut.i.valid, 1)
        ctl["cmd_end"] = ctx.get(dut.cmd_end)
        await ctx.tick()
        ctx.set(dut.i.valid, 0)
        ctl["label"] = ctx.get(dut.ctl.label)
        await cmd(ctx, NCGOp.READ, NCGSpace.THETA, 1, 3)
        ctx.set(dut.state, S.READ)
        ctx.set(dut.o.ready, 1)
        while not ctx.get(dut.read_done):
            if ctx.get(dut.o.valid):
                recs.append((ctx.get(dut.o.payload.kind), ctx.get(dut.o.payload.index),
                             ctx.get(dut.o.payload.value)))
            await ctx.tick()
        ctx.set(dut.state, S.CLEAR)
        await ctx.tick().until(dut.clear_done)
        await ctx.tick()
        ctl["n_events_after_clear"] = ctx.get(dut.ctl.n_events)
        ctx.set(dut.state, S.RESULT)
        ctx.set(dut.winners.cls, 2)
        recs.append((ctx.get(dut.o.payload.kind), ctx.get(dut.o.payload.index),
                     ctx.get(dut.result_done)))

    geo = memory_geometry(params)
    procs = [serve_memory(mems[mem], read=getattr(dut, f"{mem.value}_rd", None),
                          write=getattr(dut, f"{mem.value}_wr"),
                          granularity=geo[mem].granularity)
             for mem in NCGMemory if mem is not NCGMemory.SLOTS]
    silent = geo[NCGMemory.IN_BINS].init[0]
    mems[NCGMemory.IN_BINS].update(dict.fromkeys(range(wd.groups), silent))
    run_scenario(dut, testbenches=[bench], processes=procs)
    regs = {n: 3 + r for n, r in (("a_plus", 1), ("a_minus", 2), ("anti_a_plus", 3),
                                  ("anti_a_minus", 4), ("eta_win", 5), ("eta_lose", 6),
                                  ("g_t", 7), ("g_nt", 8))}
    assert ctl == {"train": 1, "trace": 1, **regs, "n_events": 2, "cmd_end": 1, "label": 2,
                   "n_events_after_clear": 0}
    assert mems[NCGMemory.WEIGHTS] == {7: 0x1234}
    assert mems[NCGMemory.EVENTS] == {0: 5 | 2 << wd.feature, 1: 6 | 4 << wd.feature}
    lane = (1 << wd.bin) - 1     # features 5 and 6: word 1, lanes 1 and 2 (P = 4)
    assert bins_before_clear[1] == (silent & ~(lane << wd.bin | lane << 2 * wd.bin)
                                    | 2 << wd.bin | 4 << 2 * wd.bin)
    assert mems[NCGMemory.IN_BINS] == dict.fromkeys(range(wd.groups), silent)
    tmask = (1 << wd.threshold) - 1
    assert recs == [(NCGKind.DATA, a, theta[a] & tmask) for a in (1, 2, 3)] + [
        (NCGKind.RESULT, 2, 1)]
