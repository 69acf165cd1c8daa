"""Quantisation-aware BPTT training of a :class:`~spikesmith.model.network.SpikingMLP` or a
:class:`~spikesmith.model.convnet.SpikingConvNet` (``Net``: both have the same run modes).

The loss is by default the cross-entropy of the output spike counts scaled by a temperature,
``CE(temperature * counts / T, label)``, or another loss of ``model.losses``, plus an optional
penalty on hidden firing. Adam with
a cosine-annealed learning rate. A run is a pure function of the network's initial weights,
the dataset and ``seed`` (``torch.manual_seed`` for dropout, a NumPy generator for the
shuffling); the encoded inputs are the golden model's (``sim.encoders.encode``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from spikesmith.sim.decision import OutputRule, decide
from spikesmith.sim.encoders import encode
from spikesmith.sim.network import NetworkParams, run_network

from .convnet import SpikingConvNet
from .losses import Loss, LossParams, first_spike_scores, loss_value, threshold_lr_scale
from .ltmd import consistency_loss
from .network import SpikingMLP
from .ratebp import TrainMethod, rate_simulate
from .ratebp_conv import rate_simulate_conv

#: The networks :func:`train` trains.
Net = SpikingMLP | SpikingConvNet

__all__ = ["LabelledImages", "Net", "TrainResult", "evaluate", "hardware_accuracy", "train"]


class LabelledImages(Protocol):
    """What :func:`train` reads: a train/test split of ``uint8`` images and their labels.

    Any object with these attributes will do (the app layer's ``spikesmith.datasets.Dataset``
    has them); this layer loads no data itself.

    Attributes
    ----------
    name : str
        Name used in error messages.
    x_train, x_test : np.ndarray
        ``uint8`` images ``(n, height * width)``, intensities 0..255.
    y_train, y_test : np.ndarray
        Integer labels.
    shape : tuple[int, int]
        Image height and width (for the ``shift`` augmentation).
    n_features : int
        Pixels per image, ``height * width``.
    """

    @property
    def name(self) -> str: ...

    @property
    def x_train(self) -> np.ndarray: ...

    @property
    def y_train(self) -> np.ndarray: ...

    @property
    def x_test(self) -> np.ndarray: ...

    @property
    def y_test(self) -> np.ndarray: ...

    @property
    def shape(self) -> tuple[int, int]: ...

    @property
    def n_features(self) -> int: ...


@dataclass(frozen=True)
class TrainResult:
    """Per-epoch history of one training run.

    Attributes
    ----------
    loss : tuple[float, ...]
        Mean training loss of each epoch.
    train_accuracy : tuple[float, ...]
        Float-mode accuracy on the training batches of each epoch (in training mode).
    test_accuracy : tuple[float, ...]
        Float-mode accuracy on ``dataset.x_test`` after each epoch.
    seconds : float
        Wall-clock training time (evaluation included).
    """

    loss: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    test_accuracy: tuple[float, ...]
    seconds: float


def _check(name: str, value: object, *, kind: type, low: float) -> None:
    accepted = int | float if kind is float else kind
    if isinstance(value, bool) or not isinstance(value, accepted) or not value >= low:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"{name} must be {noun} >= {low}, not {value!r}")


def train(net: Net, dataset: LabelledImages, *, epochs: int, batch_size: int, lr: float,
          seed: int, temperature: float = 1.0, rate_penalty: float = 0.0,
          shift: int = 0, threads: int | None = 1, progress: bool = True,
          method: TrainMethod = TrainMethod.BPTT, loss: LossParams | None = None
          ) -> TrainResult:
    """Train ``net`` in place on ``dataset.x_train`` and return the history.

    Parameters
    ----------
    net : SpikingMLP or SpikingConvNet
        Network to train (its weights are the starting point).
    dataset : LabelledImages
        ``uint8`` images with ``net.sizes[0]`` features and labels below ``net.sizes[-1]``.
    epochs, batch_size : int
        Passes over the training set and samples per step (both >= 1).
    lr : float
        Peak Adam learning rate (cosine-annealed to 0 over the run).
    seed : int
        Seed of the shuffling and of ``torch.manual_seed``.
    temperature : float
        Logits are ``temperature * counts / T``.
    rate_penalty : float
        Weight of the mean hidden firing rate (spikes per neuron per step) added to the loss.
    shift : int
        Augmentation: translate each training image by a random ``-shift..shift`` pixels
        along each axis (zero fill), drawn anew every epoch; 0 disables it.
    threads : int or None
        ``torch.set_num_threads`` during training (restored afterwards); ``None`` keeps the
        current setting. The default 1 suits the small per-step matrices: on a loaded 2-core
        machine two intra-op threads made digits training 5x slower than one.
    progress : bool
        Show a tqdm bar per epoch.
    method : TrainMethod
        ``BPTT`` (surrogate gradients through time) or ``RATEBP`` (rate-based
        backpropagation, ``model.ratebp`` and ``model.ratebp_conv``; plain networks without
        dropout).
    loss : LossParams or None
        The loss (``model.losses``); ``None`` is ``ce`` with ``temperature``. Spike-time
        losses (``ttfs``) need a ``SpikingMLP``. The training accuracy is that of the loss's
        decision (most spikes, or first spike for ``ttfs``).

    Raises
    ------
    ValueError
        On bad hyperparameters or a dataset that does not fit the network.
    """
    _check("epochs", epochs, kind=int, low=1)
    _check("batch_size", batch_size, kind=int, low=1)
    _check("lr", lr, kind=float, low=0.0)
    _check("temperature", temperature, kind=float, low=0.0)
    _check("rate_penalty", rate_penalty, kind=float, low=0.0)
    _check("shift", shift, kind=int, low=0)
    if threads is not None:
        _check("threads", threads, kind=int, low=1)
    if not isinstance(method, TrainMethod):
        raise TypeError(f"method must be a TrainMethod, not {method!r}")
    if method is TrainMethod.RATEBP and type(net) not in (SpikingMLP, SpikingConvNet):
        raise ValueError("rate-based backpropagation trains a plain SpikingMLP or "
                         f"SpikingConvNet, not a {type(net).__name__}")
    loss = LossParams(temperature=temperature) if loss is None else loss
    if loss.loss.needs_spike_times and not isinstance(net, SpikingMLP):
        raise ValueError(f"the {loss.loss.value} loss needs a dense SpikingMLP, not a "
                         f"{type(net).__name__}")
    if loss.loss.needs_spike_times and method is TrainMethod.RATEBP:
        raise ValueError(f"the {loss.loss.value} loss reads spike times, which rate-based "
                         "backpropagation does not keep")
    if getattr(net, "two_pass", False) and loss.loss is not Loss.CE:
        raise ValueError(f"moderate dropout trains with the two-pass consistency loss (ce), "
                         f"not with {loss.loss.value}")
    if dataset.n_features != net.sizes[0]:
        raise ValueError(f"dataset {dataset.name!r} has {dataset.n_features} features, but the "
                         f"network takes {net.sizes[0]}")
    if int(dataset.y_train.max()) >= net.sizes[-1]:
        raise ValueError(f"dataset {dataset.name!r} has labels up to {dataset.y_train.max()}, "
                         f"but the network has {net.sizes[-1]} outputs")
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _train(net, dataset, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                      loss=loss, rate_penalty=rate_penalty, shift=shift, progress=progress,
                      method=method)
    finally:
        torch.set_num_threads(previous)


def _optimizer(net: Net, lr: float) -> torch.optim.Adam:
    """Adam over ``net``'s parameters; thresholds that carry a standardised layer's scale
    (``model.losses.threshold_lr_scale``) in groups of their own at a scaled rate."""
    scaled = threshold_lr_scale(net) if isinstance(net, SpikingMLP) else {}
    if not scaled:
        return torch.optim.Adam(net.parameters(), lr=lr)
    rest = [p for p in net.parameters() if all(p is not q for q in scaled)]
    groups = [{"params": rest, "lr": lr}]
    groups += [{"params": [p], "lr": lr * f} for p, f in scaled.items()]
    return torch.optim.Adam(groups)


def _batch_loss(net: Net, inputs: torch.Tensor, labels: torch.Tensor, loss: LossParams,
                method: TrainMethod) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Run ``net`` on one batch; return ``(loss, predictions, hidden counts)``.

    A network with moderate dropout (``two_pass``, ``model.ltmd``) runs the batch twice, with
    independent masks, under the consistency loss; ``RATEBP`` runs ``model.ratebp``.
    """
    spikes: list[torch.Tensor] = []
    two_pass = getattr(net, "two_pass", False)
    batch = torch.cat([inputs, inputs], dim=1) if two_pass else inputs
    if method is TrainMethod.RATEBP:
        run = (rate_simulate_conv(net, batch) if isinstance(net, SpikingConvNet)
               else rate_simulate(net, batch))
    elif loss.loss.needs_spike_times:
        run = net.simulate(batch, output_spikes=spikes)
    else:
        run = net.simulate(batch)
    if two_pass:
        z1, z2 = (run.counts * (loss.temperature / net.timesteps)).chunk(2)
        return (consistency_loss(z1, z2, labels), z1.detach().argmax(dim=1),
                list(run.hidden_counts))
    scores = (first_spike_scores(spikes, silent=loss.silent) if loss.loss.needs_spike_times
              else run.counts)
    value = loss_value(loss, counts=run.counts, labels=labels, timesteps=net.timesteps,
                       spikes=spikes)
    return value, scores.detach().argmax(dim=1), list(run.hidden_counts)


