"""Train a conv recipe, check model == IR == sim on the whole test split, report accuracies.

Usage::

    .venv/bin/python benchmarks/bench_train_conv.py [--dataset mnist5k] [--arch conv]
        [--epochs N] [--frozen-epochs N] [--timesteps N] [--shift N] [--seed N]
        [--checkpoint out.safetensors]
        [--json out.json]

Trains ``spikesmith.recipes.recipe_for(dataset, arch=arch)`` (with the given overrides) on
the CPU, then reports the training time, the float accuracy with raw float weights, the
fake-quantised float accuracy, and the hardware-exact accuracy
(``SpikingConvNet.evaluate_hardware``); it compiles the network
(``compiler.driver.compile_model``, BatchNorm folded) and checks that the golden model of the
lowered IR (``sim.network.run_network``) gives the same spikes and membranes in every layer at
every timestep on every test image.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from spikesmith.compiler.driver import compile_model
from spikesmith.datasets import load_dataset
from spikesmith.model.checkpoint import save_checkpoint
from spikesmith.model.train import evaluate
from spikesmith.recipes import recipe_for, train_recipe
from spikesmith.sim.network import run_network


def _same(a: tuple, b: tuple) -> bool:
    return all((x is None and y is None) or np.array_equal(x, y)
               for x, y in zip(a, b, strict=True))


def measure(args: argparse.Namespace) -> dict[str, object]:
    ds = load_dataset(args.dataset)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("frozen_epochs", args.frozen_epochs),
                                   ("timesteps", args.timesteps), ("shift", args.shift),
                                   ("seed", args.seed))
                 if v is not None}
    recipe = dataclasses.replace(recipe_for(args.dataset, arch=args.arch), **overrides)
    net, result = train_recipe(recipe, ds, progress=True)
    if args.checkpoint:
        save_checkpoint(args.checkpoint, net, extra={"recipe": recipe.to_dict()})
    t = time.perf_counter()
    model = net.evaluate_hardware(ds.x_test)
    hw_seconds = time.perf_counter() - t
    sim = run_network(compile_model(net).params, ds.x_test)
    return {
        "dataset": args.dataset,
        "arch": str(net.arch),
        "recipe": recipe.to_dict(),
        "torch_threads": torch.get_num_threads(),
        "train_seconds": round(result.seconds, 1),
        "test_accuracy_per_epoch": list(result.test_accuracy),
        "float_accuracy": evaluate(net, ds.x_test, ds.y_test, quantized=False),
        "fake_quant_accuracy": evaluate(net, ds.x_test, ds.y_test),
        "hardware_accuracy": float(np.mean(model.predictions == ds.y_test)),
        "hardware_eval_seconds": round(hw_seconds, 2),
        "ir_sim_equals_model": _same(sim.spikes, model.spikes)
        and _same(sim.membranes, model.membranes),
        "spike_rates": [float(s.mean()) for s in model.spikes],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--arch", default="conv")
    p.add_argument("--epochs", type=int)
    p.add_argument("--frozen-epochs", type=int)
    p.add_argument("--timesteps", type=int)
    p.add_argument("--shift", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--checkpoint")
    p.add_argument("--json")
    args = p.parse_args()
    out = measure(args)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
