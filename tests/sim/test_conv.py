"""sim.conv against hand-computed tables and a naive loop reference of the contract equations."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesmith.sim import conv
from spikesmith.sim.conv import (
    ConvLayer,
    PoolLayer,
    conv_accumulator_bound,
    conv_scatter_input,
    conv_synaptic_input,
    or_pool,
    scatter_taps,
)
from spikesmith.sim.lif import LIFParams

LIF = LIFParams(threshold=8)


def _conv(weights, *, bias=None, stride=1, padding=0, in_shape, weight_bits=8):
    return ConvLayer(
        weights=np.asarray(weights, dtype=np.int64),
        bias=None if bias is None else np.asarray(bias, dtype=np.int64),
        weight_bits=weight_bits, stride=stride, padding=padding, in_shape=in_shape, lif=LIF,
    )


def naive_conv(x: np.ndarray, layer: ConvLayer) -> np.ndarray:
    """The contract's sum, one term at a time (Python integers)."""
    c_in, h, w = layer.in_shape
    c_out, ho, wo = layer.out_shape
    k, s, p = layer.kernel, layer.stride, layer.padding
    xs = x.reshape(-1, c_in, h, w)
    out = np.zeros((xs.shape[0], c_out, ho, wo), dtype=np.int64)
    for b in range(xs.shape[0]):
        for o in range(c_out):
            for oy in range(ho):
                for ox in range(wo):
                    acc = 0 if layer.bias is None else int(layer.bias[o])
                    for c in range(c_in):
                        for ky in range(k):
                            for kx in range(k):
                                y, xx = oy * s + ky - p, ox * s + kx - p
                                if 0 <= y < h and 0 <= xx < w:
                                    acc += int(layer.weights[o, c, ky, kx]) * int(xs[b, c, y, xx])
                    out[b, o, oy, ox] = acc
    return out.reshape(xs.shape[0], -1)


def naive_pool(x: np.ndarray, layer: PoolLayer) -> np.ndarray:
    c, h, w = layer.in_shape
    _, hp, wp = layer.out_shape
    k = layer.kernel
    xs = x.reshape(-1, c, h, w)
    return np.array([
        [max(int(xs[b, ch, py * k + dy, px * k + dx]) for dy in range(k) for dx in range(k))
         for ch, py, px in itertools.product(range(c), range(hp), range(wp))]
        for b in range(xs.shape[0])
    ])


def test_stride2_padding1_bias_edges_literal_table():
    # ch0 spikes at (0,0) (an edge pixel reached through the padding), (2,3) and (3,3) (the
    # last row and column); ch1 all ones, so out channel 1 counts the in-bounds window taps.
    ch0 = np.zeros((4, 4), np.uint8)
    ch0[0, 0] = ch0[2, 3] = ch0[3, 3] = 1
    x = np.stack([ch0, np.ones((4, 4), np.uint8)]).reshape(1, -1)
    k0 = np.arange(1, 10).reshape(3, 3)
    w = np.zeros((2, 2, 3, 3), np.int64)
    w[0, 0] = k0
    w[1, 1] = 1
    layer = _conv(w, bias=[10, -3], stride=2, padding=1, in_shape=(2, 4, 4))
    assert layer.out_shape == (2, 2, 2)
    # out0: (0,0) 5 (centre tap on (0,0)); (0,1), (1,0) nothing; (1,1) 6 + 9; plus bias 10.
    # out1: windows hold 2x2, 2x3, 3x2, 3x3 in-bounds ones; plus bias -3.
    assert conv_synaptic_input(x, layer).tolist() == [[15, 10, 10, 25, 1, 3, 3, 6]]


def test_stride1_no_padding_negative_weights_literal_table():
    x = np.array([[1, 1, 0, 0, 1, 0, 1, 0, 1]], np.uint8)  # rows 110 / 010 / 101
    layer = _conv([[[[1, -2], [3, 4]]]], in_shape=(1, 3, 3), weight_bits=4)
    assert conv_synaptic_input(x, layer).tolist() == [[3, 4, 1, 5]]


def test_scatter_taps_literal_table():
    # 3x3 kernel, stride 2, padding 1 on 4x4 -> 2x2 outputs; oy*2 + ky - 1 == y.
    layer = _conv(np.ones((1, 1, 3, 3), np.int64), stride=2, padding=1, in_shape=(1, 4, 4))
    assert scatter_taps(layer, y=0, x=0) == ((0, 0, 1, 1),)
    assert scatter_taps(layer, y=1, x=3) == ((1, 1, 0, 2), (0, 1, 2, 2))
    assert scatter_taps(layer, y=2, x=2) == ((1, 1, 1, 1),)
    assert scatter_taps(layer, y=3, x=0) == ((1, 0, 2, 1),)


def test_or_pool_literal_table_drops_the_remainder():
    ch0 = np.zeros((5, 5), np.uint8)
    ch0[0, 1] = ch0[3, 2] = ch0[4, 4] = 1  # (4, 4) is beyond Hp*k: dropped
    ch1 = np.zeros((5, 5), np.uint8)
    ch1[4, 0] = 1                          # dropped too
    layer = PoolLayer(kernel=2, in_shape=(2, 5, 5))
    assert layer.out_shape == (2, 2, 2)
    out = or_pool(np.stack([ch0, ch1]).reshape(1, -1), layer)
    assert out.dtype == np.uint8
    assert out.tolist() == [[1, 0, 0, 1, 0, 0, 0, 0]]


