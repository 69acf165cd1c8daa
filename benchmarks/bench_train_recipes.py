"""Train the default recipe of each dataset and report float and hardware accuracy.

Usage::

    .venv/bin/python benchmarks/bench_train_recipes.py [digits] [mnist5k] [--json out.json]

For each dataset: training time, float accuracy with the raw float weights, float accuracy
with fake-quantised weights and thresholds (what training optimises), and the accuracy of the
hardware-exact integer mode (equal to ``sim.network.run_network``), all on the test split.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from spikesmith.datasets import load_dataset
from spikesmith.model.train import evaluate, hardware_accuracy
from spikesmith.recipes import recipe_for, train_recipe


def measure(name: str) -> dict[str, object]:
    ds = load_dataset(name)
    recipe = recipe_for(name)
    net, result = train_recipe(recipe, ds, progress=False)
    t = time.perf_counter()
    hw = hardware_accuracy(net, ds.x_test, ds.y_test)
    hw_seconds = time.perf_counter() - t
    return {
        "dataset": name,
        "recipe": recipe.to_dict(),
        "torch_threads": torch.get_num_threads(),
        "train_seconds": round(result.seconds, 1),
        "float_accuracy": evaluate(net, ds.x_test, ds.y_test, quantized=False),
        "fake_quant_accuracy": evaluate(net, ds.x_test, ds.y_test),
        "hardware_accuracy": hw,
        "hardware_eval_seconds": round(hw_seconds, 2),
        "test_accuracy_per_epoch": result.test_accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["digits", "mnist5k"])
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    rows = [measure(name) for name in args.datasets]
    for row in rows:
        print(f"{row['dataset']}: train {row['train_seconds']} s, float "
              f"{row['float_accuracy']:.4f}, fake-quant {row['fake_quant_accuracy']:.4f}, "
              f"hardware {row['hardware_accuracy']:.4f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
