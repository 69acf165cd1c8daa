"""``--method`` in the flow: accepted names, refusals (exit 2), and where the method is recorded."""

import json

from click.testing import CliRunner

from spikesmith.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_unknown_method_is_rejected_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    res = _invoke("train", "--run", run, "--method", "ltmd2")
    assert res.exit_code == 2
    assert "'ltmd2' is not one of 'bptt', 'lt', 'ltmd', 'tebn', 'ltmd+tebn'" in res.output
    assert not run.exists()


def test_a_method_on_a_conv_network_trains_and_exports_its_tables(tmp_path):
    run = tmp_path / "run"
    res = _invoke("train", "--run", run, "--arch", "4c3p1-p2-10", "--method", "ltmd+tebn",
                  "--epochs", "1", "--timesteps", "4")
    assert res.exit_code == 0, res.output
    assert json.loads((run / "summary.json").read_text())["method"] == "ltmd+tebn"
    res = _invoke("export", "--run", run)
    assert res.exit_code == 0, res.output
    text = (run / "network.ir").read_text()
    assert "input_shifts=" in text
    assert "channel_thresholds=" in text


def test_method_is_recorded_in_options_summary_and_checkpoint(tmp_path):
    run = tmp_path / "run"
    res = _invoke("train", "--run", run, "--method", "ltmd+tebn", "--epochs", "2",
                  "--hidden", "16", "--timesteps", "4")
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == "ltmd+tebn"
    record = json.loads((run / "train.json").read_text())
    assert record["options"]["method"] == "ltmd+tebn"
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["method"] == "ltmd+tebn"
    res = _invoke("export", "--run", run)
    assert res.exit_code == 0, res.output
    assert "input_shifts=" in (run / "network.ir").read_text()
