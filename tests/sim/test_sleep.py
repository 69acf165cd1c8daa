"""Hand-computed tables for the sleep phase (sim.sleep): noise, decay, stop, schedule."""

import math

import numpy as np
import pytest

from spikesmith.sim.lfsr import LFSR24, lfsr_draws, lfsr_table
from spikesmith.sim.sleep import (
    DECAY_LFSR,
    DecayTables,
    SleepParams,
    decay_factor,
    decay_octaves,
    decay_step,
    decay_tables,
    fraction_table,
    group_sums,
    log2_fixed,
    noise_step,
    octave_table,
    sleep_length,
    sums_at_baseline,
)

P = SleepParams()


def test_noise_is_scaled_centred_sum_of_lfsr24_draws():
    regs = np.array([1, 0x123456, 0xFFFFFF], dtype=np.int64)
    n, out = noise_step(regs, P)
    ref, c = regs, np.zeros(3, dtype=np.int64)
    for _ in range(4):
        u, ref = lfsr_draws(ref, LFSR24)
        c += 2 * u - 255
    assert np.array_equal(out, ref)
    assert np.array_equal(n, (c * 157 + 64) >> 7)


def test_noise_moments_match_the_papers_variance():
    regs = np.random.default_rng(0).integers(1, 1 << 24, size=4000)
    samples = []
    for _ in range(25):
        n, regs = noise_step(regs, P)
        samples.append(n)
    x = np.concatenate(samples).astype(np.float64)
    sigma = 157 / 128 * math.sqrt(4 * 4 * (256**2 - 1) / 12)  # 362.6 LSB = 1.416 mV
    assert abs(x.mean()) < 0.02 * sigma
    assert abs(x.std() / sigma - 1) < 0.02
    # a sum of uniforms is close to Gaussian: excess kurtosis of 4 uniforms is -0.3
    kurt = ((x - x.mean()) ** 4).mean() / x.var() ** 2 - 3
    assert abs(kurt + 0.3) < 0.1


def test_log2_fixed_table():
    m = np.array([1, 2, 3, 5, 13107, 1638400])
    # 3: e = 1, f = 512, LOG2[512] = round(1024 log2(1 + 512.5/1024)) = 599.
    assert log2_fixed(m, log_frac=10).tolist() == [1, 1025, 1623, 2378, 14006, 21140]


# lam = 0.5, k = 1, Q = 4: c = 1/2 exactly. Entries computed with decimal.Decimal at 60 digits:
# A[xh] = round(2**30 (2**(-xh/2) - 1)), B[xl] = round(2**30 (2**(-xl/32) - 1)).
HALF = SleepParams(lam=0.5, decay_period=1, log_frac=4)
HALF_A = {-3: 1963258676, -2: 1073741824, -1: 444758426, 0: 0, 1: -314491699, 2: -536870912,
          3: -694116762}
HALF_B = (0, -23008073, -45523131, -67555737, -89116230, -110214726, -130861125, -151065114,
          -170836173, -190183580, -209116411, -227643550, -245773692, -263515341, -280876824,
          -297866286)


def test_decay_tables_hand_computed():
    t = decay_tables(HALF)
    # magnitudes below 2**40: L(1) = 1, L(2**40 - 1) = 40 * 16, so xh = -40 .. 39
    assert (t.octave_offset, len(t.octave), t.octaves) == (40, 80, range(-40, 40))
    assert {xh: t.octave[xh + 40] for xh in range(-3, 4)} == HALF_A
    assert t.fraction == HALF_B
    assert octave_table(HALF, octaves=range(-1, 2)) == (HALF_A[-1], 0, HALF_A[1])
    assert fraction_table(HALF) == HALF_B
    assert decay_octaves(255, log_frac=4) == range(-8, 8)


def test_decay_factor_and_step_hand_computed():
    # L(16) = 4*16 + LOG2[0] = 65; L(64) = 97; L(100) = 6*16 + LOG2[9] = 107; L(9) = 51.
    assert log2_fixed(np.array([16, 64, 100, 9]), log_frac=4).tolist() == [65, 97, 107, 51]
    # x = 32: A[2] = -2**29, B[0] = 0 -> G = -2**29 (factor 1/2, exact)
    # x = 42: A[2] + B[10] + ((A[2] B[10]) >> 30) = -536870912 - 209116411 + 104558205
    # x = -14 = -16 + 2: 444758426 - 45523131 + (-20246796090151806 >> 30 = -18856299)
    g = decay_factor(np.array([32, 42, -14]), tables=decay_tables(HALF))
    assert g.tolist() == [-536870912, -641429118, 380378996]
    m = np.array([64, 100, 0, 9], dtype=np.int64)
    out, reg = decay_step(m, target=np.int64(16), lo=np.int64(0), hi=np.int64(1000),
                          register=4321, p=HALF)
    r = lfsr_table(DECAY_LFSR, seed=4321, draws=4)
    # t = (m G) >> 14: 64 -> -2**21 (dm = -32 exactly: sqrt(16 * 64) = 32); 100 -> -3914973
    # (sqrt 1600 = 40, from 59.74 down); 9 -> 208948 (sqrt 144 = 12, 3.19 up); 0 stays 0
    t = np.array([-(1 << 21), -3914973, 0, 208948])
    assert out.tolist() == [32, int(100 + ((t[1] + r[1]) >> 16)), 0, int(9 + ((t[3] + r[3]) >> 16))]
    assert reg == int(r[-1])


