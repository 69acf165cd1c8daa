"""Run folders that never lie (issue 12, items 1-3): stage records tied to content hashes,
invalidation, skips that look at the outputs, stages as transactions, the folder lock.

Every test works on a tiny exported network (``exported`` in tests/conftest.py); the stages
that need Verilator or Yosys are covered by tests/flow/test_chaos.py and test_demo.py.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os

import pytest
from click.testing import CliRunner

from spikesmith.cli import main
from spikesmith.records import Chain, Record, load_record
from spikesmith.runfolder import RunFolder


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_record_holds_the_hashes_of_what_it_read_and_wrote(exported):
    rec = load_record(exported, "export")
    assert rec.inputs == {"checkpoint.safetensors": _sha(exported / "checkpoint.safetensors")}
    assert rec.outputs == {p.relative_to(exported).as_posix(): _sha(p) for p in
                           [exported / "network.ir", *sorted((exported / "hw").iterdir())]}
    assert rec.upstream == {"train": None}  # the checkpoint was not trained in this folder
    assert rec.options == {"lanes": 4}
    summary = json.loads((exported / "summary.json").read_text())
    assert summary["records"] == {"export": rec.digest()}
    assert summary["stages"]["export"] == "current"
    assert summary["stages"]["verify"] == "no record yet"
    assert RunFolder(exported).problems() == []


def test_up_to_date_stage_is_skipped_with_one_line(exported, artefacts):
    before = artefacts(exported)
    res = _invoke("export", "--run", exported, "--lanes", 4)
    assert res.exit_code == 0, res.output
    assert "[spikesmith] export: up to date, skipped" in res.output
    assert artefacts(exported) == before


@pytest.mark.parametrize("victim", ["network.ir", "hw/design.json", "hw/spikesmith_network.v"])
def test_a_deleted_output_makes_the_stage_run_again(exported, victim, artefacts):
    before = artefacts(exported)
    (exported / victim).unlink()
    assert RunFolder(exported).summary()["stages"]["export"] == f"its output {victim} is missing"
    res = _invoke("export", "--run", exported, "--lanes", 4)
    assert res.exit_code == 0, res.output
    assert f"export: ran (its output {victim} is missing)" in res.output
    assert artefacts(exported) == before  # the same bytes again, records included


def test_an_edited_output_is_not_current_and_claims_nothing(exported):
    (exported / "hw" / "design.json").write_text("{}")
    s = RunFolder(exported).summary()
    assert s["stages"]["export"] == "its output hw/design.json was modified"
    assert "lanes" not in s and "quantization" not in s and s["records"] == {}


def test_changed_options_rerun_the_stage_and_say_why(exported):
    res = _invoke("export", "--run", exported, "--lanes", 2)
    assert res.exit_code == 0, res.output
    assert "export: ran (options changed: lanes)" in res.output
    assert load_record(exported, "export").options == {"lanes": 2}


def _new_checkpoint(run, *, seed: int) -> None:
    """Replace the run's checkpoint with another network of the same shape."""
    import torch

    from spikesmith.model.checkpoint import save_checkpoint
    from spikesmith.model.network import SpikingMLP
    from spikesmith.sim.encoders import EncoderParams

    torch.manual_seed(seed)
    net = SpikingMLP([64, 12, 10], weight_bits=4, timesteps=4, encoder=EncoderParams())
    save_checkpoint(run / "checkpoint.safetensors", net)


def test_a_new_checkpoint_invalidates_the_export_and_the_report(exported):
    assert _invoke("report", "--run", exported).exit_code == 0
    assert (exported / "report.md").exists()
    _new_checkpoint(exported, seed=1)
    chain = Chain(exported)
    assert chain.states["export"].stale == \
        "its input checkpoint.safetensors was modified since it ran"
    assert chain.states["report"].stale == ("stage export is not current (its input "
                                            "checkpoint.safetensors was modified since it ran)")
    res = _invoke("export", "--run", exported, "--lanes", 4)
    assert res.exit_code == 0, res.output
    # the report was built from the old export: removed with its record when export re-ran
    assert not (exported / "report.md").exists() and not (exported / "report.json").exists()
    assert RunFolder(exported).problems() == []


def test_malformed_record_is_not_trusted_and_the_stage_reruns(exported):
    (exported / "export.json").write_text("[]")
    s = RunFolder(exported).summary()
    assert s["stages"]["export"].startswith("its record is malformed (export.json: a record is")
    res = _invoke("export", "--run", exported, "--lanes", 4)
    assert res.exit_code == 0, res.output
    assert "export: ran (its record is malformed" in res.output
    assert load_record(exported, "export") is not None


