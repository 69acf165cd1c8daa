"""LTMD (Wang, Cheng, Lim, NeurIPS 2022): learnable thresholds and moderate dropout.

Equations (``shared/reference/algorithms.md`` sec. 2):

* **Threshold** ``theta = tanh(w)``, one learnable scalar ``w`` per spiking layer (or, the
  per-channel option for conv layers, one per output channel: :class:`ChannelTanhLIFNeuron`,
  folded into the per-channel table ``sim.lif.LIFParams.channel_thresholds``), initialised
  to ``kappa = 0.5`` (``theta_0 = 0.462``) and floored at ``layers.MIN_THRESHOLD``. At export
  ``theta`` is one float per layer and folds exactly like any threshold:
  ``theta_int = max(1, round_half_even(theta / lsb))`` (``sim.quant``); the float run already
  fake-quantises it to that integer (straight-through), so nothing learnable remains.
* **Moderate dropout** of the spikes ``o[t]`` of a hidden layer (training only): with the rate
  ``d = mean_t o[t]`` per sample and neuron, ``p = (d - min d) / (max d - min d)`` over the
  whole batch, the keep probability is ``q = clip(1 - (1 - p) r / (1 - mean p), 0, 1)`` and
  ``mask ~ Bernoulli(q) / q`` (0 where ``q = 0``); **one mask for all T timesteps**.
* **Consistency loss** of two passes with independent masks (logits ``z1``, ``z2``)::

      L = (CE(z1, y) + CE(z2, y)) / 2 + (KL(sm z2 || sm z1) + KL(sm z1 || sm z2)) / 4

  with the KL terms averaged over every element (``reduction="mean"``), as the authors' code.

The paper's LIF-out head (graded outputs, a 5-tap lateral convolution) is not shipped: the
graded output needs a membrane-valued readout and the lateral term a second accumulation per
neuron, neither of which the integer contract's spike-count readout and dense core have; the
output layer is a plain LIF layer with the learned threshold.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional

from spikesmith.sim.lif import LIFParams
from spikesmith.sim.quant import quantize_threshold

from .layers import MIN_THRESHOLD, LIFNeuron

__all__ = ["DROP_RATE", "KAPPA", "ChannelTanhLIFNeuron", "ModerateDropout", "TanhLIFNeuron",
           "consistency_loss", "keep_probability"]

#: Initial ``w`` of ``theta = tanh(w)`` (the paper's ``kappa``).
KAPPA = 0.5
#: Expected drop rate ``r`` of the moderate dropout (the paper's 0.2).
DROP_RATE = 0.2


class TanhLIFNeuron(LIFNeuron):
    """A :class:`~spikesmith.model.layers.LIFNeuron` whose threshold is ``tanh(w)``.

    The parameter ``tanh_w`` holds ``w``; :meth:`theta` is ``max(tanh(w), MIN_THRESHOLD)``
    and everything else (the step, the fake quantisation, the folding) is the base class's.

    Parameters
    ----------
    w : float
        Initial ``w`` (``KAPPA`` by default); ``tanh(w) >= MIN_THRESHOLD``.
    **kwargs
        ``model``, ``leak_shift``, ``reset``, ``surrogate`` of ``LIFNeuron``.
    """

    def __init__(self, *, w: float = KAPPA, **kwargs: object) -> None:
        if not (isinstance(w, int | float) and math.isfinite(w)
                and math.tanh(w) >= MIN_THRESHOLD):
            raise ValueError(f"w must be a finite number with tanh(w) >= {MIN_THRESHOLD}, "
                             f"not {w!r}")
        super().__init__(threshold=math.tanh(w), learnable_threshold=False, **kwargs)
        del self.threshold  # the fixed buffer of the base class; theta comes from w
        self.tanh_w = nn.Parameter(torch.tensor(float(w), dtype=torch.float32))
        self.learnable_threshold = True

    def theta(self) -> torch.Tensor:
        """Return ``max(tanh(w), MIN_THRESHOLD)`` as a 0-d tensor (differentiable)."""
        return torch.clamp_min(torch.tanh(self.tanh_w), MIN_THRESHOLD)


class ChannelTanhLIFNeuron(TanhLIFNeuron):
    """A :class:`TanhLIFNeuron` with one ``w`` per channel of a feature map: the per-channel
    option for conv layers, ``theta[c] = max(tanh(w[c]), MIN_THRESHOLD)``.

    The neurons are ``(..., C, H, W)`` maps; :meth:`theta` is ``(C, 1, 1)`` and broadcasts
    over them. The export folds each channel's threshold by the layer's rule into the
    per-channel table ``LIFParams.channel_thresholds`` (``sim.lif``).

    Parameters
    ----------
    channels : int
        ``C``.
    w : float
        Initial ``w`` of every channel.
    **kwargs
        ``model``, ``leak_shift``, ``reset``, ``surrogate`` of ``LIFNeuron``.
    """

    def __init__(self, *, channels: int, w: float = KAPPA, **kwargs: object) -> None:
        super().__init__(w=w, **kwargs)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be an integer >= 1, not {channels!r}")
        self.channels = channels
        self.tanh_w = nn.Parameter(torch.full((channels,), float(w)))

    def theta(self) -> torch.Tensor:
        """Return ``max(tanh(w), MIN_THRESHOLD)`` of shape ``(C, 1, 1)`` (differentiable)."""
        return torch.clamp_min(torch.tanh(self.tanh_w), MIN_THRESHOLD)[:, None, None]

    def channel_threshold_values(self) -> tuple[float, ...]:
        """Return the float threshold of each channel (what the export folds)."""
        return tuple(float(t) for t in self.theta().detach().flatten())

    def threshold_value(self) -> float:
        """Return the largest channel threshold (``LIFArg.threshold`` with a table)."""
        return max(self.channel_threshold_values())

    def integer_params(self, *, scale: float, input_scale: float, membrane_bits: int
                       ) -> LIFParams:
        """Return ``LIFParams`` with each channel's threshold folded by the layer's rule
        (``sim.quant.quantize_threshold``) and ``threshold`` their maximum.

        Raises
        ------
        ValueError
            If a threshold does not fit the membrane.
        """
        table = tuple(quantize_threshold(t, scale=scale, input_scale=input_scale,
                                         membrane_bits=membrane_bits)
                      for t in self.channel_threshold_values())
        base = super().integer_params(scale=scale, input_scale=input_scale,
                                      membrane_bits=membrane_bits)
        return dataclasses.replace(base, threshold=max(table), channel_thresholds=table)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, " + super().extra_repr()


def keep_probability(rates: torch.Tensor, *, drop_rate: float = DROP_RATE) -> torch.Tensor:
    """Return the keep probability ``q`` of every rate ``d`` (module docstring), no gradient.

    ``rates`` is ``(batch, n)``; a batch whose rates are all equal keeps every neuron with
    ``1 - drop_rate``.
    """
    d = rates.detach()
    lo, hi = d.min(), d.max()
    if not bool(hi > lo):
        return torch.full_like(d, 1.0 - drop_rate)
    p = (d - lo) / (hi - lo)
    denom = torch.clamp_min(1.0 - p.mean(), 1e-6)
    return torch.clamp(1.0 - (1.0 - p) * drop_rate / denom, 0.0, 1.0)


class ModerateDropout(nn.Module):
    """Moderate dropout of a spike sequence ``(T, batch, n)``: one mask for all timesteps.

    Identity in eval mode (nothing at inference). ``drop_rate`` is the expected drop rate.
    """

    def __init__(self, *, drop_rate: float = DROP_RATE) -> None:
        super().__init__()
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), not {drop_rate!r}")
        self.drop_rate = float(drop_rate)

    def mask(self, spikes: torch.Tensor) -> torch.Tensor:
        """Return the inverted-dropout mask ``(batch, n)`` for spikes ``(T, batch, n)``."""
        q = keep_probability(spikes.mean(dim=0), drop_rate=self.drop_rate)
        keep = torch.bernoulli(q)
        return torch.where(q > 0, keep / torch.clamp_min(q, 1e-12), torch.zeros_like(q))

    def forward(self, spikes: torch.Tensor) -> torch.Tensor:
        """Return ``spikes * mask`` (the same mask at every timestep) in training, else
        ``spikes``."""
        if not self.training or self.drop_rate == 0.0:
            return spikes
        return spikes * self.mask(spikes).unsqueeze(0)

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}"


def consistency_loss(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return the two-pass loss of the module docstring for logits ``(batch, classes)``."""
    ce = 0.5 * (functional.cross_entropy(z1, labels) + functional.cross_entropy(z2, labels))
    log1, log2 = functional.log_softmax(z1, dim=1), functional.log_softmax(z2, dim=1)
    # KL(p2 || p1) + KL(p1 || p2), each averaged over every element (the "mean" reduction)
    kl = ((log2.exp() - log1.exp()) * (log2 - log1)).mean()
    return ce + 0.25 * kl
