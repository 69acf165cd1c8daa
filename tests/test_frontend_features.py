"""Frozen spiking front end feeding the NCG readout: determinism, no test images, bin range."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from spikesmith import frontend_features as ff
from spikesmith.cli import main
from spikesmith.datasets import split_80_20
from spikesmith.learn import default_config

TINY = "snn-h16-t4-e1"


def test_parse_input_names():
    assert ff.parse_input("pixels") is None
    spec = ff.parse_input("snn-h256x64-t8-e3")
    assert spec.hidden == (256, 64)
    assert spec.timesteps == 8
    assert spec.epochs == 3
    assert spec.n_features == 64
    assert ff.parse_input("snn-h32").timesteps is None
    for bad in ("snn", "snn-h0", "snn-h16-t0", "rgb", "snn-h16-x"):
        with pytest.raises(ValueError, match="input"):
            ff.parse_input(bad)


def test_spikes_to_bins_rate_and_first_spike():
    # T = 4, one sample, neurons: silent, fires once at t=3, fires at t=1 and t=2, always.
    s = np.zeros((4, 1, 4), np.uint8)
    s[3, 0, 1] = 1
    s[1:3, 0, 2] = 1
    s[:, 0, 3] = 1
    rate = ff.spikes_to_bins(s, time_bins=16)
    assert rate.tolist() == [[16, 12, 8, 0]]
    first = ff.spikes_to_bins(s, time_bins=16, conversion=ff.Conversion.FIRST)
    assert first.tolist() == [[16, 12, 4, 0]]
    times = ff.bins_to_times(rate, time_bins=16)
    assert times.tolist() == [[1.0, 0.75, 0.5, 0.0]]
    with pytest.raises(ValueError, match="spikes must be 0 or 1"):
        ff.spikes_to_bins(s * 2, time_bins=16)


def test_frontend_is_deterministic_in_range_and_trained_on_training_images_only(
        tmp_path, monkeypatch):
    from spikesmith import recipes

    seen = []
    real = recipes.train_recipe

    def spy(recipe, dataset, **kw):
        seen.append((dataset.x_train, dataset.x_test))
        return real(recipe, dataset, **kw)

    monkeypatch.setattr(recipes, "train_recipe", spy)
    a = ff.load_input(dataset="digits", input=TINY, time_bins=32, seed=0)
    b = ff.load_input(dataset="digits", input=TINY, time_bins=32, seed=0,
                      cache_dir=tmp_path)
    cached = list(tmp_path.glob("frontend-digits-*.safetensors"))
    assert len(cached) == 1
    c = ff.load_input(dataset="digits", input=TINY, time_bins=32, seed=0,
                      cache_dir=tmp_path)
    assert len(seen) == 2  # the third call loaded the cached front end
    for other in (b, c):
        assert np.array_equal(a.bins_train, other.bins_train)
        assert np.array_equal(a.bins_test, other.bins_test)
    x_tr, _, x_te, _ = split_80_20("digits")
    test_rows = {r.tobytes() for r in x_te}
    train_rows = {r.tobytes() for r in x_tr}
    for x_fit, x_report in seen:
        fit = {r.tobytes() for r in x_fit}
        assert fit == train_rows
        assert {r.tobytes() for r in x_report} <= train_rows
        assert len(x_fit) == len(x_tr)
    assert len(test_rows - train_rows) > 300  # the test split really differs
    assert a.bins_train.shape == (len(x_tr), 16)
    assert a.bins_test.shape == (len(x_te), 16)
    for bins in (a.bins_train, a.bins_test):
        assert bins.dtype == np.int64
        assert bins.min() >= 0
        assert bins.max() <= 32
    assert (a.bins_train < 32).any()
    assert np.array_equal(a.times_train == 1.0, a.bins_train == 32)
    assert 0.0 <= a.frontend_test_accuracy <= 1.0
    assert default_config(dataset="digits", input=TINY).n_inputs == 16


def test_learn_cli_with_frontend_input_records_its_name(tmp_path):
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["learn", "--run", str(run), "--dataset", "digits",
                                    "--epochs", "1", "--time-bins", "32", "--input", TINY])
    assert res.exit_code == 0, res.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["input"] == TINY
    assert summary["frontend"]["features"] == 16
    assert 0.0 <= summary["accuracy"]["integer"] <= 1.0
    assert list(run.glob("frontend-digits-snn-h16-t4-e1-seed0.safetensors"))


def test_learn_cli_rejects_unknown_input(tmp_path):
    res = CliRunner().invoke(main, ["learn", "--run", str(tmp_path / "r"), "--dataset",
                                    "digits", "--input", "rgb"])
    assert res.exit_code != 0
    assert "input must be" in res.output
    assert not (tmp_path / "r").exists()


def test_float_reference_single_input_spike_never_fires():
    # Front-end samples can carry a single event; the float code's last spike never fires.
    from spikesmith.sim import ncg_reference as ref

    w = np.full((2, 3), 0.9, np.float32)
    times = np.array([1.0, 0.25, 1.0], np.float32)
    t, v = ref.forward(w, np.array([0.1, 0.1], np.float32), times)
    assert t.tolist() == [1.0, 1.0]
    assert v.tolist() == pytest.approx([0.9, 0.9])
