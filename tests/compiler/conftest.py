"""Shared builders for the compiler tests: a tiny fixed network and small integer graphs."""

import numpy as np
import pytest
import torch

from spikesmith.compiler.ir import ConvArg, DenseArg, LIFArg, PoolArg, build_spine
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import NeuronModel, ResetMode


def _tiny_net(encoding: Encoding = Encoding.DIRECT) -> SpikingMLP:
    """6 -> 4 -> 3 with literal weights (multiples of 1/16, exact in float32)."""
    net = SpikingMLP([6, 4, 3], weight_bits=4, membrane_bits=14, timesteps=4,
                     encoder=EncoderParams(encoding), leak_shift=3)
    w0 = ((np.arange(24).reshape(4, 6) * 5) % 17 - 8) / 16
    w1 = ((np.arange(12).reshape(3, 4) * 7) % 11 - 5) / 8
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.from_numpy(w0))
        net.layers[2].weight.copy_(torch.from_numpy(w1))
        net.layers[1].threshold.fill_(0.75)
        net.layers[3].threshold.fill_(1.25)
    return net


@pytest.fixture
def tiny_net():
    """Return a factory of fresh tiny networks: ``tiny_net(encoding=...)``."""
    return _tiny_net


def _int_graph(weights=((3, -2, 1), (0, 5, -4)), *, threshold=4, bits=4,
               encoding=Encoding.RATE):
    w = np.asarray(weights, dtype=np.int64)
    lif = LIFArg(threshold=threshold, model=NeuronModel.LIF, leak_shift=2,
                 reset=ResetMode.SUBTRACT, membrane=FixedFormat(8))
    return build_spine([(DenseArg(weights=w, bits=bits), lif)],
                       encoder=EncoderParams(encoding), timesteps=3)


@pytest.fixture
def int_graph():
    """Return a factory of small one-layer integer-stage graphs (no widths, no cores)."""
    return _int_graph


def _conv_graph(*, integer=True, encoding=Encoding.RATE, bias=(3, -2), membrane_bits=8):
    """INPUT 1x6x6 -> CONV 2x1x3x3 (pad 1, bias) -> LIF -> POOL 2 -> CONV 3x2x2x2 -> LIF
    -> DENSE 4x12 -> LIF -> OUTPUT, literal weights (float stage: the same numbers / 8)."""
    dtype, scale = (np.int64, None) if integer else (np.float64, 1.0)
    w1 = (np.arange(18).reshape(2, 1, 3, 3) * 5) % 7 - 3
    w2 = (np.arange(24).reshape(3, 2, 2, 2) * 3) % 5 - 2
    w3 = (np.arange(48).reshape(4, 12) * 7) % 9 - 4
    if not integer:
        w1, w2, w3 = w1 / 8, w2 / 8, w3 / 8
    b = None if bias is None else np.asarray(bias, dtype)
    if b is not None and not integer:
        b = b / 8
    in_scale = None if integer else (1 / 255 if encoding is Encoding.DIRECT else 1.0)

    def lif(theta):
        return LIFArg(threshold=theta if integer else theta / 8, model=NeuronModel.LIF,
                      leak_shift=2, reset=ResetMode.SUBTRACT, membrane=FixedFormat(membrane_bits))
    layers = [
        (ConvArg(weights=np.asarray(w1, dtype), bits=3, in_shape=(1, 6, 6), padding=1, bias=b,
                 input_scale=in_scale), lif(4)),
        PoolArg(kernel=2, in_shape=(2, 6, 6)),
        (ConvArg(weights=np.asarray(w2, dtype), bits=3, in_shape=(2, 3, 3),
                 input_scale=scale), lif(2)),
        (DenseArg(weights=np.asarray(w3, dtype), bits=4, input_scale=scale), lif(3)),
    ]
    return build_spine(layers, encoder=EncoderParams(encoding), timesteps=5)


@pytest.fixture
def conv_graph():
    """Return a factory of small conv + pool + dense graphs (no widths, no cores)."""
    return _conv_graph
