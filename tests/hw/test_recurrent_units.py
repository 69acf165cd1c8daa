# amaranth: UnusedElaboratable=no
"""NoiseUnit, DecayUnit, the LFSR advance network and the block-RAM STDPUnit against sim."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from spikesmith.hw.common.lfsr import lfsr_advance_value
from spikesmith.hw.common.testing import run_scenario
from spikesmith.hw.recurrent.decay_unit import DecayTable, DecayUnit
from spikesmith.hw.recurrent.noise import NoiseUnit
from spikesmith.hw.recurrent.stdp_unit import STDPUnit
from spikesmith.sim.lfsr import LFSR16, LFSR24, lfsr_step
from spikesmith.sim.sleep import SleepParams, decay_step, decay_tables, noise_step
from spikesmith.sim.stdp import StdpParams, StdpPolarity, stdp_update


def test_lfsr_advance_value_equals_lfsr_step():
    value, out = Signal(24), Signal(24)
    m = Module()
    m.d.comb += out.eq(lfsr_advance_value(value, LFSR24, steps=19))
    seeds = [int(s) for s in np.random.default_rng(3).integers(1, 1 << 24, 20)]
    got = []

    async def bench(ctx):
        for s in seeds:
            ctx.set(value, s)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == [int(v) for v in lfsr_step(np.array(seeds), LFSR24, steps=19)]


def test_lfsr_advance_value_rejects_bad_arguments():
    with pytest.raises(TypeError, match="spec must be a LfsrSpec, not 24"):
        lfsr_advance_value(Signal(24), 24, steps=1)
    with pytest.raises(ValueError, match="steps must be a non-negative integer, not -1"):
        lfsr_advance_value(Signal(16), LFSR16, steps=-1)


@pytest.mark.parametrize("params", [SleepParams(), SleepParams(n_uniform=3, noise_gain=-40,
                                                               noise_shift=3)])
def test_noise_unit_matches_noise_step(params):
    regs = np.random.default_rng(5).integers(1, 1 << 24, 40)
    exp_noise, exp_regs = noise_step(regs, params)
    unit = NoiseUnit(params)
    got = []

    async def bench(ctx):
        for r in regs:
            ctx.set(unit.reg, int(r))
            got.append((ctx.get(unit.noise), ctx.get(unit.next_reg)))

    sim = Simulator(unit)
    sim.add_testbench(bench)
    sim.run()
    assert got == [(int(n), int(r)) for n, r in zip(exp_noise, exp_regs, strict=True)]


def test_noise_unit_rejects_bad_parameters():
    with pytest.raises(TypeError, match="sleep must be a SleepParams, not None"):
        NoiseUnit(None)


def _run_decay_items(unit, tmp_path, *, writes, m, lo, hi, tgt, en, final_reg):
    """Apply the host ``writes``, stream the items (bubbles after every 5th), collect outputs.

    ``lo`` and ``hi`` are the bounds of each target index.
    """
    got: list[tuple[int, int, int]] = []

    async def producer(ctx):
        for t, (lo_t, hi_t) in enumerate(zip(lo, hi, strict=True)):
            ctx.set(unit.lo[t], int(lo_t))
            ctx.set(unit.hi[t], int(hi_t))
        for sel, addr, data in writes:
            ctx.set(unit.wr_en, 1)
            ctx.set(unit.wr_sel, sel)
            ctx.set(unit.wr_addr, addr)
            ctx.set(unit.wr_data, data)
            await ctx.tick()
        ctx.set(unit.wr_en, 0)
        for k in range(len(m)):
            for name, v in (("i_valid", 1), ("i_en", int(en[k])), ("i_m", int(m[k])),
                            ("i_target", int(tgt[k])), ("i_tag", k)):
                ctx.set(getattr(unit, name), v)
            await ctx.tick()
            if k % 5 == 0:  # bubbles between items
                ctx.set(unit.i_valid, 0)
                await ctx.tick()
        ctx.set(unit.i_valid, 0)
        await ctx.tick().until(~unit.busy)
        assert ctx.get(unit.reg) == final_reg

    async def monitor(ctx):
        async for _clk, _rst, valid, mo, tag, t in ctx.tick().sample(
                unit.o_valid, unit.o_m, unit.o_tag, unit.o_target):
            if valid:
                got.append((tag, mo, t))

    run_scenario(unit, testbenches=[producer], processes=[monitor],
                 vcd_path=tmp_path / "decay.vcd")
    return got


def _decay_items(seed):
    rng = np.random.default_rng(seed)
    n = 60
    tgt = rng.integers(0, 3, n)
    m = rng.integers(0, 4000, n)
    m[:6] = [0, 1, 4095, 2, 37, 64]  # zero, below and at 2**Q, the largest
    lo, hi = np.array([0, 2, 0]), np.full(3, 4095)   # per target index
    en = rng.random(n) < 0.7
    return m, lo, hi, tgt, en


@pytest.mark.parametrize("reprogram", [False, True])
def test_decay_unit_matches_decay_step_and_passes_disabled_items(tmp_path, reprogram):
    build = SleepParams(lam=0.995, decay_period=4, log_frac=6)
    unit = DecayUnit(build, weight_bits=12, targets=[300, 7, 1000], seed=777, tag_bits=7)
    m, lo, hi, tgt, en = _decay_items(11 + reprogram)
    if reprogram:  # smaller c = 1 - lam**k (0.0060 < 0.0199), every target index moved
        p, targets = SleepParams(lam=0.998, decay_period=3, log_frac=6), [4095, 1, 40]
        writes = unit.program(sleep=p, targets=targets)
    else:
        p, targets, writes = build, [300, 7, 1000], []
    exp, reg = decay_step(m[en], target=np.array(targets)[tgt[en]], lo=lo[tgt[en]],
                          hi=hi[tgt[en]], register=777, p=p)
    got = _run_decay_items(unit, tmp_path, writes=writes, m=m, lo=lo, hi=hi, tgt=tgt, en=en,
                           final_reg=reg)
    assert [t for t, _, _ in got] == list(range(len(m)))
    assert [t for _, _, t in got] == [int(t) for t in tgt]
    expected = m.copy()
    expected[en] = exp
    assert [v for _, v, _ in got] == [int(v) for v in expected]
    assert not np.array_equal(exp, m[en])  # the decay moved weights


def test_decay_unit_program_returns_the_sim_tables():
    build = SleepParams(lam=0.99997, decay_period=8)
    unit = DecayUnit(build, weight_bits=21, targets=[13107, 9], seed=1, tag_bits=1)
    # 21-bit weights and targets: L = 1 .. 21 * 1024, octaves -21 .. 20
    assert unit.octaves == range(-21, 21)
    p = SleepParams(lam=0.9999, decay_period=2)
    writes = unit.program(sleep=p, targets=[1, (1 << 21) - 1])
    t = decay_tables(p)
    octave = [d for sel, _, d in writes if sel is DecayTable.OCTAVE]
    assert octave == list(t.octave[t.octave_offset - 21: t.octave_offset + 21])
    assert [d for sel, _, d in writes if sel is DecayTable.FRACTION] == list(t.fraction)
    assert [(a, d) for sel, a, d in writes if sel is DecayTable.LOG_TARGET] == [(0, 1),
                                                                                  (1, 21504)]
    assert [a for sel, a, _ in writes if sel is DecayTable.OCTAVE] == list(range(42))
    # the build's own constants fit exactly; widths hold every word
    assert len(unit.program(sleep=build, targets=[5, 6])) == 42 + 1024 + 2
    assert max(abs(d) for _, _, d in writes) < 1 << (unit.data_bits - 1)


def test_decay_unit_lends_its_multipliers_for_x_times_g():
    """x_en: x_p = x * g two cycles after x and g (the core's g y in the neuron pass)."""
    unit = DecayUnit(SleepParams(), weight_bits=21, targets=[13107], seed=1, tag_bits=1,
                     lent_bits=(33, 6))
    rng = np.random.default_rng(5)
    xs = [-(1 << 32), (1 << 32) - 1, 0, -1, (1 << 21) - 1, -(1 << 21)] + [
        int(v) for v in rng.integers(-(1 << 32), 1 << 32, 40)]
    gs = [-32, 31, 17, -32, 31, -1] + [int(v) for v in rng.integers(-32, 32, 40)]
    got = []

    async def bench(ctx):
        ctx.set(unit.x_en, 1)
        for k in range(len(xs) + 2):
            if k < len(xs):
                ctx.set(unit.x, xs[k])
                ctx.set(unit.g, gs[k])
            await ctx.tick()
            if k >= 1:      # after edge k + 1: the product of the operands set before edge k
                got.append(ctx.get(unit.x_p))

    run_scenario(unit, testbenches=[bench])
    assert got[:len(xs)] == [x * g for x, g in zip(xs, gs, strict=True)]


def test_decay_unit_rejects_bad_parameters():
    p = SleepParams()
    with pytest.raises(TypeError, match="sleep must be a SleepParams, not 1"):
        DecayUnit(1, weight_bits=8, targets=[3], seed=1, tag_bits=1)
    with pytest.raises(ValueError, match="weight_bits must be an integer in 1..40, not 41"):
        DecayUnit(p, weight_bits=41, targets=[3], seed=1, tag_bits=1)
    with pytest.raises(ValueError, match=r"targets must be a non-empty sequence of values in "
                                         r"1..2\*\*40 - 1, not \(0,\)"):
        DecayUnit(p, weight_bits=8, targets=[0], seed=1, tag_bits=1)
    with pytest.raises(ValueError, match="seed must be a non-zero 16-bit value, not 0"):
        DecayUnit(p, weight_bits=8, targets=[3], seed=0, tag_bits=1)
    with pytest.raises(ValueError, match="tag_bits must be a positive integer, not 0"):
        DecayUnit(p, weight_bits=8, targets=[3], seed=1, tag_bits=0)
    with pytest.raises(ValueError, match=r"lent_bits must be two widths, both positive or "
                                         r"both 0, not \(8, 0\)"):
        DecayUnit(p, weight_bits=8, targets=[3], seed=1, tag_bits=1, lent_bits=(8, 0))


def test_decay_unit_program_rejects_what_does_not_fit_the_build():
    unit = DecayUnit(SleepParams(lam=0.999, decay_period=8), weight_bits=8, targets=[3, 300],
                     seed=1, tag_bits=1)
    with pytest.raises(TypeError, match="sleep must be a SleepParams, not None"):
        unit.program(sleep=None, targets=[3, 3])
    with pytest.raises(ValueError, match=r"sleep.log_frac must be 10 \(fixed at build\), not 6"):
        unit.program(sleep=SleepParams(log_frac=6), targets=[3, 3])
    c = 1 - 0.999**8
    with pytest.raises(ValueError, match=rf"sleep.lam and sleep.decay_period must give 1 - "
                                         rf"lam\*\*decay_period in 0..{c!r} \(the build's\), "
                                         rf"not {1 - 0.999**9!r}"):
        unit.program(sleep=SleepParams(lam=0.999, decay_period=9), targets=[3, 3])
    # targets up to max(2**8 - 1, 300)
    with pytest.raises(ValueError, match=r"targets must be 2 values in 1..300, not \(3,\)"):
        unit.program(sleep=SleepParams(lam=0.999), targets=[3])
    with pytest.raises(ValueError, match=r"targets must be 2 values in 1..300, not \(3, 301\)"):
        unit.program(sleep=SleepParams(lam=0.999), targets=[3, 301])
    assert len(unit.program(sleep=SleepParams(lam=0.999), targets=[1, 300])) > 0


@pytest.mark.parametrize("polarity", list(StdpPolarity))
def test_stdp_unit_with_synchronous_table_read_matches_stdp_update(polarity):
    """latency=1 (the core's block-RAM table): spikes and ages one cycle before m, lo, hi."""
    p = StdpParams(lr=2e-3, tau_plus=3.0, tau_minus=5.0, age_bits=3, weight_frac=10,
                   polarity=polarity)
    rng = np.random.default_rng(17)
    n_pre, n_post = 9, 7
    m = rng.integers(3, 41, size=(n_pre, n_post))
    pre_s, post_s = rng.random(n_pre) < 0.4, rng.random(n_post) < 0.4
    pre_age = np.where(pre_s, 0, rng.integers(0, p.age_max + 1, n_pre))
    post_age = np.where(post_s, 0, rng.integers(0, p.age_max + 1, n_post))
    full = np.ones((n_pre, n_post), dtype=np.int64)
    expected = stdp_update(m, pre_spikes=pre_s, post_spikes=post_s, pre_age=pre_age,
                           post_age=post_age, mask=full, lo=3 * full, hi=40 * full, p=p)
    unit = STDPUnit(p, weight_bits=6, latency=1)
    assert unit.latency == 1
    got: list[int] = []

    async def bench(ctx):
        for i in range(n_pre):
            for j in range(n_post):
                for name, v in (("pre_spike", pre_s[i]), ("post_spike", post_s[j]),
                                ("pre_age", pre_age[i]), ("post_age", post_age[j])):
                    ctx.set(getattr(unit, name), int(v))
                await ctx.tick()
                for name, v in (("m", m[i, j]), ("lo", 3), ("hi", 40)):
                    ctx.set(getattr(unit, name), int(v))
                got.append(ctx.get(unit.m_next))

    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert np.array_equal(np.array(got).reshape(n_pre, n_post), expected)
    assert not np.array_equal(expected, m)
    with pytest.raises(ValueError, match="latency must be 0 or 1, not 2"):
        STDPUnit(p, weight_bits=6, latency=2)
