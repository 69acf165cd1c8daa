"""sim.network over conv, pool and dense layers: a literal trace, equivalences and validation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spikesmith.sim.conv import ConvLayer, PoolLayer, conv_synaptic_input, or_pool
from spikesmith.sim.encoders import EncoderParams, Encoding, encode
from spikesmith.sim.lif import LIFParams, LIFState, NeuronModel, ResetMode, lif_step
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


def _reference_run(params, images):
    """One sample and one timestep at a time, layer by layer: the module docstring's loop.

    Returns per layer ``(T, batch, n)`` spikes and membranes (``None`` for a pool)."""
    x_all = encode(images, params.encoder, timesteps=params.timesteps)
    T, batch = params.timesteps, images.shape[0]
    spikes = [np.zeros((T, batch, layer.n_out), np.int64) for layer in params.layers]
    membranes = [None if isinstance(layer, PoolLayer) else np.zeros_like(s)
                 for layer, s in zip(params.layers, spikes, strict=True)]
    for b in range(batch):
        v = [np.zeros((1, layer.n_out), np.int64) for layer in params.layers]
        for t in range(T):
            x = x_all[t, b:b + 1]
            for idx, layer in enumerate(params.layers):
                if isinstance(layer, PoolLayer):
                    x = or_pool(x, layer)
                else:
                    i = (conv_synaptic_input(x, layer) if isinstance(layer, ConvLayer)
                         else x.astype(np.int64) @ layer.weights.T)
                    s, st = lif_step(i, LIFState(v[idx]), layer.lif)
                    v[idx], x = st.v, s.astype(np.uint8)
                    membranes[idx][t, b] = st.v[0]
                spikes[idx][t, b] = x[0]
    return spikes, membranes


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([RATE, DIRECT]), st.integers(1, 3),
       st.integers(0, 1), st.integers(1, 2), st.integers(1, 2))
def test_random_conv_networks_equal_the_reference_loop(seed, encoder, k, p, s, pool):
    rng = np.random.default_rng(seed)
    p = min(p, k - 1)
    lif = LIFParams(threshold=int(rng.integers(1, 12)), leak_shift=int(rng.integers(1, 4)),
                    reset=ResetMode.ZERO if rng.integers(2) else ResetMode.SUBTRACT)
    w = rng.integers(-8, 8, size=(2, 2, k, k))
    w[:, :, 0, 0] = 7  # keeps the network active, so the comparison is not vacuous
    conv = ConvLayer(weights=w,
                     bias=rng.integers(-5, 6, size=2), weight_bits=4, stride=s, padding=p,
                     in_shape=(2, 5, 6), lif=lif)
    pool_layer = PoolLayer(kernel=min(pool, *conv.out_shape[1:]), in_shape=conv.out_shape)
    head = DenseLayer(rng.integers(-8, 8, size=(3, pool_layer.n_out)), 4, lif)
    params = NetworkParams((conv, pool_layer, head), encoder, 4)
    images = rng.integers(0, 256, size=(3, 60)).astype(np.uint8)
    got = run_network(params, images)
    spikes, membranes = _reference_run(params, images)
    assert int(spikes[0].sum()) + int(np.abs(membranes[-1]).sum()) > 0  # not vacuous
    for idx in range(3):
        assert np.array_equal(got.spikes[idx], spikes[idx])
        assert ((got.membranes[idx] is None and membranes[idx] is None)
                or np.array_equal(got.membranes[idx], membranes[idx]))
