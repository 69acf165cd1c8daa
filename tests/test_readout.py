"""Readout (spikesmith.readout) and the study's image resize (spikesmith.sleep_study)."""

import json

import numpy as np
import pytest

from spikesmith.readout import clustering_index, pca_lr_accuracy
from spikesmith.sleep_study import resize_area


def test_clustering_index_is_between_over_within_scatter():
    x = np.array([[0.0], [2.0], [10.0], [12.0]])
    y = np.array([0, 0, 1, 1])
    # mu = 6, class means 1 and 11: S_B = 2*25 + 2*25 = 100, S_W = 4 * 1 = 4.
    assert clustering_index(x, y) == 25.0
    assert clustering_index(np.array([[1.0], [1.0], [3.0], [3.0]]), y) == float("inf")


def test_pca_lr_separates_separable_counts_and_fails_on_noise():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 20)
    centres = rng.integers(0, 20, size=(4, 12))
    x = rng.poisson(centres[y] + 1)
    assert pca_lr_accuracy(x[::2], y[::2], x[1::2], y[1::2]) == 1.0
    noise = rng.poisson(5, size=(80, 12))
    assert pca_lr_accuracy(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.5


def test_pca_lr_on_constant_features_predicts_the_majority_class():
    y = np.array([0, 0, 1, 0])
    assert pca_lr_accuracy(np.ones((4, 3)), y, np.ones((2, 3)), np.array([0, 1])) == 0.5


def test_readout_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"training features must be \(n, features\) with n"):
        pca_lr_accuracy(np.ones((3, 2)), np.ones(4), np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="variance must be in"):
        pca_lr_accuracy(np.ones((3, 2)), np.ones(3), np.ones((3, 2)), np.ones(3), variance=1.0)
    with pytest.raises(ValueError, match="training and test features must have the same width"):
        pca_lr_accuracy(np.ones((3, 2)), np.ones(3), np.ones((3, 4)), np.ones(3))


def test_resize_area_averages_blocks_rounding_half_up():
    img = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 255]])
    out = resize_area(img.reshape(1, 16), shape=(4, 4), size=2)
    # blocks: (0+1+4+5)/4 = 2.5 -> 3, (2+3+6+7)/4 = 4.5 -> 5, (8+9+12+13)/4 = 10.5 -> 11,
    # (10+11+14+255)/4 = 72.5 -> 73
    assert out.tolist() == [[3, 5, 11, 73]]


def test_resize_area_28_to_15_pads_one_pixel_each_side():
    img = np.full((2, 784), 200, dtype=np.uint8)
    out = resize_area(img, shape=(28, 28), size=15).reshape(2, 15, 15)
    assert out[:, 1:14, 1:14].min() == 200 and out[0, 0, 0] == 50 and out[0, 0, 5] == 100
    with pytest.raises(ValueError, match=r"images must have shape \(n, 784\), not \(2, 10\)"):
        resize_area(np.zeros((2, 10)), shape=(28, 28), size=15)


def test_tiny_study_writes_summary_and_plots(tmp_path):
    from dataclasses import replace

    from spikesmith.sim.recurrent import NeuronParams
    from spikesmith.sim.recurrent_net import NetConfig
    from spikesmith.sleep_study import run_sleep_study

    cfg = replace(NetConfig(), steps_per_image=10, neuron=NeuronParams())
    res = run_sleep_study(
        ratios=(0.0, 0.5),
        seeds=(0, 1),
        n_train=40,
        n_test=60,
        n_exc=20,
        n_inh=5,
        image_size=7,
        out_dir=tmp_path,
        progress=False,
        processes=1,
        block_images=20,
        cfg=cfg,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["results"]) == {"0.0", "0.5"}
    r = summary["results"]["0.5"]
    assert r["seeds"] == [0, 1] and 0.0 <= r["accuracy_mean"] <= 1.0
    assert r["sleep_steps_mean"] > 0 and summary["results"]["0.0"]["sleep_steps_mean"] == 0
    assert 0.0 <= summary["input_baseline_accuracy"] <= 1.0
    assert r["weight_sum_final"] > 0
    assert 0.0 <= summary["untrained_accuracy"] <= 1.0
    assert len(summary["untrained_accuracy_per_seed"]) == 2
    run = next(x for x in summary["runs"] if x["ratio"] == 0.5)
    assert len(run["train_exc_spikes_per_image"]) == 2
    # start, then after each of 2 wake blocks and 2 sleep episodes
    assert [t["images"] for t in run["group_trace"]] == [0, 20, 20, 40, 40]
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    assert (tmp_path / "weight_sum.png").stat().st_size > 0
    assert not list(tmp_path.glob("*.tmp"))
    assert len(res.runs) == 4
    # seeds change the outcome (connectivity, input trains)
    s0 = next(x for x in res.runs if x.seed == 0 and x.ratio == 0.0)
    s1 = next(x for x in res.runs if x.seed == 1 and x.ratio == 0.0)
    assert s0.weight_sum_final != s1.weight_sum_final
