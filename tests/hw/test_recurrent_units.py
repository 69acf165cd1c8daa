# amaranth: UnusedElaboratable=no
"""NoiseUnit, DecayUnit and the LFSR advance network against sim.lfsr / sim.sleep."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from spikeforge.hw.decay_unit import DecayUnit
from spikeforge.hw.noise import NoiseUnit, lfsr_advance_value
from spikeforge.hw.testing import run_scenario
from spikeforge.sim.lfsr import LFSR16, LFSR24, lfsr_step
from spikeforge.sim.sleep import SleepParams, decay_step, noise_step


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


def test_decay_unit_matches_decay_step_and_passes_disabled_items(tmp_path):
    p = SleepParams(lam=0.995, decay_period=4, log_frac=6)
    rng = np.random.default_rng(11)
    n = 60
    targets = [300, 7, 1000]
    tgt = rng.integers(0, 3, n)
    m = rng.integers(0, 4000, n)
    m[:3] = [0, 1, 4095]
    lo = np.where(tgt == 1, 2, 0)
    hi = np.full(n, 4095)
    en = rng.random(n) < 0.7
    exp, reg = decay_step(m[en], target=np.array(targets)[tgt[en]], lo=lo[en], hi=hi[en],
                          register=777, p=p)
    unit = DecayUnit(p, weight_bits=12, targets=targets, seed=777, tag_bits=7)
    got: list[tuple[int, int]] = []

    async def producer(ctx):
        for k in range(n):
            for name, v in (("i_valid", 1), ("i_en", int(en[k])), ("i_m", int(m[k])),
                            ("i_lo", int(lo[k])), ("i_hi", int(hi[k])),
                            ("i_target", int(tgt[k])), ("i_tag", k)):
                ctx.set(getattr(unit, name), v)
            await ctx.tick()
            if k % 5 == 0:  # bubbles between items
                ctx.set(unit.i_valid, 0)
                await ctx.tick()
        ctx.set(unit.i_valid, 0)
        await ctx.tick().until(~unit.busy)
        assert ctx.get(unit.reg) == reg

    async def monitor(ctx):
        async for _clk, _rst, valid, mo, tag in ctx.tick().sample(unit.o_valid, unit.o_m,
                                                                  unit.o_tag):
            if valid:
                got.append((tag, mo))

    run_scenario(unit, testbenches=[producer], processes=[monitor],
                 vcd_path=tmp_path / "decay.vcd")
    assert [t for t, _ in got] == list(range(n))
    expected = m.copy()
    expected[en] = exp
    assert [v for _, v in got] == [int(v) for v in expected]
    assert not np.array_equal(exp, m[en])  # the decay moved weights


def test_decay_unit_rejects_bad_parameters():
    p = SleepParams()
    with pytest.raises(TypeError, match="sleep must be a SleepParams, not 1"):
        DecayUnit(1, weight_bits=8, targets=[3], seed=1, tag_bits=1)
    with pytest.raises(ValueError, match="weight_bits must be an integer in 1..40, not 41"):
        DecayUnit(p, weight_bits=41, targets=[3], seed=1, tag_bits=1)
    with pytest.raises(ValueError, match=r"targets must be a non-empty sequence of values >= 1,"
                                         r" not \(0,\)"):
        DecayUnit(p, weight_bits=8, targets=[0], seed=1, tag_bits=1)
    with pytest.raises(ValueError, match="seed must be a non-zero 16-bit value, not 0"):
        DecayUnit(p, weight_bits=8, targets=[3], seed=0, tag_bits=1)
    with pytest.raises(ValueError, match="tag_bits must be a positive integer, not 0"):
        DecayUnit(p, weight_bits=8, targets=[3], seed=1, tag_bits=0)