def _train(net: Net, dataset: LabelledImages, *, epochs: int, batch_size: int, lr: float,
           seed: int, loss: LossParams, rate_penalty: float, shift: int,
           progress: bool, method: TrainMethod) -> TrainResult:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    x_enc = None if shift else encode(dataset.x_train, net.encoder, timesteps=net.timesteps)
    y = torch.from_numpy(dataset.y_train.astype(np.int64))
    n = len(y)
    steps_per_epoch = -(-n // batch_size)
    opt = _optimizer(net, lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    scale = net.input_scale(0)
    losses, train_acc, test_acc = [], [], []
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(n)
        total_loss, correct = 0.0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=False)
        for step in bar:
            idx = order[step * batch_size:(step + 1) * batch_size]
            if x_enc is None:
                images = _translate(dataset.x_train[idx], dataset.shape, shift=shift, rng=rng)
                enc = encode(images, net.encoder, timesteps=net.timesteps)
            else:
                enc = x_enc[:, idx]
            inputs = torch.from_numpy(enc).to(torch.float32) * scale
            value, predicted, hidden = _batch_loss(net, inputs, y[idx], loss, method)
            if rate_penalty and hidden:
                rate = torch.stack([c.mean() for c in hidden]).mean()
                value = value + rate_penalty * rate / net.timesteps
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            total_loss += value.item() * len(idx)
            correct += int((predicted == y[idx]).sum())
            bar.set_postfix(loss=f"{value.item():.3f}")
        losses.append(total_loss / n)
        train_acc.append(correct / n)
        test_acc.append(evaluate(net, dataset.x_test, dataset.y_test,
                                 first_spike=loss.loss is Loss.TTFS))
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}, train "
                       f"{train_acc[-1]:.4f}, test {test_acc[-1]:.4f}")
    net.eval()
    return TrainResult(loss=tuple(losses), train_accuracy=tuple(train_acc),
                       test_accuracy=tuple(test_acc), seconds=time.perf_counter() - start)


