"""Train a dense or conv SNN in snnTorch or Norse, write it with that library's own NIR
exporter, report its accuracy.

Usage: ``python benchmarks/nir_clients.py --dataset digits --out model.nir [--library norse]
[--arch dense|conv] [--hidden 64] [--epochs 30] [--timesteps 8] [--seed 0] [--lr 2e-3]``;
after ``spikesmith import`` of that file, ``python benchmarks/nir_clients.py --dataset digits
--accuracy-of RUN`` prints the integer network's accuracy under the libraries' decision rule
(argmax) and ours.

The network is ``Linear -> LIF -> Linear -> LIF`` without biases, ``beta = 1 - 2**-3`` per
neuron, reset to zero without delay (the neuron NIR describes; see docs/nir.md): snnTorch
``Leaky`` (threshold 1, written with ``dt = 1e-4``) or Norse ``LIFBoxCell``
(``tau_mem_inv = 2**-3 / dt``, threshold 0.5, written with ``dt = 1e-3``: import it with
``--dt 1e-6``). Input pixels / 255 as a constant current at every timestep (our direct
encoding), trained with BPTT on the cross-entropy of the output spike counts. Prints the
library's own test accuracy (argmax of the counts); ``spikesmith import --nir`` then reports
ours.

``--arch conv`` (``--hidden`` unused): on 8 x 8 digits, snnTorch ``Conv2d(1, 8, 3, padding 1)
-> AvgPool2d(2) -> Leaky -> Flatten -> Linear(128, 10) -> Leaky`` (the tutorial's network);
on 28 x 28 mnist5k snnTorch ``Conv2d(1, 8, 5) ->
AvgPool2d(2) -> Leaky -> Conv2d(8, 16, 5) -> AvgPool2d(2) -> Leaky -> Flatten -> Linear(256,
10) -> Leaky`` (each pool folds into the conv before it: kernel 6, stride 2), the
``8c5-p2-16c5-p2-10`` shape with average pooling, the pooling snnTorch's exporter writes;
Norse, whose exporter writes no pooling or Flatten, ``Conv2d(1, 8, 5, stride 2) -> LIFBox ->
Conv2d(8, 16, 5, stride 2) -> LIFBox -> Conv2d(16, 10, 4, no bias) -> LIFBox`` (the last conv
has a 1 x 1 map: a dense layer), written with ``graph.infer_types()`` (Norse leaves the conv
output types unset, which ``nir.write`` cannot store).
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


def _cell(*shape):
    p = norse.LIFBoxParameters(tau_mem_inv=torch.full(shape, 2.0 ** -K / NORSE_DT),
                               v_th=torch.full(shape, 0.5), v_leak=torch.zeros(shape))
    return norse.LIFBoxCell(p, dt=NORSE_DT)


class _Norse(torch.nn.Module):
    """Norse's ``SequentialState`` with the state reset at every call (like ``utils.reset``)."""

    def __init__(self, n_in: int, hidden: int, n_out: int, *, conv: bool = False) -> None:
        super().__init__()
        self.conv = conv
        if conv:
            last = torch.nn.Conv2d(16, n_out, 4)
            last.bias.requires_grad_(False)
            last.bias.zero_()
            self.seq = norse.SequentialState(
                torch.nn.Conv2d(1, 8, 5, stride=2), _cell(8, 12, 12),
                torch.nn.Conv2d(8, 16, 5, stride=2), _cell(16, 4, 4), last, _cell(n_out, 1, 1))
        else:
            self.seq = norse.SequentialState(
                torch.nn.Linear(n_in, hidden, bias=False), _cell(hidden),
                torch.nn.Linear(hidden, n_out, bias=False), _cell(n_out))

    def counts(self, x: torch.Tensor, timesteps: int) -> torch.Tensor:
        state, total = None, 0
        for _ in range(timesteps):
            z, state = self.seq(x, state)
            total = total + z.reshape(len(x), -1)
        return total

    def nir_graph(self, shape: tuple[int, ...]):
        if not self.conv:
            return to_nir(self.seq, torch.rand(1, *shape), dt=NORSE_DT)
        graph = to_nir(self.seq, torch.rand(*shape), dt=NORSE_DT)  # no batch dim: see above
        graph.infer_types()
        return graph


def _leaky(*shape, **kw):
    return snn.Leaky(beta=torch.full(shape, 1 - 2.0 ** -K), threshold=torch.ones(shape),
                     init_hidden=True, reset_mechanism="zero", reset_delay=False,
                     learn_beta=False, **kw)


