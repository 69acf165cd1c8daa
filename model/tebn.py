"""TEBN (Duan et al., NeurIPS 2022) for dense synapses, folded exactly into integers.

Training (``shared/reference/algorithms.md`` sec. 6.1): the synaptic input ``I[t]`` of ``n``
neurons is normalised with statistics shared over the batch **and all timesteps** and scaled
by a learnable, positive per-timestep factor ``p[t]``::

    I_hat[t] = p[t] * gamma * I[t] / sqrt(ms + eps)        ms = mean over (t, batch) of I**2

Deviation from the paper, forced by the contract: the dense core has no bias, so the
normalisation has no shift (no ``-mu``, no ``beta``: the second-moment "RMS" form; with it the
per-neuron scale ``a = gamma / sqrt(ms + eps)`` folds into the weight rows, whatever its sign).
``p[t] = 2**round(q[t])`` with ``q[t]`` learnable and clamped to ``[-Q_MAX, Q_MAX]``: positive
by construction and a power of two at every step of training (straight-through rounding), so
training always sees the deployed rounding (quantisation-aware from the first step).

Folding (sec. 6.3, the power-of-two input-scale form; exact, no rounding beyond the weights')::

    r[t] = round(q[t]),  m = min_t r[t],  e[t] = r[t] - m           (0 <= e[t] <= 2 Q_MAX)
    W'   = 2**m * a[:, None] * W                                    (float64, then sim.quant)
    u[t] = leak(v[t-1]) + (I'[t] << e[t])                           (sim.lif, input_shifts)

since ``p[t] a I[t] = 2**e[t] * (2**m a I[t])``: the weights and threshold stay time-invariant
integers, and the per-layer table ``e`` (``T`` entries of 3 bits) is a left shift of the
synaptic input read per timestep. The leak stays the shift leak. ``2 Q_MAX`` is at most
``sim.lif.MAX_INPUT_SHIFT``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spikesmith.sim.lif import MAX_INPUT_SHIFT

__all__ = ["Q_MAX", "TEBNorm", "TimeScale"]

#: Bound of the learnable log2 scale ``q[t]`` (so every ``e[t] <= 2 * Q_MAX``).
Q_MAX = 3.0
assert 2 * Q_MAX <= MAX_INPUT_SHIFT


def _rounded_log2(q: torch.Tensor) -> torch.Tensor:
    """Return ``round(clamp(q))`` forward with a straight-through gradient to ``q``."""
    q = torch.clamp(q, -Q_MAX, Q_MAX)
    return q + (torch.round(q) - q).detach()


def _shift_table(q: torch.Tensor) -> tuple[int, ...]:
    """Return the folded table ``e[t] = r[t] - min r`` of ``r = round(clamp(q))``."""
    r = torch.round(torch.clamp(q.detach(), -Q_MAX, Q_MAX)).to(torch.int64)
    return tuple(int(x) for x in (r - r.min()).tolist())


class TimeScale(nn.Module):
    """The per-timestep factor ``p[t] = 2**round(q[t])`` of TEBN on its own: for a conv layer
    whose ``BatchNorm2d`` already normalises with statistics over batch, time and space
    (``model.convnet`` runs it on the ``(T*batch, C, H, W)`` synaptic input) and whose affine
    folds into the weights and bias (``model.fold``).

    Folding, as :class:`TEBNorm`: ``p[t] (a I + b') = 2**e[t] * 2**m (a I + b')``, so the
    weights and the bias take ``2**m`` (:meth:`common_factor`) and ``e`` (:meth:`shifts`) is
    the per-timestep left shift of the synaptic input, the bias included.

    Parameters
    ----------
    timesteps : int
        ``T``.

    Attributes
    ----------
    q : nn.Parameter
        ``log2 p[t]`` ``(T,)``, initialised to 0 (``p = 1``).
    """

    def __init__(self, timesteps: int) -> None:
        super().__init__()
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, not {timesteps}")
        self.timesteps = int(timesteps)
        self.q = nn.Parameter(torch.zeros(timesteps))

    def time_scale(self) -> torch.Tensor:
        """Return ``p[t] = 2**round(q[t])`` ``(T,)`` (straight-through)."""
        return torch.exp2(_rounded_log2(self.q))

    def shifts(self) -> tuple[int, ...]:
        """Return the folded table ``e[t] = r[t] - min r``."""
        return _shift_table(self.q)

    def common_factor(self) -> float:
        """Return ``2**m``, ``m = min r``: what the weights and bias take (exactly)."""
        return float(torch.exp2(_rounded_log2(self.q).detach().min()))

    def extra_repr(self) -> str:
        return f"timesteps={self.timesteps}"


class TEBNorm(nn.Module):
    """TEBN of the synaptic input ``(T, batch, n)`` of ``n`` neurons (module docstring).

    Parameters
    ----------
    n : int
        Neurons (features).
    timesteps : int
        ``T``; ``p`` has one entry per timestep, so inference uses the training ``T``.
    momentum, eps : float
        Running second moment update and the variance floor, as ``nn.BatchNorm1d``.

    Attributes
    ----------
    gamma : nn.Parameter
        Per-neuron scale ``(n,)``, initialised to 1.
    q : nn.Parameter
        ``log2 p[t]`` ``(T,)``, initialised to 0 (``p = 1``).
    running_ms : torch.Tensor
        Running mean of ``I**2`` per neuron (buffer), used in eval mode and when frozen.
    """

    def __init__(self, n: int, timesteps: int, *, momentum: float = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if n < 1 or timesteps < 1:
            raise ValueError(f"n and timesteps must be >= 1, not {n}, {timesteps}")
        self.n, self.timesteps = int(n), int(timesteps)
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = nn.Parameter(torch.ones(n))
        self.q = nn.Parameter(torch.zeros(timesteps))
        self.register_buffer("running_ms", torch.ones(n))
        #: Use the running statistic even in training (the folded fine-tune).
        self.frozen = False

    def rounded_log2(self) -> torch.Tensor:
        """Return ``round(clamp(q))`` forward with a straight-through gradient to ``q``."""
        return _rounded_log2(self.q)

    def uses_batch_stats(self) -> bool:
        """Whether the forward pass normalises with the batch's statistics."""
        return self.training and not self.frozen

    def scale(self, i: torch.Tensor | None = None) -> torch.Tensor:
        """Return ``a = gamma / sqrt(ms + eps)`` ``(n,)``; ``ms`` from ``i`` ``(T, batch, n)``
        with batch statistics (updating the running one), else the running one."""
        if i is not None and self.uses_batch_stats():
            ms = (i * i).mean(dim=(0, 1))
            with torch.no_grad():
                self.running_ms.mul_(1 - self.momentum).add_(self.momentum * ms.detach())
        else:
            ms = self.running_ms
        return self.gamma / torch.sqrt(ms + self.eps)

    def time_scale(self) -> torch.Tensor:
        """Return ``p[t] = 2**round(q[t])`` ``(T,)`` (straight-through)."""
        return torch.exp2(self.rounded_log2())

    def forward(self, i: torch.Tensor) -> torch.Tensor:
        """Return ``p[t] * a * I[t]`` for the synaptic input ``(T, batch, n)``."""
        return i * self.scale(i) * self.time_scale()[:, None, None]

    def shifts(self) -> tuple[int, ...]:
        """Return the folded table ``e[t] = r[t] - min r`` (module docstring)."""
        return _shift_table(self.q)

    def fold_weights(self, weight: torch.Tensor) -> torch.Tensor:
        """Return ``W' = 2**m * a[:, None] * W`` in ``float64``, differentiable in ``W`` and
        ``gamma`` (running statistic)."""
        r = self.rounded_log2().detach().to(torch.float64)
        a = (self.gamma.to(torch.float64)
             / torch.sqrt(self.running_ms.detach().to(torch.float64) + self.eps))
        return weight.to(torch.float64) * a[:, None] * torch.exp2(r.min())

    def fold_numpy(self, weight: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
        """Return ``(W', e)`` for float64 weights ``(n, n_in)`` (the export)."""
        with torch.no_grad():
            w = self.fold_weights(torch.from_numpy(np.asarray(weight, dtype=np.float64)))
        return w.numpy(), self.shifts()

    def extra_repr(self) -> str:
        return f"{self.n}, timesteps={self.timesteps}, frozen={self.frozen}"