def test_accumulator_bound_literal():
    w = np.array([[[[1, -2], [3, 0]]], [[[-4, 4], [0, 0]]]])  # row sums of |w|: 6, 8
    layer = _conv(w, bias=[-5, 1], in_shape=(1, 3, 3))
    assert conv_accumulator_bound(layer, input_max=1) == 11       # max(5 + 6, 1 + 8)
    assert conv_accumulator_bound(layer, input_max=255) == 2041   # max(5 + 1530, 1 + 2040)


@st.composite
def conv_cases(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(1, k - 2 * p), 7))
    w = draw(st.integers(max(1, k - 2 * p), 7))
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    bits = draw(st.sampled_from([2, 4, 8, 16]))
    top = (1 << (bits - 1)) - 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.integers(-top - 1, top + 1, size=(c_out, c_in, k, k))
    bias = rng.integers(-1000, 1001, size=c_out) if draw(st.booleans()) else None
    layer = _conv(weights, bias=bias, stride=s, padding=p, in_shape=(c_in, h, w),
                  weight_bits=bits)
    x_max = draw(st.sampled_from([1, 255]))
    x = rng.integers(0, x_max + 1, size=(draw(st.integers(1, 3)), layer.n_in)).astype(np.uint8)
    return layer, x


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_conv_equals_naive_loops_and_the_event_scatter(case):
    layer, x = case
    got = conv_synaptic_input(x, layer)
    assert got.dtype == np.int64
    assert np.array_equal(got, naive_conv(x, layer))
    assert np.array_equal(conv_scatter_input(x, layer), got)
    assert int(np.abs(got).max()) <= conv_accumulator_bound(layer, input_max=int(x.max()) or 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9),
       st.integers(0, 2**32 - 1))
def test_or_pool_equals_naive_loops(c, k, h, w, seed):
    k = min(k, h, w)
    layer = PoolLayer(kernel=k, in_shape=(c, h, w))
    x = np.random.default_rng(seed).integers(0, 2, size=(2, layer.n_in)).astype(np.uint8)
    assert np.array_equal(or_pool(x, layer), naive_pool(x, layer))


def test_batch_chunks_equal_one_sample_at_a_time(monkeypatch):
    monkeypatch.setattr(conv, "_PATCH_ELEMENTS", 5000)  # 2 samples (2*784*18 el.) per chunk
    rng = np.random.default_rng(3)
    layer = _conv(rng.integers(-8, 8, size=(4, 2, 3, 3)), stride=1, padding=1,
                  in_shape=(2, 28, 28), weight_bits=4)
    x = rng.integers(0, 2, size=(9, layer.n_in)).astype(np.uint8)
    whole = conv_synaptic_input(x, layer)
    monkeypatch.undo()
    assert np.array_equal(whole, np.concatenate([conv_synaptic_input(x[i:i + 1], layer)
                                                 for i in range(9)]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(padding=3), "padding"),
    (dict(stride=0), "stride"),
    (dict(bias=[1]), "bias"),
    (dict(bias=[1, 1 << 20]), "membrane"),
    (dict(weight_bits=2), "fit 2 signed bits"),
    (dict(in_shape=(2, 3, 3)), "channels"),
    (dict(in_shape=(1, 2, 2)), "no output"),
    (dict(in_shape=(1, 3)), "in_shape"),
])
def test_conv_layer_rejects(kwargs, match):
    args = dict(weights=np.full((2, 1, 3, 3), 3), in_shape=(1, 4, 4))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        _conv(**args)


def test_conv_input_and_pool_kernel_rejected():
    layer = _conv(np.ones((1, 1, 2, 2), np.int64), in_shape=(1, 3, 3))
    with pytest.raises(ValueError, match="input must be"):
        conv_synaptic_input(np.zeros((1, 8), np.uint8), layer)
    with pytest.raises(ValueError, match="pool kernel"):
        PoolLayer(kernel=4, in_shape=(1, 3, 8))
    assert (layer.n_in, layer.n_out, layer.out_shape) == (9, 4, (1, 2, 2))


@pytest.mark.parametrize("bound", [None, 1 << 30, 1 << 60])  # computed (float64), float64, int64
def test_every_exact_dtype_gives_the_naive_sum(bound):
    rng = np.random.default_rng(11)
    layer = _conv(rng.integers(-32768, 32768, size=(3, 2, 3, 3)), bias=[7, -7, 0], stride=2,
                  padding=2, in_shape=(2, 5, 6), weight_bits=16)
    x = rng.integers(0, 256, size=(4, layer.n_in)).astype(np.uint8)
    assert np.array_equal(conv_synaptic_input(x, layer, bound=bound), naive_conv(x, layer))


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64])
def test_or_pool_accepts_every_spike_dtype(dtype):
    layer = PoolLayer(kernel=3, in_shape=(2, 7, 6))
    x = np.random.default_rng(4).integers(0, 2, size=(5, layer.n_in)).astype(dtype)
    got = or_pool(x, layer)
    assert got.dtype == np.uint8
    assert np.array_equal(got, naive_pool(x.astype(np.int64), layer))