def _translate(images: np.ndarray, shape: tuple[int, int], *, shift: int,
               rng: np.random.Generator) -> np.ndarray:
    """Return ``images`` ``(batch, h*w)`` each moved by random ``-shift..shift`` pixels."""
    h, w = shape
    batch = len(images)
    pad = np.zeros((batch, h + 2 * shift, w + 2 * shift), dtype=images.dtype)
    pad[:, shift:shift + h, shift:shift + w] = images.reshape(batch, h, w)
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, batch))
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = pad[np.arange(batch)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(batch, h * w)


def evaluate(net: Net, images: np.ndarray, labels: np.ndarray, *,
             quantized: bool = True, first_spike: bool = False) -> float:
    """Return the float-mode accuracy on ``images``.

    With ``quantized`` (default) weights and thresholds are fake-quantised; otherwise the raw
    float parameters are used. ``first_spike`` decides by the earliest output spike
    (``sim.decision.OutputRule.FIRST_SPIKE``, on the float spikes and membranes) instead of
    the most spikes; it needs a ``SpikingMLP``.
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("labels must not be empty")
    if not first_spike:
        return float(np.mean(net.predict(images, quantized=quantized) == labels))
    predicted = []
    with torch.no_grad():
        for lo in range(0, len(labels), 1000):
            enc = encode(images[lo:lo + 1000], net.encoder, timesteps=net.timesteps)
            spikes: list[torch.Tensor] = []
            membranes: list[torch.Tensor] = []
            net.simulate(torch.from_numpy(enc).to(torch.float32) * net.input_scale(0),
                         quantized=quantized, output_spikes=spikes, output_membranes=membranes)
            predicted.append(decide(torch.stack(spikes).numpy(),
                                    torch.stack(membranes).to(torch.float64).numpy(),
                                    rule=OutputRule.FIRST_SPIKE).classes)
    return float(np.mean(np.concatenate(predicted) == labels))


def hardware_accuracy(net: Net, images: np.ndarray, labels: np.ndarray, *,
                      batch_size: int = 1000, rule: OutputRule = OutputRule.MAX_COUNT) -> float:
    """Return the accuracy of the hardware-exact mode (``net.evaluate_hardware``) under the
    output rule ``rule`` (``sim.decision``)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("labels must not be empty")
    params = NetworkParams(layers=net.integer_layers(), encoder=net.encoder,
                           timesteps=net.timesteps, rule=rule)
    preds = [run_network(params, images[lo:lo + batch_size], record_membranes=False).predictions
             for lo in range(0, len(labels), batch_size)]
    return float(np.mean(np.concatenate(preds) == labels))
