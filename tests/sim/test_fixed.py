import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spikesmith.sim.fixed import (
    FixedFormat,
    Overflow,
    Rounding,
    apply_overflow,
    bits_for_range,
    half_up_offset,
    round_shift,
    saturate,
    shift_right,
    wrap,
)


def test_shift_right_floors_negative_values():
    x = np.array([7, -7, -1, 1, -8, 8])
    assert shift_right(x, 2).tolist() == [1, -2, -1, 0, -2, 2]


def test_round_shift_half_even_table():
    x = np.array([2, 6, 10, -2, -6, 3, 5, -3])
    # divide by 4: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> 0, -1.5 -> -2, 0.75 -> 1, 1.25 -> 1
    assert round_shift(x, 2, Rounding.HALF_EVEN).tolist() == [0, 2, 2, 0, -2, 1, 1, -1]


#: x / 4 for every mode: 0.5, 1.5, 2.5, -0.5, -1.5, 0.75, 1.25, -0.75, -1.25, 3.0
_QUARTERS = np.array([2, 6, 10, -2, -6, 3, 5, -3, -5, 12])


@pytest.mark.parametrize(("rounding", "expected"), [
    (Rounding.FLOOR, [0, 1, 2, -1, -2, 0, 1, -1, -2, 3]),
    (Rounding.HALF_EVEN, [0, 2, 2, 0, -2, 1, 1, -1, -1, 3]),
    (Rounding.HALF_UP, [1, 2, 3, 0, -1, 1, 1, -1, -1, 3]),
])
def test_round_shift_deterministic_tables(rounding, expected):
    assert round_shift(_QUARTERS, 2, rounding).tolist() == expected


def test_round_shift_stochastic_table():
    # a draw r in 0..3 rounds x/4 up iff r >= 4 - (x mod 4)
    x = np.array([5, 5, 5, 5, -5, -5, 8, 8])
    r = np.array([0, 2, 3, 1, 2, 3, 0, 3])
    assert round_shift(x, 2, Rounding.STOCHASTIC, draws=r).tolist() == [1, 1, 2, 1, -1, -1, 2, 2]


def test_round_shift_stochastic_keeps_python_integers():
    x = np.array([1 << 70, -(1 << 70) + 3], dtype=object)
    got = round_shift(x, 2, Rounding.STOCHASTIC, draws=np.array([1, 1]))
    assert got.tolist() == [1 << 68, -(1 << 68) + 1]


def test_half_up_offset_table():
    assert [half_up_offset(k) for k in range(5)] == [0, 1, 2, 4, 8]


@pytest.mark.parametrize(("rounding", "draws"), [
    (Rounding.STOCHASTIC, None), (Rounding.FLOOR, 1), (Rounding.HALF_UP, np.zeros(2)),
])
def test_round_shift_draws_exactly_for_stochastic(rounding, draws):
    with pytest.raises(ValueError, match="draws must be given exactly when rounding is"):
        round_shift(np.array([1, 2]), 1, rounding, draws=draws)


@given(st.integers(-(1 << 40), 1 << 40), st.integers(0, 20))
def test_half_up_is_nearest_with_ties_up(x, k):
    got = int(round_shift(x, k, Rounding.HALF_UP))
    assert 2 * x - (1 << k) < got * (1 << (k + 1)) <= 2 * x + (1 << k)


def test_saturate_and_wrap_signed_8_bit():
    f = FixedFormat(8)
    x = np.array([-200, -129, -128, 127, 128, 300])
    assert saturate(x, f).tolist() == [-128, -128, -128, 127, 127, 127]
    assert wrap(x, f).tolist() == [56, 127, -128, 127, -128, 44]


def test_apply_overflow_counts_out_of_range_values():
    f = FixedFormat(4, overflow=Overflow.WRAP)
    values, n = apply_overflow(np.array([-9, -8, 7, 8]), f)
    assert values.tolist() == [7, -8, 7, -8]
    assert n == 2


@given(st.integers(-(1 << 40), 1 << 40), st.integers(2, 40))
def test_wrap_matches_twos_complement(x, width):
    f = FixedFormat(width, overflow=Overflow.WRAP)
    low = x & ((1 << width) - 1)
    expected = low - (1 << width) if low >= 1 << (width - 1) else low
    assert int(wrap(x, f)) == expected


@given(st.integers(-(1 << 30), 1 << 30), st.integers(-(1 << 30), 1 << 30))
def test_bits_for_range_is_minimal(a, b):
    lo, hi = min(a, b), max(a, b)
    w = bits_for_range(lo, hi)
    assert FixedFormat(w).contains(lo, hi)
    if w > 2:
        assert not FixedFormat(w - 1).contains(lo, hi)


def test_format_text_round_trips():
    f = FixedFormat(12, 3, signed=False, rounding=Rounding.HALF_EVEN, overflow=Overflow.WRAP)
    assert str(f) == "u12.3:half_even:wrap"
    assert FixedFormat.parse(str(f)) == f


@pytest.mark.parametrize("text", ["s16", "x8.0:floor:wrap", "s8.0:up:wrap", "s8.0:floor"])
def test_malformed_format_text_is_rejected(text):
    with pytest.raises(ValueError, match="malformed number format"):
        FixedFormat.parse(text)


@pytest.mark.parametrize("width", [0, 63, 1.5])
def test_invalid_width_is_rejected(width):
    with pytest.raises(ValueError, match="width must be an integer in 1..62"):
        FixedFormat(width)
