"""Train a dense SNN in snnTorch, write it with snnTorch's own NIR exporter, report its accuracy.

Usage: ``python benchmarks/nir_snntorch.py --dataset digits --out model.nir [--hidden 64]
[--epochs 30] [--timesteps 8] [--seed 0]``. The network is ``Linear -> Leaky -> Linear -> Leaky``
without biases, ``beta = 1 - 2**-3`` per neuron, threshold 1, reset to zero without delay (the
neuron NIR describes; see docs/nir.md), input pixels / 255 as a constant current at every
timestep (our direct encoding), trained with BPTT on the cross-entropy of the output spike
counts. Prints snnTorch's own test accuracy; ``spikesmith import --nir`` then reports ours.
"""

from __future__ import annotations

import click
import nir
import numpy as np
import snntorch as snn
import torch
from snntorch import utils
from snntorch.export_nir import export_to_nir

from spikesmith.datasets import load_dataset

K = 3


def _net(n_in: int, hidden: int, n_out: int) -> torch.nn.Sequential:
    def leaky(n, **kw):
        return snn.Leaky(beta=torch.full((n,), 1 - 2.0 ** -K), threshold=torch.ones(n),
                         init_hidden=True, reset_mechanism="zero", reset_delay=False,
                         learn_beta=False, **kw)

    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden, bias=False), leaky(hidden),
                               torch.nn.Linear(hidden, n_out, bias=False),
                               leaky(n_out, output=True))


def _counts(net: torch.nn.Sequential, x: torch.Tensor, timesteps: int) -> torch.Tensor:
    utils.reset(net)
    total = 0
    for _ in range(timesteps):
        spk, _mem = net(x)
        total = total + spk
    return total


def _accuracy(net, x, y, timesteps: int) -> float:
    with torch.no_grad():
        pred = _counts(net, torch.from_numpy(x / 255.0).float(), timesteps).argmax(1)
    return float((pred.numpy() == y).mean())


@click.command()
@click.option("--dataset", default="digits", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--hidden", default=64, show_default=True)
@click.option("--epochs", default=30, show_default=True)
@click.option("--timesteps", default=8, show_default=True)
@click.option("--seed", default=0, show_default=True)
def main(dataset, out, hidden, epochs, timesteps, seed):
    torch.manual_seed(seed)
    ds = load_dataset(dataset)
    net = _net(ds.n_features, hidden, ds.n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x_all = torch.from_numpy(ds.x_train / 255.0).float()
    y_all = torch.from_numpy(ds.y_train)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        for idx in np.array_split(rng.permutation(len(x_all)), max(1, len(x_all) // 64)):
            loss = torch.nn.functional.cross_entropy(
                _counts(net, x_all[idx], timesteps), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}: test accuracy "
                  f"{_accuracy(net, ds.x_test, ds.y_test, timesteps):.4f}")
    graph = export_to_nir(net, torch.rand(1, ds.n_features), ignore_dims=[0])
    nir.write(out, graph)
    print(f"snnTorch float test accuracy: {_accuracy(net, ds.x_test, ds.y_test, timesteps):.4f}"
          f"; wrote {out}")


if __name__ == "__main__":
    main()
