"""The ``import`` stage in the run folder: a transaction under the ``train`` record, skipped when
up to date, rerun (and everything after it invalidated) when the NIR file changes; the
membrane width is the narrowest that saturates nothing on the calibration images."""

from __future__ import annotations

import itertools
import json

import numpy as np
from click.testing import CliRunner
from nir_helpers import nir

from spikesmith.cli import main
from spikesmith.datasets import load_dataset
from spikesmith.model.checkpoint import load_checkpoint
from spikesmith.nir_stage import CALIBRATION_IMAGES, calibrate_membrane_bits


def _digits_graph(seed: int):
    rng = np.random.default_rng(seed)
    n = {"h": 16, "o": 10}

    def lif(k):
        return nir.LIF(tau=np.full(k, 1e-4 * 8), r=np.full(k, 8.0), v_leak=np.zeros(k),
                       v_threshold=np.ones(k), v_reset=np.zeros(k))

    nodes = {"input": nir.Input(input_type=np.array([64])),
             "fc1": nir.Linear(weight=rng.normal(0, 0.3, (n["h"], 64))), "lif1": lif(n["h"]),
             "fc2": nir.Linear(weight=rng.normal(0, 0.8, (n["o"], n["h"]))), "lif2": lif(n["o"]),
             "output": nir.Output(output_type=np.array([n["o"]]))}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)))


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_import_is_the_train_stage_and_a_changed_file_invalidates_export(tmp_path):
    path, run = tmp_path / "net.nir", tmp_path / "run"
    nir.write(path, _digits_graph(0))
    res = _invoke("import", "--nir", path, "--run", run)
    assert res.exit_code == 0, res.output
    assert "train: ran (no record yet)" in res.output
    config = json.loads((run / "config.json").read_text())
    assert config["dataset"] == "digits" and config["source"] == "nir"
    assert _invoke("export", "--run", run).exit_code == 0
    res = _invoke("import", "--nir", path, "--run", run)
    assert "train: up to date, skipped" in res.output
    assert (run / "export.json").exists()
    nir.write(path, _digits_graph(1))
    res = _invoke("import", "--nir", path, "--run", run)
    assert "train: ran (options changed: nir_sha256)" in res.output
    assert not (run / "export.json").exists() and not (run / "network.ir").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stages"]["train"] == "current"


def test_the_calibrated_membrane_is_the_narrowest_that_saturates_nothing(tmp_path):
    path, run = tmp_path / "net.nir", tmp_path / "run"
    nir.write(path, _digits_graph(2))
    assert _invoke("import", "--nir", path, "--run", run).exit_code == 0
    net = load_checkpoint(run / "checkpoint.safetensors")
    images = load_dataset("digits").x_train[:CALIBRATION_IMAGES]
    bits = net.membrane_bits
    assert calibrate_membrane_bits(net, images) == bits
    narrow = net.evaluate_hardware(images)
    top = max(int(np.abs(m).max()) for m in narrow.membranes)
    top = max(top, *(layer.lif.threshold for layer in net.integer_layers()))
    assert (1 << (bits - 2)) - 1 < top <= (1 << (bits - 1)) - 1
    net.membrane_bits = 32
    for a, b in zip(net.evaluate_hardware(images).spikes, narrow.spikes, strict=True):
        np.testing.assert_array_equal(a, b)
