"""Fixtures shared by the RTL benches."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.sim.decision import OutputRule
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, NetworkParams


def _dense_64_24_10(*, output: LIFParams, rule: OutputRule = OutputRule.MAX_COUNT
                    ) -> NetworkParams:
    rng = np.random.default_rng(7)
    hidden = LIFParams(threshold=14, model=NeuronModel.LIF, leak_shift=3,
                       reset=ResetMode.SUBTRACT, membrane=FixedFormat(10))
    return NetworkParams(
        layers=(DenseLayer(weights=rng.integers(-6, 8, size=(24, 64)), weight_bits=4, lif=hidden),
                DenseLayer(weights=rng.integers(-8, 8, size=(10, 24)), weight_bits=4,
                           lif=output)),
        encoder=EncoderParams(Encoding.RATE, seed=0xACE1),
        timesteps=8,
        rule=rule,
    )


@pytest.fixture(scope="session")
def dense_64_24_10():
    """A factory of the benches' 64-24-10 network (digits-sized, rate coding, T = 8, 4-bit
    random weights, seed 7): a LIF hidden layer and the output layer's ``LIFParams`` given."""
    return _dense_64_24_10
