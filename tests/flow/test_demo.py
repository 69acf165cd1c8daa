"""End to end: the demo's trained network, verified in Verilator, and `spikesmith verify` on an
edited run folder.

This is the bench of issue item 6(b) on the demo's own network: at least 500 samples with
output spikes compared at every timestep, at least 100 of them with every membrane of every
layer at every timestep, zero mismatches.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from spikesmith.cli import main

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("demo") / "run"
    res = CliRunner().invoke(main, ["demo", "--run", str(run), "--dataset", "digits",
                                    "--no-pnr"])
    assert res.exit_code == 0, res.output
    return run, res.output


def test_demo_trained_network_is_bit_exact_on_500_samples(demo_run):
    run, output = demo_run
    s = json.loads((run / "summary.json").read_text())
    assert s["dataset"] == "digits"
    assert s["verify"]["samples"] >= 500
    assert s["verify"]["membrane_samples"] >= 100
    assert s["verify"]["mismatches"] == 0
    assert s["weight_bits"] <= 8
    acc = s["accuracy"]
    assert abs(acc["hardware"] - acc["float"]) <= 0.01
    assert acc["hardware"] == acc["quantized"]
    for target in ("ice40", "ecp5", "xc7"):
        assert set(s["resources"][target]) >= {"lut", "ff", "bram", "dsp"}
        assert s["resources"][target]["lut"] > 0
    assert s["cycles_per_sample"] > 0
    assert f"run folder: {run.resolve()}" in output
    assert (run / "report.md").exists()


def test_demo_rerun_skips_up_to_date_stages(demo_run):
    run, _ = demo_run
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    res = CliRunner().invoke(main, ["demo", "--run", str(run), "--dataset", "digits",
                                    "--no-pnr"])
    assert res.exit_code == 0, res.output
    for stage in ("train", "export", "verify", "estimate", "report"):
        assert f"[spikesmith] {stage}: up to date, skipped" in res.output
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before


def test_verify_reports_a_weight_edited_in_the_run_folder(demo_run, tmp_path):
    import shutil

    run, _ = demo_run
    copy = tmp_path / "edited"
    shutil.copytree(run, copy)
    vfile = next((copy / "hw").glob("*.v"))
    text = vfile.read_text()
    # Layer 0 holds 64 pixels x 16 groups of weight words; words 400..499 are central pixels
    # (25..31) that fire in every digit. Invert one of them.
    m = re.search(r"weights\[(4\d\d)\] = (\d+)'h([0-9a-f]+);", text)
    assert m is not None
    word = int(m.group(3), 16) ^ ((1 << int(m.group(2))) - 1)
    vfile.write_text(text[:m.start(3)] + f"{word:0{len(m.group(3))}x}" + text[m.end(3):])
    res = CliRunner().invoke(main, ["verify", "--run", str(copy)])
    assert res.exit_code == 1
    assert "MISMATCH" in res.output
    assert json.loads((copy / "verify.json").read_text())["result"]["mismatches"] > 0
    # hw/ no longer holds what export wrote: neither export nor this verify is claimed
    s = json.loads((copy / "summary.json").read_text())
    assert s["stages"]["export"].startswith("its output hw/spikesmith_network.v was modified")
    assert "verify" not in s and "hardware" not in s["accuracy"]


def test_a_retrained_network_is_reported_without_the_old_proof(demo_run, tmp_path):
    """Issue 12's first case: copy a run folder, train another network, export, report: the
    report must not show the old network's verification, hardware accuracy or resources."""
    import shutil

    run, _ = demo_run
    copy = tmp_path / "retrained"
    shutil.copytree(run, copy)
    for args in (["train", "--hidden", "8", "--epochs", "1"], ["export"], ["report"]):
        res = CliRunner().invoke(main, [*args, "--run", str(copy)])
        assert res.exit_code == 0, res.output
    s = json.loads((copy / "summary.json").read_text())
    assert s["sizes"] == [64, 8, 10]
    assert "verify" not in s and "resources" not in s and "hardware" not in s["accuracy"]
    assert s["stages"]["verify"] == s["stages"]["estimate"] == "no record yet"
    report = (copy / "report.md").read_text()
    assert "not verified: no bit-exact comparison" in report
    assert "not estimated: no resources or Fmax" in report
    assert "hardware" not in report and "Bit-exact verification" not in report
    assert not (copy / "verify.json").exists() and not (copy / "estimate.json").exists()
