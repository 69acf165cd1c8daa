"""Generated network in Verilator against sim.network, and the checker checked.

One design (64-24-10, digits images, rate coding, T = 8) is built once under
``build/rtl/network``; the bench compares output spikes at every timestep of every sample and
membranes/spikes of every layer for the leading samples. The perturbation tests change the
reference (an off-by-one leak, one weight) or the Verilog in the design folder (one weight word)
and require mismatches to be reported.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from spikesmith.datasets import load_dataset
from spikesmith.hw.lif.generate import generate
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import run_network
from spikesmith.verification.lif import network_config_for, verify_network

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "network"


#: The output layer of the bench's network: IF, reset to zero.
OUTPUT = LIFParams(threshold=6, model=NeuronModel.IF, reset=ResetMode.ZERO,
                   membrane=FixedFormat(8))


@pytest.fixture(scope="module")
def bench(dense_64_24_10):
    params = dense_64_24_10(output=OUTPUT)
    design = generate(network_config_for(params, lanes=(8, 4)), BUILD / "design")
    images = load_dataset("digits").x_test[:60]
    return params, design, images


def test_network_rtl_matches_sim_network(bench):
    params, design, images = bench
    report = verify_network(design=design, params=params, images=images, membrane_samples=12,
                            build_dir=BUILD / "sim")
    assert (report.mismatches, report.first_mismatch) == (0, None)
    assert report.samples == 60
    golden = run_network(params, images)
    # the decisions taken from the RTL's own outputs equal the golden model's
    assert report.rtl_predictions.tolist() == golden.predictions.tolist()
    # both layers must actually fire for the comparison to mean something
    assert all(s.sum() > 0 for s in golden.spikes)
    assert report.cycles_per_sample > 0


def test_network_bench_reports_off_by_one_leak(bench):
    params, design, images = bench
    first = params.layers[0]
    bad = replace(params, layers=(
        replace(first, lif=replace(first.lif, leak_shift=first.lif.leak_shift + 1)),
        params.layers[1]))
    report = verify_network(design=design, params=bad, images=images[:20], membrane_samples=5,
                            build_dir=BUILD / "sim")
    assert report.mismatches > 0
    assert re.match(r"sample \d+, timestep \d+, layer 0 \(fc0\), neuron \d+: membrane expected"
                    r" -?\d+, actual -?\d+", report.first_mismatch)
    assert (report.first.quantity, report.first.position("layer")) == ("membrane", "0 (fc0)")


def test_network_bench_reports_one_changed_weight(bench):
    params, design, images = bench
    w = np.array(params.layers[1].weights)
    w[3, :] = np.where(w[3, :] < 7, w[3, :] + 1, w[3, :] - 1)
    bad = replace(params, layers=(params.layers[0], replace(params.layers[1], weights=w)))
    report = verify_network(design=design, params=bad, images=images[:20], membrane_samples=5,
                            build_dir=BUILD / "sim")
    assert report.mismatches > 0
    assert "layer 1 (fc1), neuron 3" in report.first_mismatch


def test_network_bench_detects_weight_edited_in_verilog(bench, tmp_path):
    params, design, images = bench
    folder = tmp_path / "design"
    shutil.copytree(design.out_dir, folder)
    vfile = folder / design.verilog.name
    text = vfile.read_text()
    # centre pixel 27 of layer 0 (fc0), group 0: word 27 * G = 81; flip its weights
    m = re.search(r"weights\[81\] = 32'([hd])([0-9a-f]+);", text)
    assert m is not None
    word = int(m.group(2), 16 if m.group(1) == "h" else 10)
    vfile.write_text(f"{text[:m.start(1)]}h{word ^ 0x77777777:08x}{text[m.end(2):]}")
    report = verify_network(design=folder, params=params, images=images[:20],
                            membrane_samples=5, build_dir=tmp_path / "sim")
    assert report.mismatches > 0
    assert "layer 0 (fc0)" in report.first_mismatch
