# amaranth: UnusedElaboratable=no
"""The recurrent core's control parts alone: CommandDecoder (hand table of every host write),
RowSweep (visited synapses and cycles against the CSR rows of sim's connectivity) and
Sequencer (issued items, status records and early stop against hand-computed schedules)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib.memory import Memory
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.recurrent.command_decoder import CommandDecoder
from spikesmith.hw.recurrent.decay_unit import DecayTable
from spikesmith.hw.recurrent.recurrent_config import RecurrentCoreConfig
from spikesmith.hw.recurrent.recurrent_streams import (
    RecurrentOp,
    RecurrentParam,
    RecurrentSpace,
    StatusEvent,
)
from spikesmith.hw.recurrent.row_sweep import RowSweep
from spikesmith.hw.recurrent.sequencer import Sequencer
from spikesmith.sim.recurrent import NeuronParams
from spikesmith.sim.recurrent_net import NetConfig, init_network
from spikesmith.sim.sleep import SleepParams
from spikesmith.sim.stdp import StdpParams

_TOP = 1 << 64


def _config(*, seed: int = 5, state=None) -> RecurrentCoreConfig:
    """A small network (inputs 6, 3 E + 2 I; some rows empty at density 0.5)."""
    p = NeuronParams(n_input=6, n_exc=3, n_inh=2)
    groups = {g: replace(s, density=0.5) for g, s in p.groups.items()}
    cfg = NetConfig(neuron=replace(p, groups=groups), seed=seed, stdp=StdpParams(age_bits=3),
                    sleep=SleepParams(decay_period=2))
    conn, init = init_network(cfg)
    return RecurrentCoreConfig(cfg, conn, init if state is None else state(init))


#: The strobes of the decoder and their idle value.
_STROBES = ("regs_en", "weight_en", "kernel_en", "decay_en", "decay_set", "sum_set")


def _decoder_table(cfg: RecurrentCoreConfig):
    """``(op, space, index, value)`` -> the outputs it drives in its cycle (others idle)."""
    n_in, base = cfg.net.neuron.n_input, cfg.stop_base
    return [
        ((RecurrentOp.PIXEL, 0, 3, 200), {"regs_en": 0b1000, "regs_addr": 3,
                                          "regs_data": 200 << 24}),
        ((RecurrentOp.SET_INPUT_REG, 0, 2, 0xABCDEF), {"regs_en": 0b0111, "regs_addr": 2,
                                                       "regs_data": 0xABCDEF}),
        ((RecurrentOp.SET_NOISE_REG, 0, 1, 0x123456), {"regs_en": 0b0111,
                                                       "regs_addr": n_in + 1,
                                                       "regs_data": 0x123456}),
        ((RecurrentOp.SET_DECAY_REG, 0, 0, 0xBEEF), {"decay_set": 1, "decay_value": 0xBEEF}),
        ((RecurrentOp.SET, RecurrentSpace.KERNEL_MINUS, 4, 9),
         {"kernel_en": 1, "kernel_minus": 1, "kernel_addr": 4, "kernel_data": 9}),
        ((RecurrentOp.SET, RecurrentSpace.KERNEL_PLUS, 2, 11),
         {"kernel_en": 1, "kernel_addr": 2, "kernel_data": 11}),
        ((RecurrentOp.SET, RecurrentSpace.DECAY_FRACTION, 7, _TOP - 3),
         {"decay_en": 1, "decay_sel": DecayTable.FRACTION.value, "decay_addr": 7,
          "decay_data": _TOP - 3}),
        ((RecurrentOp.SET, RecurrentSpace.DECAY_LOG_TARGET, 1, 500),
         {"decay_en": 1, "decay_sel": DecayTable.LOG_TARGET.value, "decay_addr": 1,
          "decay_data": 500}),
        ((RecurrentOp.SET, RecurrentSpace.SUM, 2, 99), {"sum_set": 1}),
        ((RecurrentOp.SET, RecurrentSpace.STOP, 4, 1234), {"regs_en": 0b1111,
                                                           "regs_addr": base + 4,
                                                           "regs_data": 1234}),
        ((RecurrentOp.SET, RecurrentSpace.STOP, 5, 1234), {}),      # no sixth group
        ((RecurrentOp.SET, RecurrentSpace.WEIGHT, 9, 77), {"weight_en": 1, "weight_addr": 9,
                                                           "weight_data": 77}),
        ((RecurrentOp.WAKE, 0, 0, 5), {}),                           # the sequencer's
        ((RecurrentOp.SET, RecurrentSpace.SCALAR, RecurrentParam.THETA0, _TOP - 5), {}),
        ((RecurrentOp.SET, RecurrentSpace.SCALAR, RecurrentParam.POLARITY, 1), {}),
        ((RecurrentOp.SET, RecurrentSpace.LO, 3, 17), {}),
        ((RecurrentOp.SET, RecurrentSpace.HI, 0, 4000), {}),
    ]


def test_command_decoder_writes_every_space_and_register():
    cfg = _config()
    dec = CommandDecoder(cfg)
    table = _decoder_table(cfg)
    p, specs = cfg.net.neuron, cfg.group_specs()
    got, regs = [], {}

    async def bench(ctx):
        assert ctx.get(dec.theta0) == p.theta0 and ctx.get(dec.polarity) == 0
        assert [ctx.get(dec.lo[g]) for g in range(5)] == [s.lo for s in specs]
        for (op, space, index, value), _ in table:
            for port, v in ((dec.command.op, op), (dec.command.space, space),
                            (dec.command.index, index), (dec.command.value, value)):
                ctx.set(port, int(v))
            ctx.set(dec.strobe, 1)
            got.append({name: ctx.get(getattr(dec, name)) for name in (
                *_STROBES, "regs_addr", "regs_data", "weight_addr", "weight_data",
                "kernel_minus", "kernel_addr", "kernel_data", "decay_sel", "decay_addr",
                "decay_data", "decay_value")})
            got[-1]["decay_sel"] = got[-1]["decay_sel"].value
            await ctx.tick()
        ctx.set(dec.strobe, 0)
        ctx.set(dec.command.op, RecurrentOp.SET)        # not taken: nothing written
        ctx.set(dec.command.space, RecurrentSpace.WEIGHT)
        assert ctx.get(dec.weight_en) == 0
        await ctx.tick()
        regs.update(theta0=ctx.get(dec.theta0), polarity=ctx.get(dec.polarity),
                    lo=[ctx.get(dec.lo[g]) for g in range(5)],
                    hi=[ctx.get(dec.hi[g]) for g in range(5)], period=ctx.get(dec.period))

    run_scenario(dec, testbenches=[bench])
    for out, (_, driven) in zip(got, table, strict=True):
        expected = {name: 0 for name in out} | {k: int(v) for k, v in driven.items()}
        assert out == expected
    assert regs == {"theta0": -5, "polarity": 1,
                    "lo": [s.lo for s in specs[:3]] + [17, specs[4].lo],
                    "hi": [4000] + [s.hi for s in specs[1:]],
                    "period": cfg.net.sleep.decay_period}


def _sweep_bench(sweep: RowSweep, cfg: RecurrentCoreConfig) -> Module:
    """``sweep`` with the core's ``pre`` memory (synchronous read at ``row``)."""
    m = Module()
    m.submodules.sweep = sweep
    m.submodules.pre = pre = Memory(shape=len(sweep.word), depth=cfg.net.neuron.n_pre,
                                    init=cfg.pre_words)
    rd = pre.read_port()
    m.d.comb += [rd.addr.eq(sweep.row), sweep.word.eq(rd.data)]
    return m


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_row_sweep_visits_the_rows_of_each_sweep_in_csr_order(seed):
    rng = np.random.default_rng(seed)
    cfg = _config(seed=seed % 1000, state=lambda s: replace(
        s, ages=rng.integers(0, 8, s.ages.size) * (rng.random(s.ages.size) < 0.6),
        neurons=replace(s.neurons, s=rng.random(s.neurons.s.size) < 0.5)))
    p = cfg.net.neuron
    spikes = np.concatenate([np.zeros(p.n_input, bool), cfg.state.neurons.s])
    ages = cfg.state.ages
    sweep = RowSweep(cfg)
    runs = []     # per sweep: (issued synapses, cycles until done)

    async def one_sweep(ctx, *, learn, any_spike, batch):
        ctx.set(sweep.any_spike, any_spike)
        ctx.set(sweep.batch, batch)
        ctx.set(sweep.start, 1)
        ctx.set(sweep.start_learn, learn)
        await ctx.tick()
        ctx.set(sweep.start, 0)
        ctx.set(sweep.run, 1)
        issued, cycles = [], 0
        while not ctx.get(sweep.done):
            await ctx.tick()
            cycles += 1
            assert ctx.get(sweep.learn) == learn
            if ctx.get(sweep.valid):
                issued.append(tuple(ctx.get(s) for s in (sweep.k, sweep.pre_spike, sweep.pop,
                                                         sweep.pre_age)))
        ctx.set(sweep.run, 0)
        await ctx.tick()
        if ctx.get(sweep.valid):        # the last synapse, issued as the sweep ended
            issued.append(tuple(ctx.get(s) for s in (sweep.k, sweep.pre_spike, sweep.pop,
                                                     sweep.pre_age)))
        runs.append((issued, cycles))

    async def bench(ctx):
        await one_sweep(ctx, learn=0, any_spike=0, batch=0)
        await one_sweep(ctx, learn=1, any_spike=0, batch=0)
        await one_sweep(ctx, learn=1, any_spike=1, batch=0)
        await one_sweep(ctx, learn=1, any_spike=0, batch=1)

    run_scenario(_sweep_bench(sweep, cfg), testbenches=[bench])
    pre, _ = cfg.synapses
    pop = np.where(pre < p.n_input, 0, np.where(pre < p.n_input + p.n_exc, 1, 2))
    for (issued, cycles), every_row in zip(runs, (False, False, True, True), strict=True):
        visit = np.ones(p.n_pre, bool) if every_row else spikes
        ks = [k for k in range(cfg.n_syn) if visit[pre[k]]]
        assert issued == [(k, int(spikes[pre[k]]), int(pop[k]), int(ages[pre[k]])) for k in ks]
        assert cycles == 2 * p.n_pre + len(ks)     # 2 per row, 1 per visited synapse
    assert len(runs[0][0]) < len(runs[2][0]) == cfg.n_syn   # inputs never spike here


