"""A small conv network trained-shape with the seed methods' hardware in Verilator against
sim.network: ``ltmd+tebn``, whose conv cores have both tables (``lt``/``ltmd``: per-channel
threshold tables; ``tebn``: per-timestep input shift tables), output spikes at every
timestep and every conv core's membranes and spikes at every timestep, 0 mismatches; a wrong
entry of either table in the reference is reported. One Verilator build keeps the bench fast;
each table alone is elaborated and checked in ``tests/hw/test_conv_method_tables.py``.
(``bptt`` and ``ratebp`` train a plain ``SpikingConvNet``: ``tests/rtl/conv``.)

The design comes from the flow's path: ``model.method_convnet.build_conv_net`` ->
``compiler.frontend.torch`` -> ``compiler.pipeline.lower`` -> ``lowering`` ->
``hw.conv.generate.generate_conv_network``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.lowering import to_conv_network_config, to_network_params
from spikesmith.compiler.passes import partition
from spikesmith.compiler.pipeline import lower
from spikesmith.datasets import load_dataset
from spikesmith.hw.conv.generate import generate_conv_network
from spikesmith.model.method_convnet import build_conv_net
from spikesmith.model.methods import Method
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.network import run_network
from spikesmith.verification.conv import verify_conv_network

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[3] / "build" / "rtl" / "conv_methods"

#: Scale of the BatchNorms and of the dense weights.
GAIN = 4.0
#: The two conv layers' shift tables set by hand (training at this size leaves them 0).
SHIFTS = ((2, 0, 3, 1), (0, 3, 1, 2))


def _bench(method: Method):
    torch.manual_seed(3)
    net = build_conv_net("4c3-p2-4c3-10", (1, 8, 8), method=method, timesteps=4,
                         membrane_bits=20, encoder=EncoderParams(Encoding.DIRECT),
                         init_gain=2.0)
    with torch.no_grad():
        for m in net.layers:
            if hasattr(m, "tanh_w"):
                m.tanh_w.copy_(torch.linspace(0.3, 0.9, m.tanh_w.numel()).reshape(m.tanh_w.shape))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.fill_(GAIN)  # a busy network: spikes in every layer
            elif hasattr(m, "in_features"):
                m.weight.mul_(GAIN)
        for ts, e in zip(net.time_scales.values(), SHIFTS, strict=False):
            ts.q.copy_(torch.tensor(e, dtype=torch.float32) - 1.0)
    net.eval()
    g = partition(lower(from_torch(net)), lanes=2)
    params = to_network_params(g)
    design = generate_conv_network(to_conv_network_config(g), BUILD / "design")
    digits = load_dataset("digits").x_test[:12]
    return params, design, (digits * 15 // 16).astype(np.uint8)


@pytest.fixture(scope="module")
def bench():
    return Method.LTMD_TEBN, *_bench(Method.LTMD_TEBN)


def test_conv_method_tables_in_rtl_match_sim_every_timestep(bench):
    method, params, design, images = bench
    conv = [layer for layer in params.layers if hasattr(layer, "kernel") and
            hasattr(layer, "lif")]
    if method.parts.tanh_threshold:
        assert all(len(set(c.lif.channel_thresholds)) == 4 for c in conv)
    if method.parts.tebn:
        assert [c.lif.input_shifts for c in conv] == list(SHIFTS)
    report = verify_conv_network(design=design, params=params, images=images,
                                 membrane_samples=12, build_dir=BUILD / "sim")
    assert (report.mismatches, report.first_mismatch) == (0, None)
    golden = run_network(params, images)
    assert report.rtl_predictions.tolist() == golden.predictions.tolist()
    assert all(s.sum() > 0 for s in golden.spikes)


@pytest.mark.parametrize("table", ["input_shifts", "channel_thresholds"])
def test_conv_bench_reports_a_wrong_table_entry(bench, table):
    _method, params, design, images = bench
    first = params.layers[0]
    if table == "input_shifts":
        bad_lif = dataclasses.replace(first.lif, input_shifts=(2, 0, 2, 1))
    else:
        entries = list(first.lif.channel_thresholds)
        entries[1] += 7
        bad_lif = dataclasses.replace(first.lif, channel_thresholds=tuple(entries),
                                      threshold=max(entries))
    bad = dataclasses.replace(params, layers=(dataclasses.replace(first, lif=bad_lif),
                                              *params.layers[1:]))
    report = verify_conv_network(design=design, params=bad, images=images[:4],
                                 membrane_samples=4, build_dir=BUILD / "sim")
    assert report.mismatches > 0
