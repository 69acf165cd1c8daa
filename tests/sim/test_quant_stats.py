"""Tests of sim.quant.weight_quant_stats: it counts exactly what quantize_weights zeroes and
clips, and non-finite weights are refused."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.sim.quant import WeightQuantStats, quantize_weights, weight_quant_stats


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("seed", range(5))
def test_stats_count_what_quantize_weights_does(bits, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(7, 11)) * rng.choice([0.0, 1.0], size=(7, 11), p=[0.2, 0.8])
    # the per-layer scale, then an explicit scale small enough to clip
    for scale in (None, float(np.max(np.abs(w))) / (1 << bits)):
        w_int, s = quantize_weights(w, bits=bits, scale=scale)
        q = (1 << (bits - 1)) - 1
        st = weight_quant_stats(w, bits=bits, scale=scale)
        assert st.weights == w.size
        assert st.scale == s
        assert st.zeroed == int(np.count_nonzero((w != 0) & (w_int == 0)))
        assert st.clipped == int(np.count_nonzero(np.abs(np.rint(w / s)) > q))
        assert st.zeroed_share == st.zeroed / w.size
    assert weight_quant_stats(w, bits=bits).clipped == 0  # the largest |w| maps to the top code
    assert weight_quant_stats(w, bits=bits, scale=float(np.max(np.abs(w))) / (1 << bits)).clipped


def test_one_outlier_zeroes_the_rest_of_the_layer():
    w = np.random.default_rng(0).uniform(0.01, 0.1, size=(128, 64))
    w[3, 5] = 1e30
    st = weight_quant_stats(w, bits=8)
    assert st == WeightQuantStats(weights=8192, zeroed=8191, clipped=0, scale=1e30 / 127)
    assert st.zeroed_share == pytest.approx(8191 / 8192)
    assert st.to_dict() == {"weights": 8192, "zeroed": 8191, "zeroed_share": 8191 / 8192,
                            "clipped": 0, "scale": 1e30 / 127}


def test_zero_weights_are_not_counted_as_zeroed():
    st = weight_quant_stats(np.zeros((3, 4)), bits=4)
    assert (st.weights, st.zeroed, st.clipped, st.scale) == (12, 0, 0, 1.0)
    assert weight_quant_stats(np.zeros((0, 4)), bits=4).zeroed_share == 0.0


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("fn", [quantize_weights, weight_quant_stats])
def test_non_finite_weights_are_refused(fn, bad):
    w = np.ones((2, 3))
    w[1, 2] = bad
    with pytest.raises(ValueError, match=r"weights must be finite: 1 of 6 are inf or NaN "
                                         r"\(first at index \(1, 2\)"):
        fn(w, bits=4)