@pytest.mark.parametrize("lam,k", [(0.99997, 8), (0.999, 8), (0.99997, 1000), (0.9, 8),
                                   (0.5, 1)])
def test_decay_factor_error_is_within_the_proven_bound(lam, k):
    p = SleepParams(lam=lam, decay_period=k)
    x = np.arange(-21 * 1024, 21 * 1024 + 1)  # every distance of 21-bit weights and targets
    g = decay_factor(x, tables=decay_tables(p))
    c = 1 - lam**k
    ideal = (np.exp2(-c * x / 1024) - 1) * 2.0**30
    xh = x >> 10
    # sim.sleep docstring: |G - ideal| <= 1 + (1 + 2**(-c xh)) / 2 + 2**-32 (LSB of 2**-30);
    # 2**-40 relative covers the float64 evaluation of ideal (below 2**43 here).
    bound = 1 + (1 + np.exp2(-c * xh)) / 2 + 2.0**-32 + np.abs(ideal) * 2.0**-40
    err = np.abs(g - ideal)
    assert np.all(err <= bound)
    assert np.all(err[xh >= 0] <= 2 + 2.0**-32)


def test_decay_step_beyond_int64_equals_python_integers():
    # c = 0.99: A[-39] is about 2**68, so the factor and the product leave int64.
    p = SleepParams(lam=0.01, decay_period=1, log_frac=6)
    tables = decay_tables(p)
    m = np.array([1, 3, 1000, (1 << 39) + 12345, (1 << 40) - 1, 0], dtype=np.int64)
    target = np.array([(1 << 40) - 1, 1 << 38, 5, 1, 7, 9], dtype=np.int64)
    out, reg = decay_step(m, target=target, lo=np.int64(0), hi=np.int64((1 << 40) - 1),
                          register=99, p=p)
    r = lfsr_table(DECAY_LFSR, seed=99, draws=m.size)
    expected = []
    for mi, ti, ri in zip(m.tolist(), target.tolist(), r.tolist(), strict=True):
        if mi == 0:
            expected.append(0)
            continue
        lm, lt = (int(v) for v in log2_fixed(np.array([mi, ti]), log_frac=6))
        a = tables.octave[((lm - lt) >> 6) + tables.octave_offset]
        b = tables.fraction[(lm - lt) & 63]
        g = a + b + ((a * b) >> 30)
        expected.append(min(max(mi + ((((mi * g) >> 14) + ri) >> 16), 0), (1 << 40) - 1))
    assert out.tolist() == expected and reg == int(r[-1])
    # the float rule m (w_t / m)**c: 2**-6 quantisation of the log distance (relative), the
    # error of G (< 2.5 LSB of 2**-30, times m) and the stochastic rounding (< 1 LSB)
    ideal = m[:5] * (target[:5] / m[:5]) ** 0.99
    tol = ideal * 1.01 * 0.99 * math.log(2) / 64 + m[:5] * 2.5 * 2.0**-30 + 1
    assert np.all(np.abs(out[:5] - ideal) < tol)


def _expected_after_decay(m0, target, p):
    """Mean over one full LFSR16 period: 65535 copies use every draw value exactly once."""
    n = 65535
    out, _ = decay_step(
        np.full(n, m0, dtype=np.int64),
        target=np.full(n, target, dtype=np.int64),
        lo=np.zeros(n, dtype=np.int64),
        hi=np.full(n, 1 << 30, dtype=np.int64),
        register=1,
        p=p,
    )
    return out.mean()


@pytest.mark.parametrize("lam,k", [(0.99997, 8), (0.999, 8), (0.99997, 1)])
@pytest.mark.parametrize("m0", [1, 100, 5000, 13000, 13200, 26214, 65536, 1638400])
def test_decay_is_exact_in_expectation_against_the_float_rule(lam, k, m0):
    p = SleepParams(lam=lam, decay_period=k)
    target = 13107  # 0.2 in Q.16
    exact = target * (m0 / target) ** (lam**k)
    mean = _expected_after_decay(m0, target, p)
    # log2 distance quantised to 2**-10; G within 2 + 2**-32 LSB of 2**-30; r never 0.
    tol = 2 * math.log(2) * (1 - lam**k) * m0 / 1024 + 1e-3 * abs(exact - m0) + 2**-16
    assert abs(mean - exact) <= tol


