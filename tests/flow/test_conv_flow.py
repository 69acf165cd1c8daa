"""The run-folder flow on a convolutional network (issue 13, item 5): a small conv net trained
on digits with ``--arch``, exported to conv cores + a dense classifier, verified in Verilator
with 0 mismatches, reported; a weight edited in the generated Verilog is caught."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from spikesmith.cli import main

pytestmark = [pytest.mark.rtl, pytest.mark.slow]

ARCH = "4c3p1-p2-16-10"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("conv") / "run"
    for args in (["train", "--arch", ARCH, "--epochs", 2, "--timesteps", 4],
                 ["export", "--lanes", 2],
                 ["verify", "--samples", 60, "--membrane-samples", 10],
                 ["report"]):
        res = _invoke(*args, "--run", run)
        assert res.exit_code == 0, res.output
    return run


def test_conv_network_is_trained_exported_and_bit_exact(conv_run):
    s = json.loads((conv_run / "summary.json").read_text())
    assert s["verify"] == {"samples": 60, "membrane_samples": 10, "mismatches": 0,
                           "first_mismatch": None}
    cores = json.loads((conv_run / "export.json").read_text())["result"]["cores"]
    assert [c["kind"] for c in cores] == ["conv", "dense", "dense"]
    assert cores[0]["n_in"] == 64 and cores[0]["n_out"] == 4 * 8 * 8
    assert (conv_run / "hw" / "spikesmith_conv_network.v").exists()
    assert "CONV" in (conv_run / "network.ir").read_text()
    assert s["stages"]["verify"] == "current" and s["synops_per_cycle"]["measured"] > 0
    assert "Bit-exact verification" in (conv_run / "report.md").read_text()
    # per core: its cycles alone; the network's model is the slowest core's
    kinds = [ly["kind"] for ly in s["layers"]]
    assert kinds == ["conv", "pool", "dense", "dense"]
    cycles = [ly.get("analytic_cycles_per_sample") for ly in s["layers"]]
    assert cycles[1] is None and all(c > 0 for k, c in enumerate(cycles) if k != 1)
    assert max(c for c in cycles if c is not None) == pytest.approx(
        s["cycles_per_sample_analytic"]["value"])


def test_an_edited_conv_weight_is_caught(conv_run, tmp_path):
    copy = shutil.copytree(conv_run, tmp_path / "edited")
    vfile = copy / "hw" / "spikesmith_conv_network.v"
    text = vfile.read_text()
    # the conv core's first taps: word 0 of its weight memory (a SplitMemory part)
    m = re.compile(r"\w+\[0\] = (\d+)'h([0-9a-f]+);").search(
        text, text.index("module \\spikesmith_conv_network.core0_layers_0.weights "))
    word = int(m.group(2), 16) ^ ((1 << int(m.group(1))) - 1)
    vfile.write_text(text[:m.start(2)] + f"{word:0{len(m.group(2))}x}" + text[m.end(2):])
    res = _invoke("verify", "--run", copy, "--samples", 60, "--membrane-samples", 10)
    assert res.exit_code == 1
    assert "MISMATCH" in res.output and "layer 0 (" in res.output


def test_trace_is_refused_for_conv_networks(conv_run):
    res = _invoke("verify", "--run", conv_run, "--samples", 60, "--membrane-samples", 10,
                  "--trace")
    assert res.exit_code == 2
    assert "verify --trace is not available for conv networks yet" in res.output
