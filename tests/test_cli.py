"""The command line on bad input: one clear paragraph, non-zero exit, nothing half-written."""

from __future__ import annotations

import json
import os
import re

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save as st_save

from spikesmith.cli import main
from spikesmith.model.checkpoint import FORMAT
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import EncoderParams


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


# --- issue 12, item 4: bad input is exit 2 and one short paragraph (no traceback, sizes
#     refused before anything is allocated) -----------------------------------------------

#: Longest accepted error output (the paragraph plus click's usage lines).
MAX_MESSAGE = 400


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_user_error(res, *fragments):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert len(res.output) <= MAX_MESSAGE, res.output
    for fragment in fragments:
        assert fragment in res.output, res.output


@pytest.fixture
def run(exported):
    """The exported run folder, as the bad-input cases below edit it."""
    return exported


def _edit_ir(run, old, new):
    ir = run / "network.ir"
    text = ir.read_text()
    assert old in text
    ir.write_text(text.replace(old, new, 1))


def _first_weight(run):
    """The first weight token of the first DENSE row, with its indentation."""
    row = next(line for line in (run / "network.ir").read_text().splitlines()
               if line.startswith("  "))
    return row.split(" ")[2]


@pytest.mark.parametrize(("token", "fragments"), [
    (str(1 << 63), ["found '9223372036854775808'",
                    "in -9223372036854775808..9223372036854775807 (64-bit signed)"]),
    ("1" * 5001, ["found '1111", "... (5001 characters)", "64-bit signed"]),
])
def test_out_of_range_ir_weight(run, token, fragments):
    _edit_ir(run, "\n  " + _first_weight(run) + " ", "\n  " + token + " ")
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir: line 4: expected column 1: a decimal integer",
                       *fragments)


def test_huge_ir_shape_is_refused_before_allocating(run):
    _edit_ir(run, "shape=12x64", "shape=999999999x64")
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir: line 3: expected shape as '<rows>x<columns>' with rows "
                            "and columns an integer in 1..65536 and at most 16777216 weights",
                       "found '999999999x64'")


@pytest.mark.parametrize(("token", "fragments"), [
    ("1e9", ["expected timesteps as an integer in 1..256 (sim.limits timesteps), found '1e9'"]),
    ("1000000000", ["expected timesteps as an integer in 1..256 (sim.limits timesteps)",
                    "found '1000000000'"]),
])
def test_ir_timesteps_out_of_range(run, token, fragments):
    _edit_ir(run, "timesteps=4", f"timesteps={token}")
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir", *fragments)


def test_ir_that_is_a_directory(run):
    (run / "network.ir").unlink()
    (run / "network.ir").mkdir()
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir: is a directory, expected a regular file")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_ir_that_links_to_dev_zero(run):
    (run / "network.ir").unlink()
    (run / "network.ir").symlink_to("/dev/zero")
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir: is a device, pipe or socket, expected a regular file")


def test_ir_larger_than_the_limit(run):
    with (run / "network.ir").open("ab") as f:
        f.truncate((64 << 20) + 1)
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir: is larger than 67108864 bytes (64 MiB)")


def test_binary_garbage_ir_gives_a_short_excerpt(run):
    garbage = bytes(range(32, 127)) * 200
    (run / "network.ir").write_bytes(garbage + b"\n")
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "network.ir: line 1: expected the header 'spikesmith-ir 1'",
                       f"... ({len(garbage)} characters)")


@pytest.mark.parametrize(("config", "found"), [
    ("[]", "found a JSON list"),
    ("{}", "found no 'dataset' key"),
    ('{"dataset": "cifar10"}', "found dataset 'cifar10'"),
])
def test_bad_config_json(run, config, found):
    (run / "config.json").write_text(config)
    res = _invoke("verify", "--run", run)
    _assert_user_error(res, "config.json must be a JSON object whose 'dataset' is one of "
                            "digits, mnist5k", found)


def _write_checkpoint(run, **config_changes):
    torch.manual_seed(0)
    net = SpikingMLP([64, 12, 10], weight_bits=4, timesteps=4, encoder=EncoderParams())
    config = {**net.config(), **config_changes}
    meta = {"format": FORMAT, "config": json.dumps(config), "extra": "{}"}
    (run / "checkpoint.safetensors").write_bytes(st_save(dict(net.state_dict()), metadata=meta))


@pytest.mark.parametrize(("change", "fragments"), [
    ({"sizes": [64, 1e9, 10]},
     ["config 'sizes' must be a list of 2..64 layer widths, each an integer in 1..65536",
      "found 1000000000.0"]),
    ({"sizes": [64, 65536, 4096, 10]},
     ["layer 1 has 65536 inputs x 4096 neurons = 268435456 weights"]),
    ({"timesteps": 1e9}, ["config 'timesteps' must be an integer in 1..256, not 1000000000.0"]),
])
def test_bad_checkpoint_config(tmp_path, change, fragments):
    (tmp_path / "config.json").write_text('{"dataset": "digits"}')
    _write_checkpoint(tmp_path, **change)
    res = _invoke("export", "--run", tmp_path)
    _assert_user_error(res, "checkpoint.safetensors", *fragments)
    assert not (tmp_path / "network.ir").exists()


@pytest.mark.parametrize(("args", "fragments"), [
    (["learn", "--neurons-per-class", "1e9"],
     ["'--neurons-per-class'", "neurons per class must be an integer in 1..256, not '1e9'"]),
    (["learn", "--neurons-per-class", "1000000000"],
     ["neurons per class must be an integer in 1..256, not 1000000000"]),
    (["sleep-study", "--exc", "1e9"],
     ["'--exc'", "population size must be an integer in 1..4096, not '1e9'"]),
    (["sleep-study", "--inh", "0"],
     ["'--inh'", "population size must be an integer in 1..4096, not 0"]),
    (["sleep-study", "--processes", "0"],
     ["'--processes'", "processes must be an integer in 1..256, not 0"]),
    (["sleep-study", "--ratios", "inf"],
     ["--ratios must be comma-separated numbers in 0..100", "not 'inf'"]),
    (["sleep-study", "--ratios", "0,nan"], ["--ratios must be", "not '0,nan'"]),
])
def test_bad_learning_options_are_refused_before_any_work(tmp_path, args, fragments):
    out = tmp_path / "out"
    res = _invoke(*args, "--run", out)
    _assert_user_error(res, *fragments)
    assert not out.exists()
