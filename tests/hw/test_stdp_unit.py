# amaranth: UnusedElaboratable=no
"""STDPUnit in the Amaranth simulator: every synapse equal to sim.stdp.stdp_update."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from spikesmith.hw.recurrent.stdp_unit import STDPUnit
from spikesmith.sim.stdp import StdpParams, StdpPolarity, kernel_luts, stdp_update


def _unit_outputs(unit: STDPUnit, rows: list[dict[str, int]]) -> list[int]:
    out: list[int] = []

    async def bench(ctx):
        for r in rows:
            for name, value in r.items():
                ctx.set(getattr(unit, name), value)
            out.append(ctx.get(unit.m_next))

    sim = Simulator(unit)
    sim.add_testbench(bench)
    sim.run()
    return out


@pytest.mark.parametrize("polarity", list(StdpPolarity))
def test_stdp_unit_matches_stdp_update_on_every_synapse(polarity):
    p = StdpParams(lr=2e-3, tau_plus=3.0, tau_minus=5.0, age_bits=3, weight_frac=10,
                   polarity=polarity)
    rng = np.random.default_rng(7)
    n_pre, n_post = 9, 7
    lo = np.full((n_pre, n_post), 3, dtype=np.int64)
    hi = np.full((n_pre, n_post), 40, dtype=np.int64)
    mask = np.ones((n_pre, n_post), dtype=np.int64)
    m = rng.integers(3, 41, size=(n_pre, n_post))
    pre_s = rng.random(n_pre) < 0.4
    post_s = rng.random(n_post) < 0.4
    pre_age = np.where(pre_s, 0, rng.integers(0, p.age_max + 1, n_pre))
    post_age = np.where(post_s, 0, rng.integers(0, p.age_max + 1, n_post))
    expected = stdp_update(m, pre_spikes=pre_s, post_spikes=post_s, pre_age=pre_age,
                           post_age=post_age, mask=mask, lo=lo, hi=hi, p=p)
    rows = [dict(m=int(m[i, j]), pre_spike=int(pre_s[i]), post_spike=int(post_s[j]),
                 pre_age=int(pre_age[i]), post_age=int(post_age[j]), lo=3, hi=40)
            for i in range(n_pre) for j in range(n_post)]
    got = np.array(_unit_outputs(STDPUnit(p, weight_bits=6), rows)).reshape(n_pre, n_post)
    assert np.array_equal(got, expected)
    assert not np.array_equal(expected, m)  # the table exercised real updates


def test_stdp_unit_saturates_at_both_bounds():
    p = StdpParams(lr=0.05, age_bits=2, weight_frac=8)
    ltp, ltd = kernel_luts(p)
    rows = [dict(m=30, pre_spike=0, post_spike=1, pre_age=0, post_age=1, lo=2, hi=31),
            dict(m=3, pre_spike=1, post_spike=0, pre_age=0, post_age=1, lo=2, hi=31)]
    assert int(ltp[0]) > 1 and int(ltd[1]) > 1
    assert _unit_outputs(STDPUnit(p, weight_bits=5), rows) == [31, 2]


def test_stdp_unit_runs_kernels_and_polarity_written_at_run_time():
    build = StdpParams(lr=2e-3, tau_plus=3.0, tau_minus=5.0, age_bits=3, weight_frac=10)
    new = replace(build, lr=1e-3, a_minus=0.7, tau_plus=6.0,
                  polarity=StdpPolarity.AUTHORS_REVERSED)
    unit = STDPUnit(build, weight_bits=6)
    rng = np.random.default_rng(3)
    n_pre, n_post = 8, 6
    m = rng.integers(3, 41, size=(n_pre, n_post))
    pre_s, post_s = rng.random(n_pre) < 0.5, rng.random(n_post) < 0.5
    pre_age = np.where(pre_s, 0, rng.integers(0, build.age_max + 1, n_pre))
    post_age = np.where(post_s, 0, rng.integers(0, build.age_max + 1, n_post))
    full = np.ones((n_pre, n_post), dtype=np.int64)
    expected = stdp_update(m, pre_spikes=pre_s, post_spikes=post_s, pre_age=pre_age,
                           post_age=post_age, mask=full, lo=3 * full, hi=40 * full, p=new)
    assert not np.array_equal(expected, stdp_update(
        m, pre_spikes=pre_s, post_spikes=post_s, pre_age=pre_age, post_age=post_age,
        mask=full, lo=3 * full, hi=40 * full, p=build))
    writes = [dict(wr_en=1, wr_minus=minus, wr_addr=c, wr_data=int(v))
              for minus, table in enumerate(kernel_luts(new)) for c, v in enumerate(table)]
    rows = [dict(m=int(m[i, j]), pre_spike=int(pre_s[i]), post_spike=int(post_s[j]),
                 pre_age=int(pre_age[i]), post_age=int(post_age[j]), lo=3, hi=40, reversed=1)
            for i in range(n_pre) for j in range(n_post)]
    out: list[int] = []

    async def bench(ctx):
        for w in writes:
            for name, value in w.items():
                ctx.set(getattr(unit, name), value)
            await ctx.tick()
        ctx.set(unit.wr_en, 0)
        for r in rows:
            for name, value in r.items():
                ctx.set(getattr(unit, name), value)
            out.append(ctx.get(unit.m_next))

    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert np.array_equal(np.array(out).reshape(n_pre, n_post), expected)


def test_stdp_unit_rejects_bad_parameters():
    with pytest.raises(TypeError, match="stdp must be a StdpParams, not 3"):
        STDPUnit(3, weight_bits=8)
    with pytest.raises(ValueError, match="weight_bits must be an integer in 1..48, not 0"):
        STDPUnit(StdpParams(), weight_bits=0)
    with pytest.raises(ValueError, match=r"weight_bits must hold the kernels \(6 bits\), not 2"):
        STDPUnit(replace(StdpParams(), weight_frac=16), weight_bits=2)
