"""Tests of hw.lif.config: the LIF core's configuration on the sim record of its layer."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.sim.encoders import DEFAULT_ENCODER
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer


def _layer(n_in: int, n_out: int, *, membrane_bits: int = 16) -> DenseLayer:
    w = np.arange(n_in * n_out).reshape(n_out, n_in) % 7 - 3
    return DenseLayer(weights=w, weight_bits=4,
                      lif=LIFParams(threshold=5, membrane=FixedFormat(membrane_bits)))


def _core(n_in: int, n_out: int, *, lanes: int, acc_bits: int = 12, name: str = "c",
          membrane_bits: int = 16) -> LIFCoreConfig:
    return LIFCoreConfig(name=name, layer=_layer(n_in, n_out, membrane_bits=membrane_bits),
                         acc_bits=acc_bits, input_bits=1, lanes=lanes)


def test_config_reads_its_layer():
    layer = _layer(6, 10)
    cfg = LIFCoreConfig(name="c", layer=layer, acc_bits=12, input_bits=1, lanes=4)
    assert (cfg.n_in, cfg.n_out) == (6, 10)
    assert cfg.weights is layer.weights
    assert cfg.weight_bits == 4
    assert cfg.lif is layer.lif


@pytest.mark.parametrize(("n_out", "lanes", "groups"),
                         [(10, 4, 3), (8, 4, 2), (1, 8, 1), (128, 8, 16), (5, 1, 5)])
def test_groups_is_ceil_of_neurons_over_lanes(n_out, lanes, groups):
    assert _core(3, n_out, lanes=lanes).groups == groups


def test_state_bits_holds_the_wider_of_membrane_and_accumulator():
    assert _core(3, 4, lanes=2, acc_bits=12, membrane_bits=16).state_bits == 17
    assert _core(3, 4, lanes=2, acc_bits=20, membrane_bits=16).state_bits == 21


@pytest.mark.parametrize("lanes", [0, 3, 128, True])
def test_lanes_out_of_range_are_rejected(lanes):
    with pytest.raises(ValueError, match=r"lanes must be a power of two in 1\.\.64"):
        _core(3, 4, lanes=lanes)


def test_bad_name_layer_and_input_bits_are_rejected():
    with pytest.raises(ValueError, match="core name must be an identifier, not '1c'"):
        _core(3, 4, lanes=2, name="1c")
    with pytest.raises(TypeError, match="layer must be a DenseLayer"):
        LIFCoreConfig(name="c", layer=np.zeros((4, 3), int), acc_bits=8, input_bits=1, lanes=1)
    with pytest.raises(ValueError, match="input_bits must be 1 .* or 8"):
        LIFCoreConfig(name="c", layer=_layer(3, 4), acc_bits=8, input_bits=4, lanes=1)


def test_network_config_chains_cores_and_defaults_the_encoder():
    net = NetworkConfig(cores=(_core(3, 4, lanes=2), _core(4, 2, lanes=2, name="d")), timesteps=2)
    assert net.encoder is DEFAULT_ENCODER
    with pytest.raises(ValueError, match="core sizes do not chain: c has 4 outputs, d takes 5"):
        NetworkConfig(cores=(_core(3, 4, lanes=2), _core(5, 2, lanes=2, name="d")), timesteps=2)
    with pytest.raises(ValueError, match=r"timesteps must be an integer in 1\.\.256, not 0"):
        NetworkConfig(cores=(_core(3, 4, lanes=2),), timesteps=0)
