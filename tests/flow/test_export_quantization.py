"""The export stage reports what weight quantisation zeroed and clipped per layer, and warns
when one layer is mostly zeroed (issue 12, item 7: one weight of 1e30 zeroed 8,191 of the
8,192 weights of a layer without a word)."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from spikesmith.cli import main
from spikesmith.compiler.driver import compile_model
from spikesmith.compiler.errors import CompilerError
from spikesmith.flow import ZEROED_WARN_SHARE, quantization_warnings, stage_export
from spikesmith.model.checkpoint import CheckpointError, save_checkpoint
from spikesmith.model.network import SpikingMLP
from spikesmith.report import write_report
from spikesmith.runfolder import RunFolder
from spikesmith.sim.encoders import EncoderParams


def _run(tmp_path, *, outlier: float | None = None):
    """A tiny untrained 64-128-10 network (8,192 weights in its first layer) in a run folder,
    with ``outlier`` as the first layer's weight [3, 5] if given."""
    torch.manual_seed(0)
    net = SpikingMLP([64, 128, 10], weight_bits=8, timesteps=2, encoder=EncoderParams())
    if outlier is not None:
        with torch.no_grad():
            net.layers[0].weight[3, 5] = outlier
    (tmp_path / "config.json").write_text('{"dataset": "digits"}')
    save_checkpoint(tmp_path / "checkpoint.safetensors", net)
    return RunFolder(tmp_path)


def test_outlier_weight_is_reported_and_warned(tmp_path, capsys):
    run = _run(tmp_path, outlier=1e30)
    result = stage_export(run, lanes=4)
    err = capsys.readouterr().err.splitlines()
    layer = result["quantization"]["layers"]["layers.0"]
    assert layer["weights"] == 8192
    assert layer["zeroed"] == 8191
    assert layer["clipped"] == 0
    assert result["quantization"]["zeroed_warn_share"] == ZEROED_WARN_SHARE == 0.5
    assert json.loads(run.file("export.json").read_text())["result"] == result
    assert json.loads(run.file("summary.json").read_text())["quantization"] == \
        result["quantization"]
    assert err == [
        (f"[spikesmith] warning: layer layers.0: 8191 of 8192 weights (99.99 %) are nonzero but "
        f"quantise to 0 (scale {layer['scale']:.4g} per code), above the 50 % warning level; "
        "an outlier weight may have set the scale")
    ]
    stage_export(run, lanes=4)  # up to date: skipped, and the warning is printed again
    assert capsys.readouterr().err.splitlines() == err
    write_report(tmp_path, run.summary())
    report = run.file("report.md").read_text()
    assert "| layers.0 | 8192 | 8191 | 99.99 % **above warning level** | 0 |" in report
    assert "| layers.2 | 1280 |" in report


def test_healthy_network_is_recorded_without_warning(tmp_path, capsys):
    run = _run(tmp_path)
    result = stage_export(run, lanes=4)
    assert capsys.readouterr().err == ""
    layers = result["quantization"]["layers"]
    assert list(layers) == ["layers.0", "layers.2"]
    assert all(st["zeroed_share"] < ZEROED_WARN_SHARE for st in layers.values())


def test_cli_export_prints_the_warning(tmp_path):
    _run(tmp_path, outlier=1e30)
    res = CliRunner().invoke(main, ["export", "--run", str(tmp_path), "--lanes", "4"])
    assert res.exit_code == 0, res.output
    assert "[spikesmith] warning: layer layers.0: 8191 of 8192 weights (99.99 %)" in res.output


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_non_finite_weight_is_refused_before_anything_is_written(tmp_path, bad):
    run = _run(tmp_path, outlier=bad)
    with pytest.raises(CheckpointError, match="tensor 'layers.0.weight' has non-finite values"):
        stage_export(run, lanes=4)
    assert not run.file("export.json").exists()
    assert not run.file("network.ir").exists()


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_non_finite_weight_is_refused_by_the_compiler(bad):
    net = SpikingMLP([4, 3, 2], weight_bits=4, timesteps=2, encoder=EncoderParams())
    with torch.no_grad():
        net.layers[0].weight[1, 2] = bad
    with pytest.raises(CompilerError, match="weights must be finite"):
        compile_model(net)


def test_clipped_weights_are_warned():
    layers = {"layers.0": {"weights": 12, "zeroed": 0, "zeroed_share": 0.0, "clipped": 2,
                           "scale": 0.5}}
    assert quantization_warnings(layers) == [
        ("[spikesmith] warning: layer layers.0: 2 of 12 weights were clipped to the largest code "
        "(scale 0.5)")
    ]
    layers["layers.0"].update(clipped=0, zeroed=6, zeroed_share=0.5)
    assert quantization_warnings(layers) == []  # exactly at the level: no warning
