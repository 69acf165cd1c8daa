"""A dense network with per-timestep input shift tables (folded TEBN) in Verilator against
sim.network: output spikes at every timestep, membranes of every layer at every timestep, and
the checker checked (a wrong table entry must be reported).

The design comes from the flow's path: a ``MethodMLP`` trained-shape network with TEBN,
``compiler.frontend.torch`` -> ``compiler.pipeline.lower`` -> ``lowering.to_network_config``
-> ``hw.lif.generate``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.lowering import to_network_config, to_network_params
from spikesmith.compiler.passes import partition
from spikesmith.compiler.pipeline import lower
from spikesmith.datasets import load_dataset
from spikesmith.hw.lif.generate import generate
from spikesmith.model.method_net import build_mlp
from spikesmith.model.methods import Method
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.network import run_network
from spikesmith.verification.lif import verify_network

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "methods"


@pytest.fixture(scope="module")
def bench():
    torch.manual_seed(5)
    net = build_mlp([64, 16, 10], method=Method.LTMD_TEBN, timesteps=4,
                    encoder=EncoderParams(Encoding.RATE, seed=0xACE1), init_gain=2.0)
    with torch.no_grad():
        net.norms[0].q.copy_(torch.tensor([1.0, -1.0, 2.0, 0.0]))
        net.norms[1].q.copy_(torch.tensor([0.0, 3.0, 1.0, 2.0]))
    net.eval()
    g = partition(lower(from_torch(net)), lanes=4)
    params = to_network_params(g)
    design = generate(to_network_config(g), BUILD / "design")
    images = load_dataset("digits").x_test[:24]
    return params, design, images


def test_tebn_tables_in_rtl_match_sim_every_timestep(bench):
    params, design, images = bench
    assert [layer.lif.input_shifts for layer in params.layers] == [(2, 0, 3, 1), (0, 3, 1, 2)]
    report = verify_network(design=design, params=params, images=images, membrane_samples=24,
                            build_dir=BUILD / "sim")
    assert (report.mismatches, report.first_mismatch) == (0, None)
    golden = run_network(params, images)
    assert report.rtl_predictions.tolist() == golden.predictions.tolist()
    assert all(s.sum() > 0 for s in golden.spikes)


def test_tebn_bench_reports_a_wrong_table_entry(bench):
    params, design, images = bench
    first = params.layers[0]
    bad_lif = dataclasses.replace(first.lif, input_shifts=(2, 0, 2, 1))
    bad = dataclasses.replace(params, layers=(dataclasses.replace(first, lif=bad_lif),
                                              *params.layers[1:]))
    report = verify_network(design=design, params=bad, images=images[:8], membrane_samples=8,
                            build_dir=BUILD / "sim")
    assert report.mismatches > 0
    assert "timestep 2, layer 0" in report.first_mismatch
    assert not np.array_equal(run_network(bad, images[:8]).membranes[0],
                              run_network(params, images[:8]).membranes[0])