class _Fakes:
    """The sequencer's surroundings: a sweep that is done at once, drained pipelines, the
    stop levels in a one-cycle ``regs`` read and the group sums on ``probe``."""

    def __init__(self, seq: Sequencer, *, levels, sums):
        self.seq, self.levels, self.sums = seq, levels, sums
        self.records, self.counts, self.learn, self.addr = [], {}, 0, 0

    async def step(self, ctx):
        """One clock edge; record what the sequencer did in the cycle before it."""
        seq = self.seq
        if ctx.get(seq.sweep_start):
            self.learn = ctx.get(seq.sweep_learn)
        if ctx.get(seq.status_valid):
            self.records.append((ctx.get(seq.status_event), ctx.get(seq.status_steps),
                                 ctx.get(seq.status_stopped), ctx.get(seq.sleeping)))
        for name in ("i_valid", "n_valid", "nd_valid", "wd_valid", "clear_any"):
            self.counts[name] = self.counts.get(name, 0) + ctx.get(getattr(seq, name))
        self.addr = ctx.get(seq.regs_addr)
        await ctx.tick()
        base = seq.config.stop_base
        ctx.set(seq.learn, self.learn)
        ctx.set(seq.level, self.levels[self.addr - base] if self.addr >= base else 0)
        probe = ctx.get(seq.probe)         # past the last group: no sum (0)
        ctx.set(seq.probe_sum, self.sums[probe] if probe < len(self.sums) else 0)

    async def command(self, ctx, op, value=0):
        seq = self.seq
        ctx.set(seq.command.op, op)
        ctx.set(seq.command.value, value)
        ctx.set(seq.valid, 1)
        while not ctx.get(seq.ready):
            await self.step(ctx)
        await self.step(ctx)
        ctx.set(seq.valid, 0)
        while ctx.get(seq.busy):
            await self.step(ctx)


