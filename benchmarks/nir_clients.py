"""Train a dense SNN in snnTorch or Norse, write it with that library's own NIR exporter, report
its accuracy.

Usage: ``python benchmarks/nir_clients.py --dataset digits --out model.nir [--library norse]
[--hidden 64] [--epochs 30] [--timesteps 8] [--seed 0] [--lr 2e-3]``.

The network is ``Linear -> LIF -> Linear -> LIF`` without biases, ``beta = 1 - 2**-3`` per
neuron, reset to zero without delay (the neuron NIR describes; see docs/nir.md): snnTorch
``Leaky`` (threshold 1, written with ``dt = 1e-4``) or Norse ``LIFBoxCell``
(``tau_mem_inv = 2**-3 / dt``, threshold 0.5, written with ``dt = 1e-3``: import it with
``--dt 1e-6``). Input pixels / 255 as a constant current at every timestep (our direct
encoding), trained with BPTT on the cross-entropy of the output spike counts. Prints the
library's own test accuracy (argmax of the counts); ``spikesmith import --nir`` then reports
ours.
"""

from __future__ import annotations

import click
import nir
import norse.torch as norse
import numpy as np
import snntorch as snn
import torch
from norse.torch.utils.export_nir import to_nir
from snntorch import utils
from snntorch.export_nir import export_to_nir

from spikesmith.datasets import load_dataset

K = 3
NORSE_DT = 1e-3


class _Norse(torch.nn.Module):
    """Norse's ``SequentialState`` with the state reset at every call (like ``utils.reset``)."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()

        def cell(n):
            p = norse.LIFBoxParameters(tau_mem_inv=torch.full((n,), 2.0 ** -K / NORSE_DT),
                                       v_th=torch.full((n,), 0.5), v_leak=torch.zeros(n))
            return norse.LIFBoxCell(p, dt=NORSE_DT)

        self.seq = norse.SequentialState(torch.nn.Linear(n_in, hidden, bias=False), cell(hidden),
                                         torch.nn.Linear(hidden, n_out, bias=False), cell(n_out))

    def counts(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        state, total = None, 0
        for _ in range(timesteps):
            z, state = self.seq(x, state)
            total = total + z
        return total


def _net(n_in: int, hidden: int, n_out: int) -> torch.nn.Sequential:
    def leaky(n, **kw):
        return snn.Leaky(beta=torch.full((n,), 1 - 2.0 ** -K), threshold=torch.ones(n),
                         init_hidden=True, reset_mechanism="zero", reset_delay=False,
                         learn_beta=False, **kw)

    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden, bias=False), leaky(hidden),
                               torch.nn.Linear(hidden, n_out, bias=False),
                               leaky(n_out, output=True))


def _counts(net, x: torch.Tensor, timesteps: int) -> torch.Tensor:
    if isinstance(net, _Norse):
        return net.counts(x, timesteps)
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
@click.option("--library", type=click.Choice(["snntorch", "norse"]), default="snntorch",
              show_default=True)
@click.option("--hidden", default=64, show_default=True)
@click.option("--epochs", default=30, show_default=True)
@click.option("--timesteps", default=8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--lr", default=2e-3, show_default=True, help="Adam learning rate.")
def main(dataset, out, library, hidden, epochs, timesteps, seed, lr):
    torch.manual_seed(seed)
    ds = load_dataset(dataset)
    net = (_Norse if library == "norse" else _net)(ds.n_features, hidden, ds.n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
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
    sample = torch.rand(1, ds.n_features)
    graph = (to_nir(net.seq, sample, dt=NORSE_DT) if library == "norse"
             else export_to_nir(net, sample, ignore_dims=[0]))
    nir.write(out, graph)
    print(f"{library} float test accuracy: {_accuracy(net, ds.x_test, ds.y_test, timesteps):.4f}"
          f"; wrote {out}")


if __name__ == "__main__":
    main()
