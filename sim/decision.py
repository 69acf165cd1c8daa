"""Output rules: how the output layer's spikes become a class, and when the class is final.

Two rules, both exact on integers (``spikes`` ``(T, batch, n)`` of the output layer)::

    MAX_COUNT     class = the most spikes over T; ties to the larger final membrane, then to
                  the lower index (sim.network.predict). Final after timestep T-1.
    FIRST_SPIKE   t* = the first timestep with any output spike; class = the lowest index
                  spiking at t*. Final after timestep t*: the sample needs t* + 1 timesteps.
                  A sample with no output spike in T timesteps is decided as MAX_COUNT
                  decides it (all counts 0): the larger final membrane, then the lower index.

The lowest-index tie break of ``FIRST_SPIKE`` is the one the dense cores make free: they emit a
timestep's spikes in ascending neuron order, so the first output spike event of a sample is
the decision (``hw.lif.first_spike``; it takes a silent sample's membranes from the output
core's readback of the last timestep). ``timesteps`` of :class:`Decisions` is what a top that
stops a sample once its decision is final spends of it (``T`` for ``MAX_COUNT``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = ["Decisions", "OutputRule", "decide"]


class OutputRule(enum.Enum):
    """How the output spikes become a class (module docstring)."""

    MAX_COUNT = "max_count"
    FIRST_SPIKE = "first_spike"


@dataclass(frozen=True, eq=False)
class Decisions:
    """Classes and the timesteps each sample needed.

    Attributes
    ----------
    classes : np.ndarray
        ``int64`` class per sample ``(batch,)``.
    timesteps : np.ndarray
        ``int64`` timesteps consumed before the class was final, ``1 .. T``, ``(batch,)``.
    fired : np.ndarray
        ``bool`` per sample: whether any output neuron spiked.
    """

    classes: np.ndarray
    timesteps: np.ndarray
    fired: np.ndarray


def _max_count(spikes: np.ndarray, final_v: np.ndarray) -> np.ndarray:
    counts = spikes.sum(axis=0, dtype=np.int64)
    v = np.asarray(final_v, dtype=np.int64)
    best = counts.max(axis=1, keepdims=True)
    return np.argmax(np.where(counts == best, v, np.iinfo(np.int64).min), axis=1)


def decide(spikes: np.ndarray, final_v: np.ndarray | None, *, rule: OutputRule) -> Decisions:
    """Return the :class:`Decisions` of ``rule`` for output ``spikes`` ``(T, batch, n)``.

    Parameters
    ----------
    spikes : np.ndarray
        Output-layer spikes (0/1) per timestep, sample and neuron.
    final_v : np.ndarray or None
        Output membranes after the last timestep ``(batch, n)``. ``FIRST_SPIKE`` reads them
        for silent samples only, so ``None`` is accepted when every sample fired.
    rule : OutputRule
        The rule.

    Raises
    ------
    TypeError
        If ``rule`` is not an ``OutputRule``.
    ValueError
        If ``spikes`` is not 3-D with ``T >= 1`` and ``n >= 1``, or ``final_v`` is needed but
        ``None``.
    """
    if not isinstance(rule, OutputRule):
        raise TypeError(f"rule must be an OutputRule, not {rule!r}")
    s = np.asarray(spikes) != 0
    if s.ndim != 3 or s.shape[0] < 1 or s.shape[2] < 1:
        raise ValueError(f"spikes must have shape (T >= 1, batch, n >= 1), not {s.shape}")
    t_n, batch, _ = s.shape
    any_t = s.any(axis=2)
    fired = any_t.any(axis=0)
    if rule is OutputRule.MAX_COUNT:
        if final_v is None:
            raise ValueError("the max_count rule needs the final membranes")
        return Decisions(classes=_max_count(s, final_v), fired=fired,
                         timesteps=np.full(batch, t_n, np.int64))
    first_t = np.argmax(any_t, axis=0)
    at_first = s[first_t, np.arange(batch)]
    classes = np.argmax(at_first, axis=1).astype(np.int64)
    if not fired.all():
        if final_v is None:
            raise ValueError("the first_spike rule needs the final membranes for silent samples")
        classes = np.where(fired, classes, _max_count(s, final_v))
    steps = np.where(fired, first_t + 1, t_n).astype(np.int64)
    return Decisions(classes=classes, timesteps=steps, fired=fired)
