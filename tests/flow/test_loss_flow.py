"""``--loss`` through the flow: bad values refused, recorded in the run, ttfs verified on RTL
with the first-spike rule."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from spikesmith.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("command", ["train", "demo"])
def test_unknown_loss_is_refused(tmp_path, command):
    run = tmp_path / "run"
    res = _invoke(command, "--run", run, "--loss", "mse")
    assert res.exit_code == 2
    assert "'mse' is not one of 'ce', 'count', 'count+', 'ce+', 'ttfs'" in res.output
    assert not run.exists()


def test_ttfs_on_a_conv_network_is_refused(tmp_path):
    run = tmp_path / "run"
    res = _invoke("train", "--run", run, "--arch", "conv", "--loss", "ttfs")
    assert res.exit_code == 2
    assert "only the dense cores implement" in res.output
    assert not run.exists()


@pytest.mark.rtl
def test_ttfs_run_records_the_loss_and_verifies_first_spike_decisions(tmp_path):
    run = tmp_path / "run"
    res = _invoke("train", "--run", run, "--loss", "ttfs", "--epochs", 2, "--hidden", 24,
                  "--timesteps", 4)
    assert res.exit_code == 0, res.output
    train = json.loads((run / "train.json").read_text())
    assert train["options"]["loss"] == "ttfs"
    for args in (("export", "--lanes", 4), ("verify", "--samples", 60, "--membrane-samples", 0),
                 ("report",)):
        res = _invoke(*args, "--run", run)
        assert res.exit_code == 0, res.output
    assert "rule=first_spike" in (run / "network.ir").read_text()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["loss"] == "ttfs" and summary["output_rule"] == "first_spike"
    assert summary["verify"]["mismatches"] == 0
    assert "Training loss: `ttfs`; output rule: `first_spike`." in (run / "report.md").read_text()
