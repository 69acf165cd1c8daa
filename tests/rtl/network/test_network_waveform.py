"""``verify_network(..., waveform=...)``: an FST waveform of the first mismatching sample, or of a
chosen one (issue 12, item 8).

A small design (12-6-4, rate coding, T = 4) built under ``build/rtl/network_trace``; the
reference is perturbed (one weight) so that mismatches exist.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spikesmith.hw.common.verilator_harness import waveforms_available
from spikesmith.hw.lif.generate import generate
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, NetworkParams
from spikesmith.verification.lif import network_config_for, verify_network

_NO_WAVEFORMS = waveforms_available()
pytestmark = [pytest.mark.rtl,
              pytest.mark.skipif(_NO_WAVEFORMS is not None, reason=str(_NO_WAVEFORMS))]

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "network_trace"
#: First block of an FST file: type FST_BL_HDR (0), then its 64-bit length (329).
_FST_HEAD = bytes([0]) + (329).to_bytes(8, "big")


def _params() -> NetworkParams:
    rng = np.random.default_rng(3)
    lif = LIFParams(threshold=10, model=NeuronModel.LIF, leak_shift=3,
                    reset=ResetMode.SUBTRACT, membrane=FixedFormat(10))
    layers = tuple(DenseLayer(weights=rng.integers(-4, 8, size=shape), weight_bits=4, lif=lif)
                   for shape in ((6, 12), (4, 6)))
    return NetworkParams(layers=layers, encoder=EncoderParams(Encoding.RATE, seed=0xACE1),
                         timesteps=4)


@pytest.fixture(scope="module")
def bench():
    params = _params()
    design = generate(network_config_for(params, lanes=(4, 2)), BUILD / "design")
    images = np.random.default_rng(0).integers(0, 256, size=(8, 12)).astype(np.uint8)
    return params, design, images


def test_first_mismatching_sample_is_traced(bench, tmp_path):
    params, design, images = bench
    w = np.array(params.layers[1].weights)
    w[2, :] += 1
    bad = replace(params, layers=(params.layers[0], replace(params.layers[1], weights=w)))
    wave = tmp_path / "trace" / "mismatch.fst"
    report = verify_network(design=design, params=bad, images=images, membrane_samples=2,
                            build_dir=BUILD / "sim", waveform=wave)
    assert report.mismatches > 0
    assert report.waveform_sample == report.first.position("sample")
    assert report.waveform == wave
    assert wave.read_bytes()[:9] == _FST_HEAD


def test_chosen_sample_is_traced_and_nothing_when_all_match(bench, tmp_path):
    params, design, images = bench
    report = verify_network(design=design, params=params, images=images, membrane_samples=2,
                            build_dir=BUILD / "sim", waveform=tmp_path / "none.fst")
    assert (report.mismatches, report.waveform, report.waveform_sample) == (0, None, None)
    assert not (tmp_path / "none.fst").exists()
    report = verify_network(design=design, params=params, images=images, membrane_samples=2,
                            build_dir=BUILD / "sim", waveform=tmp_path / "s5.fst",
                            trace_sample=5)
    assert (report.mismatches, report.waveform_sample) == (0, 5)
    assert (tmp_path / "s5.fst").read_bytes()[:9] == _FST_HEAD
    with pytest.raises(ValueError, match="trace_sample must be in 0..7"):
        verify_network(design=design, params=params, images=images, membrane_samples=2,
                       build_dir=BUILD / "sim", waveform=tmp_path / "x.fst", trace_sample=8)
