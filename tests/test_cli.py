"""The command line on bad input: one clear paragraph, non-zero exit, nothing half-written."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from spikesmith.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_unknown_dataset_is_rejected_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    res = _invoke("train", "--run", run, "--dataset", "cifar10")
    assert res.exit_code == 2
    assert "unknown dataset 'cifar10': accepted datasets are digits, mnist5k" in res.output
    assert not run.exists()


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--weight-bits", 1, "weight bits must be an integer in 2..16, not 1"),
    ("--weight-bits", 17, "weight bits must be an integer in 2..16, not 17"),
    ("--membrane-bits", 40, "membrane bits must be an integer in 2..32, not 40"),
    ("--membrane-bits", 1, "membrane bits must be an integer in 2..32, not 1"),
    ("--timesteps", 0, "timesteps must be an integer in 1..256, not 0"),
    ("--timesteps", 257, "timesteps must be an integer in 1..256, not 257"),
])
def test_out_of_range_widths_are_rejected(tmp_path, option, value, message):
    run = tmp_path / "run"
    res = _invoke("demo", "--run", run, option, value)
    assert res.exit_code == 2
    assert message in res.output
    assert not run.exists()


def test_stage_without_its_inputs_names_the_missing_stage(tmp_path):
    res = _invoke("export", "--run", tmp_path)
    assert res.exit_code == 2
    assert re.search(r"checkpoint\.safetensors is missing: run `spikesmith train --run .*` "
                     r"first", res.output)


def test_corrupted_checkpoint_is_reported_and_nothing_is_exported(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    res = _invoke("export", "--run", tmp_path)
    assert res.exit_code == 2
    assert "checkpoint" in res.output
    assert "corrupted" in res.output or "not a safetensors file" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors"]


def test_bad_lanes_are_rejected(tmp_path):
    res = _invoke("export", "--run", tmp_path, "--lanes", 3)
    assert res.exit_code == 2
    assert "lanes must be a power of two in 1..64, not 3" in res.output


def test_corrupted_ir_is_reported_and_nothing_is_verified(exported):
    ir = exported / "network.ir"
    lines = ir.read_text().splitlines(keepends=True)
    ir.write_text("".join(lines[: len(lines) // 2]) + "dense garbage here\n")
    before = sorted(p.name for p in exported.iterdir())
    res = _invoke("verify", "--run", exported)
    assert res.exit_code == 2
    assert "network.ir" in res.output
    assert sorted(p.name for p in exported.iterdir()) == before


def test_report_is_written_from_the_run_folder(exported):
    res = _invoke("report", "--run", exported)
    assert res.exit_code == 0, res.output
    text = (exported / "report.md").read_text()
    assert "![raster](raster.png)" in text
    assert (exported / "raster.png").read_bytes()[:4] == b"\x89PNG"


def test_learn_writes_the_summary_keys(tmp_path):
    run = tmp_path / "learn"
    res = _invoke("learn", "--run", run, "--dataset", "digits", "--epochs", 1,
                  "--neurons-per-class", 2)
    assert res.exit_code == 0, res.output
    import json

    s = json.loads((run / "summary.json").read_text())
    assert {"dataset", "input", "method", "neurons_per_class", "time_bins", "epochs"} <= set(s)
    assert (s["dataset"], s["input"], s["method"], s["neurons_per_class"]) == (
        "digits", "pixels", "s2stdp", 2)
    assert 0.2 < s["accuracy"]["integer"] <= 1.0
    assert 0.2 < s["accuracy"]["float_reference"] <= 1.0
    assert (run / "weights.png").exists()


def test_learn_rejects_unknown_method(tmp_path):
    res = _invoke("learn", "--run", tmp_path / "x", "--method", "backprop")
    assert res.exit_code == 2
    assert "unknown method 'backprop': accepted methods are s2stdp, sstdp, rstdp" in res.output
    assert not (tmp_path / "x").exists()
