"""Issue 12, item 4: every option of ``train``/``demo``/``learn``/``sleep-study`` is bounded
while the command line is parsed, every file those paths read is bounded and validated, and
the size limits can be raised (or lowered) explicitly with ``SPIKESMITH_LIMITS``.

Every bad value is exit status 2 with one short paragraph (no traceback) and nothing written;
no case here trains anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from spikesmith.cli import main
from spikesmith.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_extra
from spikesmith.sim import limits
from spikesmith.sim.limits import IntRange, parse_limit_settings, show_value
from spikesmith.sleep_study import run_sleep_study

#: Longest accepted error output (the paragraph plus click's usage lines).
MAX_MESSAGE = 400
HUGE = "9" * 5000
SEEDS_65 = ",".join(["1"] * 65)


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_user_error(res, *fragments):
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    assert len(res.output) <= MAX_MESSAGE, res.output
    for fragment in fragments:
        assert fragment in res.output, res.output


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


# --- options: bounded while the command line is parsed -----------------------------------

@pytest.mark.parametrize(("args", "fragments"), [
    (["train", "--seed", "-1"], ["'--seed'", "seed must be an integer in 0..2147483647, not -1"]),
    (["train", "--seed", str(1 << 31)], ["not 2147483648"]),
    (["demo", "--seed", "1e3"], ["'--seed'", "not '1e3'"]),
    (["train", "--epochs", "0"], ["'--epochs'", "epochs must be an integer in 1..1000, not 0"]),
    (["demo", "--epochs", "1001"], ["epochs must be an integer in 1..1000, not 1001"]),
    (["train", "--epochs", HUGE], ["epochs must be", "not '99999999999999999..."]),
    (["train", "--hidden", "0"], ["'--hidden'", "hidden width must be an integer in 1..4096"]),
    (["demo", "--hidden", "1e9"], ["hidden width must be an integer in 1..4096, not '1e9'"]),
    (["train", "--timesteps", "1e9"], ["'--timesteps'", "timesteps must be an integer in 1..256"]),
    (["demo", "--weight-bits", "-3"], ["weight bits must be an integer in 2..16, not -3"]),
    (["train", "--membrane-bits", "33"], ["membrane bits must be an integer in 2..32, not 33"]),
    (["learn", "--time-bins", "3"], ["'--time-bins'", ("time bins must be a power of two in "
                                                      "2..4096, not 3")]),
    (["learn", "--time-bins", "8192"], ["power of two in 2..4096, not 8192"]),
    (["learn", "--time-bins", "1"], ["power of two in 2..4096, not 1"]),
    (["learn", "--epochs", "0"], ["'--epochs'", "epochs must be an integer in 1..1000, not 0"]),
    (["learn", "--check-every", "0"], ["'--check-every'", ("check every must be an integer in "
                                                          "1..1048576, not 0")]),
    (["learn", "--seed", "-1"], ["'--seed'", "seed must be an integer in 0..2147483647"]),
    (["learn", "--seed", HUGE], ["'--seed'", "...99999"]),
    (["learn", "--input", "snn-h0"], ["'--input'", "width 0 out of range"]),
    (["learn", "--input", "snn-h5000"], ["width 5000 out of range", "an integer in 1..4096"]),
    (["learn", "--input", "snn-h8x8x8x8x8x8x8x8x8"], ["9 widths out of range"]),
    (["learn", "--input", "snn-h16-t999-e0"], ["-t999, -e0 out of range"]),
    (["learn", "--input", "snn-h" + HUGE], ["input must be 'pixels' or"]),
    (["learn", "--dataset", "x" * 5000], ["unknown dataset 'xxxxx", "digits, mnist5k"]),
    (["learn", "--method", "y" * 5000], ["unknown method 'yyyyy", "s2stdp, sstdp, rstdp"]),
    (["sleep-study", "--train-images", "0"], ["'--train-images'", ("train images must be an "
                                                                  "integer in 1..4000, not 0")]),
    (["sleep-study", "--train-images", "4001"], ["in 1..4000, not 4001"]),
    (["sleep-study", "--test-images", "0"], ["'--test-images'", ("test images must be an "
                                                                "integer in 1..1000, not 0")]),
    (["sleep-study", "--test-images", "1001"], ["in 1..1000, not 1001"]),
    (["sleep-study", "--seeds", "0,-1"], ["'--seeds'", ("seed must be an integer in "
                                                       "0..2147483647, not -1")]),
    (["sleep-study", "--seeds", str(1 << 31)], ["not 2147483648"]),
    (["sleep-study", "--seeds", "0,x"], ["--seeds must be comma-separated integers", "'0,x'"]),
    (["sleep-study", "--seeds", ""], ["number of seeds must be an integer in 1..64, not 0"]),
    (["sleep-study", "--seeds", SEEDS_65], [("number of seeds must be an integer in 1..64, "
                                            "not 65")]),
    (["sleep-study", "--ratios", "inf"], ["--ratios must be comma-separated numbers in 0..100",
                                          "not 'inf'"]),
    (["sleep-study", "--ratios", "nan"], ["not 'nan'"]),
    (["sleep-study", "--ratios", "-0.5"], ["not '-0.5'"]),
    (["sleep-study", "--ratios", "1e400"], ["not '1e400'"]),
    (["sleep-study", "--ratios", SEEDS_65], ["number of ratios must be an integer in 1..64"]),
    (["sleep-study", "--ratios", HUGE], ["--ratios must be", "...9999"]),
])
def test_bad_option_is_refused_before_anything_is_written(tmp_path, args, fragments):
    out = tmp_path / "out"
    res = _invoke(*args, "--run", out)
    _assert_user_error(res, *fragments)
    assert not out.exists()


def test_bad_option_leaves_an_existing_run_folder_as_it_was(tmp_path):
    (tmp_path / "config.json").write_text('{"dataset": "digits"}')
    res = _invoke("train", "--run", tmp_path, "--seed", "-1")
    _assert_user_error(res, "seed must be")
    assert _listing(tmp_path) == ["config.json"]
    assert (tmp_path / "config.json").read_text() == '{"dataset": "digits"}'


def test_library_checks_match_the_command_line(tmp_path):
    out = tmp_path / "study"
    for kw, fragment in [({"seeds": (-1,)}, "seed must be"),
                         ({"ratios": (float("inf"),)}, "sleep ratios must be finite"),
                         ({"n_test": 1001}, "test images must be"),
                         ({"processes": 0}, "processes must be")]:
        with pytest.raises(ValueError, match=fragment):
            run_sleep_study(out_dir=out, **kw)
    assert not out.exists()


# --- files the learn path reads: bounded, validated, before any work ----------------------

_LEARN = ("learn", "--dataset", "digits", "--epochs", 1, "--time-bins", 32)


@pytest.mark.parametrize(("content", "fragments"), [
    (b"not json", ["summary.json is not valid JSON"]),
    (b"\xff\xfe", ["summary.json is not UTF-8 text"]),
    (b"[]", ["summary.json must be a JSON object", "found a JSON list"]),
    (b'"text"', ["found a JSON string"]),
    (b"7", ["found a JSON number"]),
])
def test_learn_refuses_a_malformed_summary(tmp_path, content, fragments):
    (tmp_path / "summary.json").write_bytes(content)
    res = _invoke(*_LEARN, "--run", tmp_path)
    _assert_user_error(res, *fragments)
    assert _listing(tmp_path) == ["summary.json"]


def test_learn_refuses_a_summary_that_is_a_directory(tmp_path):
    (tmp_path / "summary.json").mkdir()
    res = _invoke(*_LEARN, "--run", tmp_path)
    _assert_user_error(res, "summary.json is a directory, expected a regular file")
    assert _listing(tmp_path) == ["summary.json"]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_learn_refuses_a_summary_linked_to_dev_zero(tmp_path):
    (tmp_path / "summary.json").symlink_to("/dev/zero")
    res = _invoke(*_LEARN, "--run", tmp_path)
    _assert_user_error(res, "summary.json is a device, pipe or socket")


def test_learn_refuses_a_summary_above_the_file_size_limit(tmp_path):
    with (tmp_path / "summary.json").open("wb") as f:
        f.truncate(limits.INPUT_FILE_BYTES.hi + 1)  # sparse: nothing is allocated
    res = _invoke(*_LEARN, "--run", tmp_path)
    _assert_user_error(res, "summary.json is larger than 67108864 bytes (64 MiB)",
                       "raise it with SPIKESMITH_LIMITS=file_bytes=N")


def test_learn_refuses_a_frontend_cache_that_is_not_a_file(tmp_path):
    name = "snn-h16-t4-e1"
    (tmp_path / f"frontend-digits-{name}-seed0.safetensors").mkdir()
    res = _invoke(*_LEARN, "--input", name, "--run", tmp_path)
    _assert_user_error(res, "frontend-digits-snn-h16-t4-e1-seed0.safetensors is not a regular "
                            "file; expected the cached front end")
    assert _listing(tmp_path) == ["frontend-digits-snn-h16-t4-e1-seed0.safetensors"]


# --- the checkpoint loader: a bounded read of a regular file -----------------------------

@pytest.mark.parametrize("read", [load_checkpoint, read_checkpoint_extra])
def test_checkpoint_that_is_a_directory_or_a_device(tmp_path, read):
    with pytest.raises(CheckpointError, match="is a directory, expected a regular file"):
        read(tmp_path)
    if os.path.exists("/dev/zero"):
        (tmp_path / "zero.safetensors").symlink_to("/dev/zero")
        with pytest.raises(CheckpointError, match="is a device, pipe or socket"):
            read(tmp_path / "zero.safetensors")


def test_checkpoint_above_the_size_limit_is_not_read(tmp_path, monkeypatch):
    import spikesmith.model.checkpoint as ckpt

    small = IntRange("checkpoint size in bytes", 0, 1000, setting="checkpoint_bytes")
    monkeypatch.setattr(ckpt, "CHECKPOINT_BYTES", small)
    path = tmp_path / "big.safetensors"
    with path.open("wb") as f:
        f.truncate(1001)
    with pytest.raises(CheckpointError, match=r"is larger than 1000 bytes, the accepted "
                                              r"checkpoint size in bytes \(an integer in "
                                              r"0\.\.1000\); raise it with "
                                              r"SPIKESMITH_LIMITS=checkpoint_bytes=N"):
        load_checkpoint(path)


def test_export_refuses_a_checkpoint_linked_to_dev_zero(tmp_path):
    if not os.path.exists("/dev/zero"):
        pytest.skip("needs /dev/zero")
    (tmp_path / "config.json").write_text('{"dataset": "digits"}')
    (tmp_path / "checkpoint.safetensors").symlink_to("/dev/zero")
    res = _invoke("export", "--run", tmp_path)
    _assert_user_error(res, "checkpoint.safetensors", "is a device, pipe or socket")
    assert _listing(tmp_path) == ["checkpoint.safetensors", "config.json"]


# --- SPIKESMITH_LIMITS ----------------------------------------------------------------------

def test_limit_settings_are_parsed():
    assert parse_limit_settings("") == {}
    assert parse_limit_settings("  ") == {}
    assert parse_limit_settings("file_bytes=200000000, layer_width = 131072") == {
        "file_bytes": 200000000, "layer_width": 131072}
    assert parse_limit_settings("layer_weights=16") == {"layer_weights": 16}  # lowered
    assert parse_limit_settings("checkpoint_bytes=0") == {"checkpoint_bytes": 0}


@pytest.mark.parametrize(("text", "problem"), [
    ("file_bytes", "'file_bytes' is not name=integer"),
    ("file_bytes=1e9", "is not name=integer"),
    ("file_bytes=-1", "is not name=integer"),
    ("layer_width=\u0661\u0662", "is not name=integer"),
    ("timesteps=1024", "unknown name 'timesteps'"),
    ("weight_bits=32", "unknown name 'weight_bits'"),
    ("layer_width=1,layer_width=2", "layer_width is given twice"),
    ("layer_width=0", "layer_width must be in 1..2**48"),
    ("layer_width=" + "9" * 16, "is not name=integer"),
    ("x" * 5000, "is not name=integer"),
])
def test_malformed_limit_settings_name_the_accepted_ones(text, problem):
    with pytest.raises(ValueError) as info:
        parse_limit_settings(text)
    message = str(info.value)
    assert problem in message
    assert ("names (defaults): file_bytes (67108864), checkpoint_bytes (1073741824), "
            "layer_width (65536), layer_weights (16777216)") in message
    assert len(message) <= 340


def test_a_malformed_setting_is_a_usage_error_of_every_command(tmp_path, monkeypatch):
    try:
        parse_limit_settings("layer_width=big")
    except ValueError as exc:
        monkeypatch.setattr(limits, "LIMITS_PROBLEM", str(exc))
    for command in ("learn", "train", "sleep-study"):
        res = _invoke(command, "--run", tmp_path / "out")
        _assert_user_error(res, "SPIKESMITH_LIMITS='layer_width=big'", "names (defaults)")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="layer_width=big"):
        limits.check_limit_settings()


def test_size_limits_are_named_and_contract_limits_fixed():
    assert {r.setting for r in (limits.INPUT_FILE_BYTES, limits.CHECKPOINT_BYTES,
                                limits.LAYER_WIDTH, limits.LAYER_WEIGHTS)} == set(
        limits.SIZE_DEFAULTS)
    for fixed in (limits.WEIGHT_BITS, limits.MEMBRANE_BITS, limits.ACC_BITS, limits.LANES,
                  limits.TIMESTEPS, limits.TIME_BINS, limits.EPOCHS, limits.SEED):
        assert fixed.setting == ""
        assert fixed.hint == ""
    with pytest.raises(ValueError, match=r"layer width must be an integer in 1\.\.65536, not "
                                         r"65537; raise it with SPIKESMITH_LIMITS="
                                         r"layer_width=N$"):
        limits.LAYER_WIDTH.check(65537)
    with pytest.raises(ValueError, match=r"in 1\.\.65536, not 0$"):  # raising would not help
        limits.LAYER_WIDTH.check(0)
    assert show_value(10 ** 5000) == "an integer of 16610 bits"
    assert len(show_value("x" * 10 ** 6)) <= 45


_PROBE = """
import json, sys
from spikesmith.sim import limits
from spikesmith.compiler import render
from spikesmith.compiler.irfile import IRFileError, load_ir
import spikesmith.model.checkpoint as ckpt
try:
    load_ir(sys.argv[1])
    err = None