@pytest.mark.parametrize(("sums", "expected"), [
    # every sum at or below its level: the episode stops after the first batch (of 2 steps)
    ([10, 20, 30, 40, 50], [(StatusEvent.BATCH, 2, 0, 1), (StatusEvent.EPISODE, 2, 1, 1)]),
    # group 3 above its level: the budget of 6 steps is used (a batch every 2 steps)
    ([10, 20, 30, 41, 50], [(StatusEvent.BATCH, 2, 0, 1), (StatusEvent.BATCH, 4, 0, 1),
                            (StatusEvent.BATCH, 6, 0, 1), (StatusEvent.EPISODE, 6, 0, 1)]),
])
def test_sequencer_runs_steps_batches_early_stop_and_dumps(sums, expected):
    cfg = _config()
    p = cfg.net.neuron
    seq = Sequencer(cfg)
    fakes = _Fakes(seq, levels=[10, 20, 30, 40, 50], sums=sums)

    async def bench(ctx):
        ctx.set(seq.period, cfg.net.sleep.decay_period)
        for name in ("sweep_done", "drained"):
            ctx.set(getattr(seq, name), 1)
        await fakes.command(ctx, RecurrentOp.WAKE, 3)
        assert fakes.records == [(StatusEvent.WAKE, 3, 0, 0)]
        assert fakes.counts == {"i_valid": 3 * p.n_input, "n_valid": 3 * p.n_post,
                                "nd_valid": 0, "wd_valid": 0, "clear_any": 3}
        fakes.records.clear()
        await fakes.command(ctx, RecurrentOp.SLEEP, 6)
        assert fakes.records == expected
        steps = expected[-1][1]
        assert fakes.counts["n_valid"] == (3 + steps) * p.n_post
        await fakes.command(ctx, RecurrentOp.WAKE, 0)      # nothing to run: its record only
        assert fakes.records[-1] == (StatusEvent.WAKE, 0, 0, 0)
        await fakes.command(ctx, RecurrentOp.DUMP_WEIGHTS)
        await fakes.command(ctx, RecurrentOp.DUMP_NEURONS)
        assert (fakes.counts["wd_valid"], fakes.counts["nd_valid"]) == (cfg.n_syn, p.n_post)

    run_scenario(seq, testbenches=[bench])


def test_control_parts_reject_bad_arguments():
    for cls in (CommandDecoder, RowSweep, Sequencer):
        with pytest.raises(TypeError, match="config must be a RecurrentCoreConfig, not None"):
            cls(None)