def test_a_failing_stage_leaves_the_previous_state(exported, artefacts):
    before = artefacts(exported)
    (exported / "checkpoint.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{bad")
    before["checkpoint.safetensors"] = (exported / "checkpoint.safetensors").read_bytes()
    res = _invoke("export", "--run", exported, "--lanes", 2)
    assert res.exit_code == 2
    after = artefacts(exported)
    assert after.pop("summary.json") != before.pop("summary.json")  # see below
    assert after == before
    assert not (exported / ".staging").exists()
    # what is left claims nothing about the new checkpoint: export is no longer current
    assert RunFolder(exported).summary()["stages"]["export"].startswith("its input checkpoint")


def test_a_second_command_on_a_locked_folder_is_refused(exported):
    fd = os.open(exported, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        res = _invoke("export", "--run", exported, "--lanes", 2)
    finally:
        os.close(fd)
    assert res.exit_code == 2
    assert "another spikesmith command is working in" in res.output


def test_stages_other_than_train_need_an_existing_folder(tmp_path):
    res = _invoke("export", "--run", tmp_path / "none")
    assert res.exit_code == 2
    assert "there is no run folder at" in res.output
    assert not (tmp_path / "none").exists()


def test_leftovers_of_a_killed_command_are_removed(exported):
    (exported / ".staging" / "export" / "hw").mkdir(parents=True)
    (exported / ".trash").mkdir()
    (exported / ".network.ir.abc.tmp").write_text("half")
    (exported / "hw" / ".design.json.x.tmp").write_text("half")
    (exported / "summary.json").write_text('{"accuracy": {"hardware": 1.0}}')
    res = _invoke("export", "--run", exported, "--lanes", 4)
    assert res.exit_code == 0, res.output
    left = {p.name for p in exported.rglob("*")}
    assert not left & {".staging", ".trash", ".network.ir.abc.tmp", ".design.json.x.tmp"}
    assert RunFolder(exported).problems() == []


def test_latency_needs_both_verify_and_estimate_current(exported):
    run = RunFolder(exported)
    for stage, summary in (("verify", {"cycles_per_sample": 500.0}),
                           ("estimate", {"fmax_mhz": {"ice40": 25.0}})):
        rec = Record(stage=stage, options={}, inputs={}, upstream=run.chain().upstream(stage),
                     outputs={}, result={}, summary=summary)
        run.commit(rec, run.staging(stage))
    assert run.summary()["latency_us"] == {"ice40": 20.0}
    (exported / "network.ir").unlink()  # export no longer current: neither verify nor estimate
    s = run.summary()
    assert "latency_us" not in s and "cycles_per_sample" not in s and "fmax_mhz" not in s
    assert s["stages"]["verify"] == \
        "stage export is not current (its output network.ir is missing)"


@pytest.mark.parametrize(("args", "fragment"), [
    (["--verify-samples", "0"], "samples must be in 1..1797 for digits, not 0"),
    (["--verify-samples", "99999"], "samples must be in 1..1797 for digits, not 99999"),
    (["--verify-samples", "50", "--membrane-samples", "51"],
     "membrane samples must be in 0..50 (the samples checked), not 51"),
    (["--lanes", "3"], "lanes must be a power of two in 1..64, not 3"),
])
def test_demo_checks_every_option_before_any_work(tmp_path, args, fragment):
    res = _invoke("demo", "--run", tmp_path / "run", *args)
    assert res.exit_code == 2
    assert fragment in res.output
    assert not (tmp_path / "run").exists()


def test_a_train_that_fails_in_a_new_folder_removes_it(tmp_path, monkeypatch):
    import spikesmith.recipes
    from spikesmith.flow import FlowError

    def broken(*_, **__):
        raise FlowError("training diverged")

    monkeypatch.setattr(spikesmith.recipes, "train_recipe", broken)
    res = _invoke("train", "--run", tmp_path / "run", "--epochs", 1)
    assert res.exit_code == 2 and "training diverged" in res.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["summary.json", "export.json"])
def test_a_folder_in_place_of_a_record_or_the_summary_is_replaced(exported, name):
    (exported / name).unlink()
    (exported / name).mkdir()
    res = _invoke("export", "--run", exported, "--lanes", 4)
    assert res.exit_code == 0, res.output
    assert (exported / name).is_file()
    assert RunFolder(exported).problems() == []


def test_a_deleted_checkpoint_is_trained_again_to_the_same_bytes(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--run", run, "--epochs", 1, "--hidden", 8, "--timesteps", 2]
    assert _invoke(*args).exit_code == 0
    before = (run / "checkpoint.safetensors").read_bytes()
    (run / "checkpoint.safetensors").unlink()
    res = _invoke(*args)
    assert res.exit_code == 0, res.output
    assert "train: ran (its output checkpoint.safetensors is missing)" in res.output
    assert (run / "checkpoint.safetensors").read_bytes() == before


@pytest.mark.parametrize(("victim", "stage"), [("network.ir", "export"), ("hw", "export")])
def test_verify_without_what_export_wrote_names_the_stage(exported, victim, stage):
    import shutil

    path = exported / victim
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    res = _invoke("verify", "--run", exported)
    assert res.exit_code == 2
    assert f"{path} is missing: run `spikesmith {stage} --run {exported}` first" in res.output