except IRFileError as exc:
    err = str(exc)
print(json.dumps({"width": [limits.LAYER_WIDTH.hi, render.LAYER_WIDTH.hi, ckpt.LAYER_WIDTH.hi],
                  "problem": limits.LIMITS_PROBLEM, "error": err}))
"""


def _probe(tmp_path, setting):
    ir = tmp_path / "net.ir"
    ir.write_text("spikesmith-ir 1\n" + "# padding\n" * 20)
    env = {**os.environ, "SPIKESMITH_LIMITS": setting}
    out = subprocess.run([sys.executable, "-c", _PROBE, str(ir)], env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def test_settings_reach_every_layer_at_import(tmp_path):
    seen = _probe(tmp_path, "layer_width=131072,file_bytes=100")
    assert seen["width"] == [131072, 131072, 131072]
    assert seen["problem"] is None
    assert ("net.ir: is larger than 100 bytes, the accepted file size in bytes (an integer in "
            "0..100); raise it with SPIKESMITH_LIMITS=file_bytes=N") in seen["error"]
    bad = _probe(tmp_path, "layer_width=lots")
    assert bad["width"] == [65536, 65536, 65536]  # the defaults stay; no crash at import
    assert "SPIKESMITH_LIMITS='layer_width=lots'" in bad["problem"]
    assert "net.ir: is larger" not in (bad["error"] or "")
