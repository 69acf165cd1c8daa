"""spikesmith.verification.conv: the conv network's comparison that the flow's verify stage
uses, on a small conv + pool -> conv -> dense network: 0 mismatches against the golden model,
and a golden model perturbed by one bias LSB is caught and named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conv_cases import make_network

from spikesmith.hw.conv.generate import generate_conv_network
from spikesmith.sim.network import NetworkParams, predict, run_network
from spikesmith.verification.conv import verify_conv_network

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "conv_verify"


@pytest.fixture(scope="module")
def case():
    params, config = make_network(seed=4, timesteps=3)
    design = generate_conv_network(config, BUILD / "design")
    images = np.random.default_rng(5).integers(0, 256, size=(6, params.layers[0].n_in),
                                               dtype=np.uint8)
    return params, design, images


def test_conv_network_is_bit_exact_and_predicts_like_the_golden_model(case):
    params, design, images = case
    rep = verify_conv_network(design=design, params=params, images=images, membrane_samples=4,
                              build_dir=BUILD / "sim")
    assert rep.mismatches == 0, rep.first_mismatch
    assert (rep.samples, rep.membrane_samples) == (6, 4)
    assert rep.cycles_per_sample > 0
    trace = run_network(params, images)
    assert trace.spikes[-1].sum() > 0
    expected = predict(trace.spikes[-1].sum(axis=0, dtype=np.int64), trace.membranes[-1][-1])
    assert rep.rtl_predictions.tolist() == expected.tolist()


def test_a_perturbed_golden_model_is_caught(case):
    params, design, images = case
    conv = params.layers[0]
    bias = np.asarray(conv.bias).copy()
    bias[1] += 1
    wrong = NetworkParams(layers=(dataclasses.replace(conv, bias=bias), *params.layers[1:]),
                          encoder=params.encoder, timesteps=params.timesteps)
    rep = verify_conv_network(design=design, params=wrong, images=images, membrane_samples=4,
                              build_dir=BUILD / "sim")
    assert rep.mismatches > 0
    # channel 1 of the 3x8x8 map starts at neuron 64: its first position is the first to differ
    assert rep.first_mismatch == ("sample 0, timestep 0, layer 0 (conv0), neuron 64: membrane "
                                  "expected 5, actual 4")
