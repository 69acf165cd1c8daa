"""The first-spike top in Verilator against ``sim.decision``: decisions exact, samples shorter.

One 64-24-10 network (digits images, rate coding, T = 8; the output threshold makes first
spikes land on timesteps 4..8, several neurons often at once, so the membrane tie break
decides, and leaves some samples silent, decided by the final membranes; 10 outputs on 4
lanes leave 2 padding lanes) is generated twice: with the
first-spike top and with the plain count-rule top. The first-spike decisions (class, timesteps
needed, fired) must equal the golden model's for every sample, and its mean cycles per sample
must be below the count-rule top's on the same images. A perturbed reference must be caught.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spikesmith.datasets import load_dataset
from spikesmith.hw.lif.generate import generate
from spikesmith.sim.decision import OutputRule
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import run_network
from spikesmith.verification.first_spike import verify_first_spike
from spikesmith.verification.lif import network_config_for, verify_network

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "first_spike"


def _output(threshold: int = 90) -> LIFParams:
    return LIFParams(threshold=threshold, model=NeuronModel.IF, reset=ResetMode.SUBTRACT,
                     membrane=FixedFormat(8))


@pytest.fixture(scope="module")
def bench(dense_64_24_10):
    params = dense_64_24_10(output=_output(), rule=OutputRule.FIRST_SPIKE)
    config = network_config_for(params, lanes=(8, 4))
    design = generate(config, BUILD / "design", rule=OutputRule.FIRST_SPIKE)
    images = load_dataset("digits").x_test[:60]
    report = verify_first_spike(design, params, images, build_dir=BUILD / "verilator")
    return params, config, design, images, report


def test_first_spike_decisions_match_golden_model(bench):
    params, images, report = bench[0], bench[3], bench[-1]
    assert report.mismatches == 0, report.first_mismatch
    spikes = run_network(params, images, record_membranes=False).spikes[-1]
    at_first = spikes[report.expected.timesteps - 1, np.arange(len(images))]
    lowest = np.argmax(at_first, axis=1)
    # some ties at the first-spike timestep are won by a larger membrane, not the lower index
    assert np.any(report.expected.fired & (report.expected.classes != lowest))
    steps = report.expected.timesteps
    # the bench exercises early decisions, full-length ones and silent outputs
    assert int(steps.min()) < 8
    silent = ~report.expected.fired
    assert int(silent.sum()) > 0
    # silent samples are decided by the readback membranes: not all of them class 0
    assert np.any(report.expected.classes[silent] != 0)
    assert report.run.classes == report.expected.classes.tolist()


def test_first_spike_saves_cycles_against_count_rule(bench, tmp_path):
    params, config, _design, images, report = bench
    count_params = replace(params, rule=OutputRule.MAX_COUNT)
    count_design = generate(config, tmp_path / "count")
    count = verify_network(design=count_design, params=count_params, images=images,
                           membrane_samples=0,
                           build_dir=BUILD / "verilator_count")
    assert count.mismatches == 0, count.first_mismatch
    print(f"cycles per sample: first spike {report.cycles_per_sample:.1f}, count rule "
          f"{count.cycles_per_sample:.1f}")
    assert report.cycles_per_sample < count.cycles_per_sample


def test_first_spike_checker_catches_a_wrong_reference(bench):
    params, design, images = bench[0], bench[2], bench[3]
    wrong = replace(params, layers=(params.layers[0], replace(params.layers[1],
                                                              lif=_output(threshold=89))))
    report = verify_first_spike(design, wrong, images, build_dir=BUILD / "verilator")
    assert report.mismatches > 0
    assert report.first is not None and report.first.position("sample") is not None