def test_decay_keeps_zero_and_target_and_respects_bounds():
    p = SleepParams(lam=0.9)
    m = np.array([0, 13107, 1 << 20, 3], dtype=np.int64)
    out, reg = decay_step(
        m,
        target=np.full(4, 13107),
        lo=np.array([0, 0, 1 << 20, 0]),
        hi=np.full(4, 1 << 22),
        register=77,
        p=p,
    )
    assert out[:3].tolist() == [0, 13107, 1 << 20]
    assert out[3] > 3
    assert reg != 77


def test_decay_uses_one_draw_per_synapse_in_order():
    m = np.full(10, 50000, dtype=np.int64)
    kw = dict(target=np.int64(13107), lo=np.int64(0), hi=np.int64(1 << 22), p=P)
    whole, reg = decay_step(m, register=5, **kw)
    a, mid = decay_step(m[:4], register=5, **kw)
    b, end = decay_step(m[4:], register=mid, **kw)
    assert np.array_equal(whole, np.concatenate([a, b])) and reg == end


def test_group_sums_and_stop_rule():
    m = np.array([[1, 2], [3, 4]])
    g = np.array([[0, 1], [-1, 1]], dtype=np.int8)
    assert group_sums(m, g, n_groups=3).tolist() == [1, 6, 0]
    base = np.array([1024, 2048, 0])
    # tolerance B >> 10: 1 and 2 LSBs
    assert sums_at_baseline(np.array([1025, 2050, 0]), base, P)
    assert not sums_at_baseline(np.array([1026, 2000, 0]), base, P)
    assert not sums_at_baseline(np.array([0, 0, 1]), base, P)


@pytest.mark.parametrize(
    "ratio,wake,k,expected",
    [
        (0.0, 30000, 8, 0),
        (0.1, 30000, 8, 3000),
        (0.2, 30000, 8, 6000),
        (0.3, 30000, 8, 9000),
        (0.5, 30000, 8, 15000),
        (0.15, 1000, 8, 152),
        (0.1, 35000, 1, 3500),
        (1.0, 100, 64, 128),
    ],
)
def test_sleep_length_is_ratio_times_wake_in_whole_batches(ratio, wake, k, expected):
    assert sleep_length(ratio=ratio, wake_steps=wake, decay_period=k) == expected


def test_sleep_params_and_schedule_reject_bad_values():
    with pytest.raises(ValueError, match=r"lam must be in \(0, 1\], not 1.5"):
        SleepParams(lam=1.5)
    with pytest.raises(ValueError, match="decay_period must be an integer >= 1, not 0"):
        SleepParams(decay_period=0)
    with pytest.raises(ValueError, match="ratio must be >= 0, not -0.1"):
        sleep_length(ratio=-0.1, wake_steps=10, decay_period=1)
    with pytest.raises(ValueError, match="log_frac must be an integer in 4..12, not 3"):
        SleepParams(log_frac=3)


def test_decay_rejects_values_outside_the_tables():
    kw = dict(lo=np.int64(0), hi=np.int64(100), register=1, p=P)
    with pytest.raises(ValueError, match=r"m must be in 0..2\*\*40 - 1, not -1..5"):
        decay_step(np.array([5, -1]), target=np.int64(3), **kw)
    with pytest.raises(ValueError, match=r"m must be in 0..2\*\*40 - 1, not 0..1099511627776"):
        decay_step(np.array([0, 1 << 40]), target=np.int64(3), **kw)
    with pytest.raises(ValueError, match=r"target must be in 1..2\*\*40 - 1, not 0..3"):
        decay_step(np.array([5, 1]), target=np.array([3, 0]), **kw)
    with pytest.raises(ValueError, match="seed must be a non-zero 16-bit value, not 0"):
        decay_step(np.array([5]), target=np.int64(3), lo=0, hi=9, register=0, p=P)
    with pytest.raises(ValueError, match=r"x must lie in the octaves -40..39 of the tables, "
                                         r"not -41000..7"):
        decay_factor(np.array([7, -41000]), tables=decay_tables(P))
    with pytest.raises(ValueError, match="w_max must be >= 1, not 0"):
        decay_octaves(0, log_frac=10)
    with pytest.raises(ValueError, match=r"fraction must have 2\*\*log_frac = 16 entries, not 3"):
        DecayTables(log_frac=4, octave_offset=0, octave=(0,), fraction=(0, 0, 0))
    with pytest.raises(ValueError, match="octave_offset must be in 0..1, not 2"):
        DecayTables(log_frac=4, octave_offset=2, octave=(0, 0), fraction=HALF_B)
