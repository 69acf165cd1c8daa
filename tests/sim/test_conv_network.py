"""sim.network over conv, pool and dense layers: a literal trace, equivalences and validation."""

import numpy as np
import pytest

from spikesmith.sim.conv import ConvLayer, PoolLayer
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, NetworkParams, run_network

DIRECT = EncoderParams(encoding=Encoding.DIRECT)
RATE = EncoderParams(encoding=Encoding.RATE)


def _if(threshold, reset=ResetMode.ZERO):
    return LIFParams(threshold=threshold, model=NeuronModel.IF, reset=reset)


def test_conv_pool_dense_literal_trace():
    # I_conv = x[y, x] + x[y+1, x+1] of pixels 1..9 = [6, 8, 12, 14]; IF threshold 10, reset
    # to zero: t0 u = [6, 8, 12, 14] -> s = [0, 0, 1, 1]; t1 u = [12, 16, 12, 14] -> all fire.
    # The 2x2 OR pool fires at both steps; the dense layer gets I = [3, -1] at each step.
    conv = ConvLayer(weights=np.array([[[[1, 0], [0, 1]]]]), weight_bits=2,
                     in_shape=(1, 3, 3), lif=_if(10))
    pool = PoolLayer(kernel=2, in_shape=(1, 2, 2))
    dense = DenseLayer(np.array([[3], [-1]]), 3, _if(3, ResetMode.SUBTRACT))
    params = NetworkParams((conv, pool, dense), DIRECT, 2)
    tr = run_network(params, np.arange(1, 10, dtype=np.uint8)[None])
    assert tr.spikes[0][:, 0].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]
    assert tr.membranes[0][:, 0].tolist() == [[6, 8, 0, 0], [0, 0, 0, 0]]
    assert tr.spikes[1][:, 0].tolist() == [[1], [1]]
    assert tr.membranes[1] is None
    assert tr.spikes[2][:, 0].tolist() == [[1, 0], [1, 0]]
    assert tr.membranes[2][:, 0].tolist() == [[0, -1], [0, -2]]
    assert tr.counts.tolist() == [[2, 0]]
    assert tr.predictions.tolist() == [0]
    assert params.bounds() == [510, 0, 3]


def _trace_equal(a, b, layers):
    for la, lb in layers:
        assert np.array_equal(a.spikes[la], b.spikes[lb])
        assert np.array_equal(a.membranes[la], b.membranes[lb])
    assert np.array_equal(a.predictions, b.predictions)


@pytest.mark.parametrize("encoder", [RATE, DIRECT])
def test_full_image_conv_is_a_dense_layer(encoder):
    # A conv whose kernel covers the whole unpadded image is a dense layer over the flattened
    # (channel-major) image: the traces of both networks are equal.
    rng = np.random.default_rng(5)
    w = rng.integers(-30, 31, size=(6, 2, 4, 4))
    lif, lif2 = LIFParams(threshold=40), LIFParams(threshold=9)
    head = DenseLayer(rng.integers(-8, 9, size=(3, 6)), 6, lif2)
    as_conv = NetworkParams(
        (ConvLayer(weights=w, weight_bits=7, in_shape=(2, 4, 4), lif=lif), head), encoder, 5)
    as_dense = NetworkParams((DenseLayer(w.reshape(6, -1), 7, lif), head), encoder, 5)
    images = rng.integers(0, 256, size=(7, 32)).astype(np.uint8)
    a, b = run_network(as_conv, images), run_network(as_dense, images)
    _trace_equal(a, b, [(0, 0), (1, 1)])


def test_pool_of_one_is_the_identity():
    rng = np.random.default_rng(6)
    conv = ConvLayer(weights=rng.integers(-8, 9, size=(2, 1, 3, 3)), bias=np.array([2, -1]),
                     weight_bits=5, stride=2, padding=1, in_shape=(1, 6, 5),
                     lif=LIFParams(threshold=5))
    head = DenseLayer(rng.integers(-8, 9, size=(3, conv.n_out)), 5, LIFParams(threshold=6))
    pooled = NetworkParams((conv, PoolLayer(kernel=1, in_shape=conv.out_shape), head), RATE, 6)
    plain = NetworkParams((conv, head), RATE, 6)
    images = rng.integers(0, 256, size=(4, 30)).astype(np.uint8)
    a, b = run_network(pooled, images), run_network(plain, images)
    _trace_equal(a, b, [(0, 0), (2, 1)])
    assert np.array_equal(a.spikes[1], a.spikes[0])


def test_network_rejects_bad_sequences():
    lif = LIFParams(threshold=4)
    conv = ConvLayer(weights=np.ones((2, 1, 3, 3), np.int64), weight_bits=4,
                     in_shape=(1, 4, 4), lif=lif)  # out (2, 2, 2)
    with pytest.raises(ValueError, match="shapes do not chain"):
        NetworkParams((conv, PoolLayer(kernel=1, in_shape=(1, 4, 2)),
                       DenseLayer(np.ones((1, 8), np.int64), 4, lif)), RATE, 2)
    with pytest.raises(ValueError, match="sizes do not chain"):
        NetworkParams((conv, DenseLayer(np.ones((1, 9), np.int64), 4, lif)), RATE, 2)
    with pytest.raises(ValueError, match="last layer"):
        NetworkParams((conv, PoolLayer(kernel=2, in_shape=(2, 2, 2))), RATE, 2)
    pool_first = (PoolLayer(kernel=2, in_shape=(1, 4, 4)),
                  DenseLayer(np.ones((1, 4), np.int64), 4, lif))
    with pytest.raises(ValueError, match="direct-current"):
        NetworkParams(pool_first, DIRECT, 2)
    assert NetworkParams(pool_first, RATE, 2).bounds() == [0, 4]
    with pytest.raises(TypeError, match="a layer must be"):
        NetworkParams((conv, "flatten"), RATE, 2)
