"""Output rules: how the output layer's spikes become a class, and when the class is final.

Two rules, both exact on integers (``spikes`` and ``membranes`` ``(T, batch, n)`` of the output
layer, membranes after reset)::

    MAX_COUNT     class = the most spikes over T; ties to the larger final membrane, then to
                  the lower index (sim.network.predict). Final after timestep T-1.
    FIRST_SPIKE   t* = the first timestep with any output spike; class = among the neurons
                  spiking at t*, the larger membrane after timestep t* (after reset: with
                  ResetMode.SUBTRACT the overshoot u - theta, so the larger drive), then the
                  lower index. Final after timestep t*: the sample needs t* + 1 timesteps.
                  A sample with no output spike in T timesteps is decided as MAX_COUNT decides
                  it (all counts 0): the larger final membrane, then the lower index.

Both tie breaks are what the output core's membrane readback gives for free: one record per
group of lanes per timestep, in ascending neuron order, with the membranes after reset and the
spike bits; the first-spike top (``hw.lif.first_spike``) folds each timestep's records into the
best ``(spiked, membrane)`` and decides at the timestep's output marker. ``timesteps`` of
:class:`Decisions` is what a top that stops a sample once its decision is final spends of it
(``T`` for ``MAX_COUNT``).
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


def _best(candidate: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per row, the candidate with the largest ``v``, ties to the lower index."""
    low = np.finfo(np.float64).min if np.issubdtype(v.dtype, np.floating) else np.iinfo(
        np.int64).min
    return np.argmax(np.where(candidate, v, low), axis=1)


def decide(spikes: np.ndarray, membranes: np.ndarray, *, rule: OutputRule) -> Decisions:
    """Return the :class:`Decisions` of ``rule`` for the output layer's run.

    Parameters
    ----------
    spikes : np.ndarray
        Output-layer spikes (0/1) ``(T, batch, n)``.
    membranes : np.ndarray
        Output-layer membranes after reset, same shape (integers; floats for a float run,
        with the same order rules).
    rule : OutputRule
        The rule.

    Raises
    ------
    TypeError
        If ``rule`` is not an ``OutputRule``.
    ValueError
        If ``spikes`` is not 3-D with ``T >= 1`` and ``n >= 1`` or ``membranes`` has another
        shape.
    """
    if not isinstance(rule, OutputRule):
        raise TypeError(f"rule must be an OutputRule, not {rule!r}")
    s = np.asarray(spikes) != 0
    if s.ndim != 3 or s.shape[0] < 1 or s.shape[2] < 1:
        raise ValueError(f"spikes must have shape (T >= 1, batch, n >= 1), not {s.shape}")
    v = np.asarray(membranes)
    if v.shape != s.shape:
        raise ValueError(f"membranes must have the spikes' shape {s.shape}, not {v.shape}")
    t_n, batch, _ = s.shape
    any_t = s.any(axis=2)
    fired = any_t.any(axis=0)
    counts = s.sum(axis=0, dtype=np.int64)
    by_count = _best(counts == counts.max(axis=1, keepdims=True), v[-1])
    if rule is OutputRule.MAX_COUNT:
        return Decisions(classes=by_count, fired=fired, timesteps=np.full(batch, t_n, np.int64))
    first_t = np.argmax(any_t, axis=0)
    rows = np.arange(batch)
    by_first = _best(s[first_t, rows], v[first_t, rows])
    classes = np.where(fired, by_first, by_count).astype(np.int64)
    steps = np.where(fired, first_t + 1, t_n).astype(np.int64)
    return Decisions(classes=classes, timesteps=steps, fired=fired)
