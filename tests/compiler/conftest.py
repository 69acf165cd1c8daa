"""Shared builders for the compiler tests: a tiny fixed network and small integer graphs."""

import numpy as np
import pytest
import torch

from spikesmith.compiler.ir import DenseArg, LIFArg, build_spine
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
