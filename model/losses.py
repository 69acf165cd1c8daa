"""Training losses on output spikes, and weight standardisation whose scale the threshold takes.

After Zhu et al., "Exploring Loss Functions for Time-based Training Strategy in SNNs" (NeurIPS
2023; ``reference/algorithms.md`` §5), adapted to BPTT with surrogate gradients: the paper maps
``dL/dN_i`` onto the spike times of neuron ``i``; here ``N_i = sum_t s_i[t]``, so BPTT hands
``dL/dN_i`` to every timestep's spike function of neuron ``i``, and "per spike" normalisation
divides that gradient by ``max(N_i, 1)``. With ``N`` the output counts ``(batch, n_out)``,
``T`` timesteps, ``y`` the labels:

* ``ce``: ``CE(temperature * N / T, y)`` (the loss of ``model.train`` before this module).
* ``count``: targets ``N*_i = desired`` for the label neuron, ``undesired`` otherwise;
  ``delta_i = (N_i - N*_i) / T`` clipped to ``<= 0`` for the label neuron and ``>= 0`` for the
  others (no penalty for overshooting in the good direction);
  ``L = mean_batch(1/2 sum_i w_i delta_i**2)`` with ``w = max(ratio / 10, 1)`` on the label
  neuron (``ratio = sum of non-label counts / sum of label counts`` over the batch, no
  gradient) and 1 elsewhere.
* ``count+``: ``count`` with the per-spike normalisation: the gradient reaching ``N_i`` is
  divided by ``max(N_i, 1)`` (:func:`per_spike`), so a neuron's total push no longer grows
  with its spike count.
* ``ce+``: logits ``z_i = 2 N_i / T`` (``N_i`` normalised per spike), ``z_i = -20`` (no
  gradient) for a silent neuron; ``L = T/2 * CE(z, y)``, with no gradient from a sample whose
  label neuron is silent.
* ``ttfs``: the first-spike indicator ``f_i[t] = s_i[t] * prod_{t' < t} (1 - s_i[t'])``
  (differentiable through the surrogates) gives the score
  ``z_i = sum_t f_i[t] (1 - t/T) + (1 - sum_t f_i[t]) * silent``; ``L = T * CE(z, y)``. The
  decision it trains is ``sim.decision.OutputRule.FIRST_SPIKE``.

Weight standardisation (§5.3): :func:`standardise_weights` reparametrises every dense layer's
weights as ``W_hat[c] = (W[c] - mean W[c]) / sqrt(var W[c] + 1e-5) + b[c]`` per output
channel ``c`` (``b`` learnt, added to every weight of the channel). The scale the paper's gain
``gamma`` would carry is carried by the layer's (learnable) threshold: one threshold per layer,
as the cores have, so the gain is per layer too (``theta <- theta / gamma``, ``gamma = 1``).
:func:`fold_standardisation` writes ``W_hat`` back as the plain weight; the export then folds
``W_hat`` and ``theta`` with the contract's equations (``sim.quant``): the standardised weights
become the integer weights, the scale sits in the integer threshold.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "Loss",
    "LossParams",
    "Standardise",
    "ce_loss",
    "ce_plus_loss",
    "count_loss",
    "first_spike_scores",
    "fold_standardisation",
    "is_standardised",
    "loss_value",
    "per_spike",
    "standardise_weights",
    "threshold_lr_scale",
    "ttfs_loss",
]

#: Epsilon of the standardisation's variance (the paper's).
WS_EPS = 1e-5
#: Logit of a silent neuron in ``ce+`` (the paper's).
SILENT_LOGIT = -20.0


class Loss(enum.Enum):
    """The training loss on the output spikes (module docstring)."""

    CE = "ce"
    COUNT = "count"
    COUNT_PLUS = "count+"
    CE_PLUS = "ce+"
    TTFS = "ttfs"

    @property
    def needs_spike_times(self) -> bool:
        """Whether the loss reads the per-timestep output spikes, not only the counts."""
        return self is Loss.TTFS


@dataclass(frozen=True, kw_only=True)
class LossParams:
    """A loss and its settings.

    Parameters
    ----------
    loss : Loss
        Which loss.
    temperature : float
        ``ce`` only: logits are ``temperature * N / T``.
    desired, undesired : float or None
        ``count``/``count+`` target counts of the label neuron and of the others; ``None``
        takes ``T`` and ``max(1, T // 5)`` (the paper's 5 / 1 at ``T = 5``).
    silent : float
        ``ttfs`` score of a neuron that never fires (the paper's ``TTFS``: -3).
    """

    loss: Loss = Loss.CE
    temperature: float = 1.0
    desired: float | None = None
    undesired: float | None = None
    silent: float = -3.0

    def __post_init__(self) -> None:
        if not isinstance(self.loss, Loss):
            raise TypeError(f"loss must be a Loss, not {self.loss!r}")
        for name in ("temperature", "desired", "undesired", "silent"):
            v = getattr(self, name)
            if v is None and name in ("desired", "undesired"):
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, not {v!r}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, not {self.temperature!r}")

    def targets(self, timesteps: int) -> tuple[float, float]:
        """Return ``(desired, undesired)`` for ``timesteps`` (defaults filled in)."""
        desired = float(timesteps) if self.desired is None else float(self.desired)
        undesired = float(max(1, timesteps // 5)) if self.undesired is None else float(
            self.undesired)
        return desired, undesired


class _PerSpike(torch.autograd.Function):
    """Identity forward; backward divides the gradient by ``max(N, 1)``."""

    @staticmethod
    def forward(ctx, counts: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(counts.detach())
        return counts.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (counts,) = ctx.saved_tensors
        return grad / torch.clamp_min(counts, 1.0)


def per_spike(counts: torch.Tensor) -> torch.Tensor:
    """Return ``counts`` unchanged; the gradient flowing back is divided by ``max(N, 1)``."""
    return _PerSpike.apply(counts)


def _one_hot(labels: torch.Tensor, n: int) -> torch.Tensor:
    return nn.functional.one_hot(labels, n).to(torch.bool)


def ce_loss(counts: torch.Tensor, labels: torch.Tensor, *, timesteps: int,
            temperature: float) -> torch.Tensor:
    """Return ``CE(temperature * counts / T, labels)`` (batch mean)."""
    return nn.functional.cross_entropy(counts * (temperature / timesteps), labels)


def count_loss(counts: torch.Tensor, labels: torch.Tensor, *, timesteps: int, desired: float,
               undesired: float, normalise: bool) -> torch.Tensor:
    """Return the clipped MSE counting loss (``count``; ``count+`` with ``normalise``).

    Parameters
    ----------
    counts : torch.Tensor
        Output spike counts ``(batch, n_out)``.
    labels : torch.Tensor
        ``int64`` labels ``(batch,)``.
    timesteps : int
        ``T``.
    desired, undesired : float
        Target counts of the label neuron and of the others.
    normalise : bool
        Divide the gradient reaching each ``N_i`` by ``max(N_i, 1)`` (:func:`per_spike`).
    """
    hot = _one_hot(labels, counts.shape[1])
    n = per_spike(counts) if normalise else counts
    target = torch.where(hot, desired, undesired)
    delta = (n - target) / timesteps
    delta = torch.where(hot, torch.clamp(delta, max=0.0), torch.clamp(delta, min=0.0))
    with torch.no_grad():
        on = counts[hot].sum()
        ratio = (counts.sum() - on) / torch.clamp_min(on, 1.0)
        boost = torch.clamp_min(ratio / 10.0, 1.0)
    weight = torch.where(hot, boost, torch.ones_like(boost))
    return 0.5 * (weight * delta ** 2).sum(dim=1).mean()


def ce_plus_loss(counts: torch.Tensor, labels: torch.Tensor, *, timesteps: int) -> torch.Tensor:
    """Return the ``ce+`` loss (module docstring), a batch mean."""
    n = per_spike(counts)
    z = torch.where(counts > 0, 2.0 * n / timesteps, torch.full_like(n, SILENT_LOGIT))
    per_sample = nn.functional.cross_entropy(z, labels, reduction="none")
    alive = counts.gather(1, labels[:, None])[:, 0] > 0
    return (timesteps / 2.0) * (per_sample * alive).mean()


def first_spike_scores(spikes: Sequence[torch.Tensor], *, silent: float) -> torch.Tensor:
    """Return ``z_i = sum_t f_i[t] (1 - t/T) + (1 - sum_t f_i[t]) * silent`` ``(batch, n)``.

    ``spikes`` holds one ``(batch, n)`` tensor of 0/1 spikes per timestep; ``f`` is the
    first-spike indicator (module docstring). For binary spikes the earliest-firing neuron has
    the largest score, a silent one ``silent``.
    """
    T = len(spikes)
    if T == 0:
        raise ValueError("spikes must hold at least one timestep")
    not_yet = torch.ones_like(spikes[0])
    score = torch.zeros_like(spikes[0])
    fired = torch.zeros_like(spikes[0])
    for t, s in enumerate(spikes):
        first = s * not_yet
        score = score + first * (1.0 - t / T)
        fired = fired + first
        not_yet = not_yet * (1.0 - s)
    return score + (1.0 - fired) * silent


def ttfs_loss(spikes: Sequence[torch.Tensor], labels: torch.Tensor, *,
              silent: float) -> torch.Tensor:
    """Return ``T * CE(first_spike_scores(spikes), labels)`` (batch mean)."""
    z = first_spike_scores(spikes, silent=silent)
    return len(spikes) * nn.functional.cross_entropy(z, labels)


def loss_value(params: LossParams, *, counts: torch.Tensor, labels: torch.Tensor,
               timesteps: int, spikes: Sequence[torch.Tensor] = ()) -> torch.Tensor:
    """Return the loss ``params.loss`` of one batch.

    Parameters
    ----------
    params : LossParams
        The loss and its settings.
    counts : torch.Tensor
        Output spike counts ``(batch, n_out)``.
    labels : torch.Tensor
        ``int64`` labels.
    timesteps : int
        ``T``.
    spikes : sequence of torch.Tensor
        The output spikes of every timestep (``ttfs`` only).

    Raises
    ------
    ValueError
        If ``ttfs`` is asked for without ``spikes``.
    """
    loss = params.loss
    if loss is Loss.CE:
        return ce_loss(counts, labels, timesteps=timesteps, temperature=params.temperature)
    if loss in (Loss.COUNT, Loss.COUNT_PLUS):
        desired, undesired = params.targets(timesteps)
        return count_loss(counts, labels, timesteps=timesteps, desired=desired,
                          undesired=undesired, normalise=loss is Loss.COUNT_PLUS)
    if loss is Loss.CE_PLUS:
        return ce_plus_loss(counts, labels, timesteps=timesteps)
    if len(spikes) != timesteps:
        raise ValueError(f"the ttfs loss needs the output spikes of all {timesteps} timesteps, "
                         f"not {len(spikes)}")
    return ttfs_loss(spikes, labels, silent=params.silent)


# --- weight standardisation ------------------------------------------------------------------

class Standardise(nn.Module):
    """Parametrisation ``W -> (W - mean_row W) / sqrt(var_row W + eps) + b`` (rows = outputs).

    Parameters
    ----------
    out_features : int
        Rows of the weight matrix; ``b`` (one per row, learnt) starts at 0.
    """

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.norm_bias = nn.Parameter(torch.zeros(out_features, 1))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        mu = w.mean(dim=1, keepdim=True)
        var = w.var(dim=1, unbiased=False, keepdim=True)
        return (w - mu) / torch.sqrt(var + WS_EPS) + self.norm_bias


def _pairs(net: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    if not hasattr(net, "synapse_neuron_pairs"):
        raise TypeError(f"weight standardisation needs a SpikingMLP, not {type(net).__name__}")
    return net.synapse_neuron_pairs()


def is_standardised(net: nn.Module) -> bool:
    """Whether ``net``'s dense layers carry the :class:`Standardise` parametrisation."""
    return any(parametrize.is_parametrized(d, "weight") for d, _ in _pairs(net))


def standardise_weights(net: nn.Module) -> None:
    """Reparametrise every dense layer of a ``SpikingMLP`` in place (module docstring).

    Each layer's gain ``gamma`` (the mean row standard deviation of its current weights, so
    the network starts computing what it computed) moves into its threshold,
    ``theta <- theta / gamma``, which becomes learnable.

    Raises
    ------
    TypeError
        If ``net`` is not a ``SpikingMLP``.
    ValueError
        If it is already standardised.
    """
    if is_standardised(net):
        raise ValueError("the network's weights are already standardised")
    for dense, neuron in _pairs(net):
        with torch.no_grad():
            gamma = float(torch.sqrt(dense.weight.var(dim=1, unbiased=False) + WS_EPS).mean())
            theta = neuron.theta().detach().clone() / gamma
        parametrize.register_parametrization(dense, "weight", Standardise(dense.out_features))
        if neuron.learnable_threshold:
            with torch.no_grad():
                neuron.threshold.copy_(theta)
        else:
            del neuron.threshold
            neuron.threshold = nn.Parameter(theta)
            neuron.learnable_threshold = True


def fold_standardisation(net: nn.Module) -> None:
    """Replace each standardised weight by its value ``W_hat`` (a plain parameter), in place.

    After this the network is an ordinary ``SpikingMLP`` whose weights are the standardised
    ones and whose thresholds carry the scale; the export quantises exactly these.
    """
    for dense, _ in _pairs(net):
        if parametrize.is_parametrized(dense, "weight"):
            parametrize.remove_parametrizations(dense, "weight", leave_parametrized=True)


def threshold_lr_scale(net: nn.Module) -> dict[nn.Parameter, float]:
    """Return each standardised layer's threshold parameter and ``max(1, |theta|)``.

    The trainer multiplies the learning rate of these thresholds by the factor (the paper's
    separate ``lr_norm``): a threshold that carries the weights' scale is far from 1.
    """
    out: dict[nn.Parameter, float] = {}
    for dense, neuron in _pairs(net):
        if parametrize.is_parametrized(dense, "weight"):
            out[neuron.threshold] = max(1.0, float(neuron.threshold.detach().abs()))
    return out
