"""The layer-by-layer golden model equals a step-by-step int64 reference, and the column-wise
encoder equals the full encoder's columns."""

import numpy as np
import pytest

from spikesmith.sim.encoders import EncoderParams, Encoding, encode, encode_columns
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, LIFState, ResetMode, lif_step
from spikesmith.sim.network import DenseLayer, NetworkParams, run_network


def _images(rng, batch: int, n: int) -> np.ndarray:
    x = rng.integers(0, 256, size=(batch, n), dtype=np.uint8)
    x[:, rng.random(n) < 0.3] = 0  # features that are zero in every image
    return x


@pytest.mark.parametrize("encoding", list(Encoding))
def test_encode_columns_equals_the_full_encoding(encoding):
    rng = np.random.default_rng(0)
    x = _images(rng, 7, 40)
    cols = np.flatnonzero(rng.random(40) < 0.6)
    p = EncoderParams(encoding, seed=0x1234)
    full = encode(x, p, timesteps=9)
    assert np.array_equal(encode_columns(x, p, timesteps=9, columns=cols), full[:, :, cols])


@pytest.mark.parametrize("encoding", list(Encoding))
def test_run_network_equals_a_step_by_step_int64_reference(encoding):
    rng = np.random.default_rng(1)
    x = _images(rng, 9, 30)
    layers = (
        DenseLayer(rng.integers(-127, 128, size=(12, 30)), 8,
                   LIFParams(threshold=300 if encoding is not Encoding.DIRECT else 20000,
                             membrane=FixedFormat(24))),
        DenseLayer(rng.integers(-127, 128, size=(5, 12)), 8,
                   LIFParams(threshold=90, reset=ResetMode.ZERO, membrane=FixedFormat(24))),
    )
    params = NetworkParams(layers=layers, encoder=EncoderParams(encoding), timesteps=6)
    trace = run_network(params, x)
    states = [LIFState.zeros(batch=9, n=layer.n_out) for layer in layers]
    for t, x_t in enumerate(encode(x, params.encoder, timesteps=6)):
        s = x_t
        for k, layer in enumerate(layers):
            i = s.astype(np.int64) @ layer.weights.astype(np.int64).T
            s, states[k] = lif_step(i, states[k], layer.lif)
            assert np.array_equal(trace.spikes[k][t], s)
            assert np.array_equal(trace.membranes[k][t], states[k].v)
    assert 0 < int(trace.spikes[0].sum()) < trace.spikes[0].size

