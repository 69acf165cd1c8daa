"""Hand-computed tables for the sleep phase (sim.sleep): noise, decay, stop, schedule."""

import math

import numpy as np
import pytest

from spikeforge.sim.lfsr import LFSR24, lfsr_draws
from spikeforge.sim.sleep import (
    SleepParams,
    decay_step,
    group_sums,
    log2_fixed,
    noise_step,
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
    # log2 distance quantised to 2**-10; table G rounded to 2**-30; r never 0.
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
