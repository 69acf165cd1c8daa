"""Fixtures of the model tests: the contract's folding equations, assembled independently."""

import pytest

from spikesmith.model.layers import LIFNeuron, QuantDense
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer, NetworkParams
from spikesmith.sim.quant import quantize_threshold, quantize_weights


def fold_network(net) -> NetworkParams:
    """Return the ``NetworkParams`` of ``net`` per the model/compiler contract."""
    dense = [m for m in net.layers if isinstance(m, QuantDense)]
    neurons = [m for m in net.layers if isinstance(m, LIFNeuron)]
    layers = []
    for i, (d, n) in enumerate(zip(dense, neurons, strict=True)):
        w, s = quantize_weights(d.weight.detach().numpy(), bits=d.weight_bits)
        theta = quantize_threshold(n.threshold_value(), scale=s, input_scale=net.input_scale(i),
                                   membrane_bits=net.membrane_bits)
        lif = LIFParams(threshold=theta, model=n.model, leak_shift=n.leak_shift, reset=n.reset,
                        membrane=FixedFormat(net.membrane_bits))
        layers.append(DenseLayer(w, d.weight_bits, lif))
    return NetworkParams(layers=tuple(layers), encoder=net.encoder, timesteps=net.timesteps)


@pytest.fixture
def fold():
    """Return :func:`fold_network`."""
    return fold_network
