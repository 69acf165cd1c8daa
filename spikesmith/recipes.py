"""Default network and training hyperparameters per dataset (the app layer: recipes name
datasets; ``model.train`` takes any arrays).

Measured with ``.venv/bin/python benchmarks/bench_train_recipes.py digits mnist5k`` on the
shared 2-core development machine (load ~9, torch 2.13 CPU, one intra-op thread), test split:

=========  ========  =====================  ==========  ========
dataset    train     float (raw weights)    fake-quant  hardware
=========  ========  =====================  ==========  ========
digits     9.1 s     96.94 %                96.94 %     96.39 %
mnist5k    36.7 s    96.10 %                96.10 %     96.10 %
=========  ========  =====================  ==========  ========

"hardware" is the integer mode (``SpikingMLP.evaluate_hardware``, equal to
``sim.network.run_network``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .datasets import DATASETS, Dataset
from .model.network import SpikingMLP
from .model.train import TrainResult, train
from .sim.encoders import EncoderParams, Encoding
from .sim.lif import NeuronModel, ResetMode

__all__ = ["TrainRecipe", "recipe_for", "train_recipe"]


@dataclass(frozen=True)
class TrainRecipe:
    """Everything needed to build and train a network, reproducibly.

    Parameters
    ----------
    hidden : tuple[int, ...]
        Hidden layer widths (inputs and outputs come from the dataset).
    weight_bits, membrane_bits, timesteps, encoding, model, leak_shift, reset, threshold,
    learnable_threshold, dropout :
        Network settings (see :class:`~spikesmith.model.network.SpikingMLP`).
    epochs, batch_size, lr, temperature, shift :
        Training settings (see :func:`~spikesmith.model.train.train`).
    seed : int
        Seed of the weight initialisation and of training.
    """

    hidden: tuple[int, ...] = (64,)
    weight_bits: int = 8
    membrane_bits: int = 16
    timesteps: int = 8
    encoding: Encoding = Encoding.RATE
    model: NeuronModel = NeuronModel.LIF
    leak_shift: int = 4
    reset: ResetMode = ResetMode.SUBTRACT
    threshold: float = 1.0
    learnable_threshold: bool = False
    dropout: float = 0.0
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    temperature: float = 3.0
    shift: int = 0
    seed: int = 0

    def build(self, dataset: Dataset) -> SpikingMLP:
        """Return a freshly initialised network for ``dataset`` (init seeded by ``seed``)."""
        torch.manual_seed(self.seed)
        return SpikingMLP(
            [dataset.n_features, *self.hidden, dataset.n_classes],
            weight_bits=self.weight_bits, membrane_bits=self.membrane_bits,
            timesteps=self.timesteps, encoder=EncoderParams(self.encoding), model=self.model,
            leak_shift=self.leak_shift, reset=self.reset, threshold=self.threshold,
            learnable_threshold=self.learnable_threshold, dropout=self.dropout,
        )

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-able dictionary (enums by value), e.g. for checkpoint ``extra``."""
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        for k in ("encoding", "model", "reset"):
            out[k] = out[k].value
        return out


_RECIPES = {
    # 64-128-10, rate coding, T=8: ~97 % float, ~96.5 % hardware in seconds.
    "digits": TrainRecipe(hidden=(128,), timesteps=8, epochs=20),
    # 784-128-10, direct current into layer 0 (24-bit membranes: the threshold is ~1e5 LSBs
    # of pixel x weight), T=8, random +-2 pixel shifts against over-fitting the 4000
    # training images (without them test accuracy stalls near 94-95 %). Rate coding
    # measured 95.3 % hardware, direct 96.1 %.
    "mnist5k": TrainRecipe(hidden=(128,), membrane_bits=24, timesteps=8,
                           encoding=Encoding.DIRECT, epochs=30, shift=2),
}


def recipe_for(dataset: str) -> TrainRecipe:
    """Return the default recipe for a dataset name.

    Raises
    ------
    ValueError
        If ``dataset`` is not one of ``spikesmith.datasets.DATASETS``.
    """
    if dataset not in _RECIPES:
        raise ValueError(f"dataset must be one of {list(DATASETS)}, not {dataset!r}")
    return _RECIPES[dataset]


def train_recipe(recipe: TrainRecipe, dataset: Dataset, *, progress: bool = True
                 ) -> tuple[SpikingMLP, TrainResult]:
    """Build a network from ``recipe``, train it on ``dataset``, return both."""
    net = recipe.build(dataset)
    result = train(net, dataset, epochs=recipe.epochs, batch_size=recipe.batch_size,
                   lr=recipe.lr, seed=recipe.seed, temperature=recipe.temperature,
                   shift=recipe.shift, progress=progress)
    return net, result
