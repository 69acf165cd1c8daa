"""Training: determinism, a briefly trained digits network is hardware-exact, recipes."""

import dataclasses

import numpy as np
import pytest
import torch

from spikesmith.datasets import load_dataset
from spikesmith.model.network import SpikingMLP
from spikesmith.model.train import evaluate, hardware_accuracy, train
from spikesmith.recipes import TrainRecipe, recipe_for, train_recipe
from spikesmith.sim.network import run_network


@pytest.fixture(scope="module")
def digits():
    """The digits split (immutable arrays, so one load serves the module)."""
    return load_dataset("digits")


@pytest.fixture
def small_digits(digits):
    """300 training and 100 test images, for tests that only need a few steps."""
    return dataclasses.replace(digits, x_train=digits.x_train[:300], y_train=digits.y_train[:300],
                               x_test=digits.x_test[:100], y_test=digits.y_test[:100])


def test_brief_digits_training_is_hardware_exact_and_learns(digits, fold):
    recipe = TrainRecipe(hidden=(32,), timesteps=6, epochs=2, lr=1e-2, batch_size=32)
    net, result = train_recipe(recipe, digits, progress=False)
    assert len(result.loss) == len(result.test_accuracy) == 2
    assert result.loss[1] < result.loss[0]
    trace = net.evaluate_hardware(digits.x_test)
    ref = run_network(fold(net), digits.x_test)
    for a, b in zip(trace.spikes + trace.membranes, ref.spikes + ref.membranes, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(trace.counts, ref.counts)
    assert np.array_equal(trace.predictions, ref.predictions)
    hw = hardware_accuracy(net, digits.x_test, digits.y_test)
    assert hw == float(np.mean(ref.predictions == digits.y_test))
    assert hw > 0.75
    assert abs(evaluate(net, digits.x_test, digits.y_test) - hw) < 0.05


def test_training_is_deterministic_for_a_seed(small_digits):
    recipe = TrainRecipe(hidden=(16,), timesteps=4, epochs=1, shift=1, dropout=0.1)
    a, ra = train_recipe(recipe, small_digits, progress=False)
    b, rb = train_recipe(recipe, small_digits, progress=False)
    assert ra.loss == rb.loss
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_progress_reports_every_epoch(small_digits, capsys):
    net = TrainRecipe(hidden=(8,), timesteps=2).build(small_digits)
    result = train(net, small_digits, epochs=2, batch_size=100, lr=1e-2, seed=0, progress=True)
    out = capsys.readouterr().out
    assert "epoch 1/2: loss" in out and "epoch 2/2: loss" in out
    assert f"test {result.test_accuracy[1]:.4f}" in out
    assert not net.training


def test_learnable_threshold_moves(small_digits):
    recipe = TrainRecipe(hidden=(16,), timesteps=4, epochs=1, learnable_threshold=True)
    net, _ = train_recipe(recipe, small_digits, progress=False)
    assert net.layers[1].threshold_value() != 1.0


def test_recipes_exist_for_every_dataset():
    assert recipe_for("digits").weight_bits <= 8
    assert recipe_for("mnist5k").hidden == (128,)
    assert recipe_for("mnist5k").to_dict()["encoding"] == "direct"
    with pytest.raises(ValueError, match=r"dataset must be one of \['digits', 'mnist5k'\], "
                                         r"not 'cifar'"):
        recipe_for("cifar")


def test_conv_recipes_take_an_arch():
    assert "arch" not in recipe_for("digits").to_dict()  # dense records as before
    assert recipe_for("digits", arch="dense") == recipe_for("digits")
    conv = recipe_for("mnist5k", arch="conv")
    assert (conv.arch, conv.to_dict()["arch"], conv.batch_norm) == ("conv", "conv", True)
    assert recipe_for("mnist5k", arch="8c5-p2-10").arch == "8c5-p2-10"
    with pytest.raises(ValueError, match="'8q5' is not a layer"):
        recipe_for("mnist5k", arch="8q5-10")


def test_conv_recipe_trains_then_fine_tunes_folded(small_digits):
    recipe = dataclasses.replace(recipe_for("digits", arch="4c3p1-p2-10"), timesteps=4,
                                 epochs=3, frozen_epochs=1, batch_size=20, lr=1e-2)
    net, result = train_recipe(recipe, small_digits, progress=False)
    assert str(net.arch) == "4c3p1-p2-10" and net.bn_frozen
    assert len(result.loss) == len(result.test_accuracy) == 4
    assert result.loss[2] < result.loss[0]
    hw = hardware_accuracy(net, small_digits.x_test, small_digits.y_test)
    assert hw > 0.3  # 4 short epochs on 300 images; chance is 0.1
    assert abs(evaluate(net, small_digits.x_test, small_digits.y_test) - hw) <= 0.05


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, "epochs must be an integer >= 1, not 0"),
    ({"epochs": 1.5}, "epochs must be an integer >= 1, not 1.5"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, not 0"),
    ({"lr": -1.0}, "lr must be a number >= 0.0, not -1.0"),
    ({"temperature": "hot"}, "temperature must be a number >= 0.0, not 'hot'"),
    ({"shift": -1}, "shift must be an integer >= 0, not -1"),
])
def test_bad_training_arguments_are_rejected(digits, kwargs, message):
    net = TrainRecipe(hidden=(4,)).build(digits)
    args = {"epochs": 1, "batch_size": 8, "lr": 1e-3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        train(net, digits, **args)


def test_dataset_that_does_not_fit_is_rejected(digits):
    net_small = SpikingMLP([10, 3])
    with pytest.raises(ValueError, match="dataset 'digits' has 64 features, but the network "
                                         "takes 10"):
        train(net_small, digits, epochs=1, batch_size=8, lr=1e-3, seed=0)
    with pytest.raises(ValueError, match="dataset 'digits' has labels up to 9, but the network "
                                         "has 3 outputs"):
        train(SpikingMLP([64, 3]), digits, epochs=1, batch_size=8, lr=1e-3, seed=0)