def _net(n_in: int, hidden: int, n_out: int, *, conv: bool = False) -> torch.nn.Sequential:
    if conv and n_in == 64:  # 8 x 8 digits: one conv stage
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.AvgPool2d(2), _leaky(8, 4, 4),
            torch.nn.Flatten(), torch.nn.Linear(128, n_out, bias=False),
            _leaky(n_out, output=True))
    if conv:
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 5), torch.nn.AvgPool2d(2), _leaky(8, 12, 12),
            torch.nn.Conv2d(8, 16, 5), torch.nn.AvgPool2d(2), _leaky(16, 4, 4),
            torch.nn.Flatten(), torch.nn.Linear(256, n_out, bias=False),
            _leaky(n_out, output=True))
    return torch.nn.Sequential(torch.nn.Linear(n_in, hidden, bias=False), _leaky(hidden),
                               torch.nn.Linear(hidden, n_out, bias=False),
                               _leaky(n_out, output=True))


def _counts(net, x: torch.Tensor, timesteps: int) -> torch.Tensor:
    if isinstance(net, _Norse):
        return net.counts(x, timesteps)
    utils.reset(net)
    total = 0
    for _ in range(timesteps):
        spk, _mem = net(x)
        total = total + spk
    return total


def _inputs(x: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    """Pixels / 255 as float32, shaped ``(N, *shape)``."""
    return torch.from_numpy(x / 255.0).float().reshape(len(x), *shape)


def _accuracy(net, x, y, timesteps: int, shape: tuple[int, ...]) -> float:
    with torch.no_grad():
        pred = torch.cat([_counts(net, _inputs(x[i:i + 500], shape), timesteps).argmax(1)
                          for i in range(0, len(x), 500)])
    return float((pred.numpy() == y).mean())


def _run_accuracies(run: str, dataset: str) -> None:
    """Print the test accuracy of a run folder's integer network (the golden model of the
    RTL) under both decision rules: the libraries' argmax (first of tied counts) and ours."""
    from spikesmith.model.checkpoint import load_checkpoint

    ds = load_dataset(dataset)
    trace = load_checkpoint(f"{run}/checkpoint.safetensors").evaluate_hardware(
        ds.x_test, record_membranes=False)
    argmax = float((trace.counts.argmax(1) == ds.y_test).mean())
    ours = float((trace.predictions == ds.y_test).mean())
    print(f"{run}: integer golden model test accuracy: argmax {argmax:.4f}, ours {ours:.4f}")


@click.command()
@click.option("--dataset", default="digits", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False))
@click.option("--accuracy-of", "run", type=click.Path(file_okay=False, exists=True),
              help="Only print the integer accuracies of this imported run folder.")
@click.option("--library", type=click.Choice(["snntorch", "norse"]), default="snntorch",
              show_default=True)
@click.option("--arch", type=click.Choice(["dense", "conv"]), default="dense", show_default=True)
@click.option("--hidden", default=64, show_default=True)
@click.option("--epochs", default=30, show_default=True)
@click.option("--timesteps", default=8, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--lr", default=2e-3, show_default=True, help="Adam learning rate.")
def main(dataset, out, run, library, arch, hidden, epochs, timesteps, seed, lr):
    if run is not None:
        return _run_accuracies(run, dataset)
    if out is None:
        raise click.UsageError("--out is required to train")
    torch.manual_seed(seed)
    ds = load_dataset(dataset)
    conv = arch == "conv"
    if conv and library == "norse" and ds.n_features != 784:
        raise click.UsageError("the Norse conv network is for 28 x 28 images (mnist5k)")
    shape = (1, *ds.shape) if conv else (ds.n_features,)
    net = (_Norse if library == "norse" else _net)(ds.n_features, hidden, ds.n_classes,
                                                    conv=conv)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    x_all = _inputs(ds.x_train, shape)
    y_all = torch.from_numpy(ds.y_train)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        for idx in np.array_split(rng.permutation(len(x_all)), max(1, len(x_all) // 64)):
            loss = torch.nn.functional.cross_entropy(
                _counts(net, x_all[idx], timesteps), y_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if conv or epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}: test accuracy "
                  f"{_accuracy(net, ds.x_test, ds.y_test, timesteps, shape):.4f}", flush=True)
    graph = (net.nir_graph(shape) if library == "norse"
             else export_to_nir(net, torch.rand(1, *shape), ignore_dims=[0]))
    nir.write(out, graph)
    acc = _accuracy(net, ds.x_test, ds.y_test, timesteps, shape)
    print(f"{library} float test accuracy: {acc:.4f}; wrote {out}")


if __name__ == "__main__":
    main()
