"""Pair-based nearest-spike STDP from saturating spike-age counters and kernel look-up tables.

Ref: Massey et al., arXiv 2601.08447, ``plasticity.py::spike_timing`` (``reference/
algorithms.md`` §3.1, §3.2b); the one definition of the STDP rule of ``sim.recurrent``.

Age counters (:func:`age_step`). Every neuron (inputs, E and I) owns a counter ``c`` of
``age_bits`` bits, ``A = 2**age_bits - 1``, starting at ``A`` (no recent spike)::

    c[t] = 0 where spiked at t else min(c[t-1] + 1, A)

Kernel tables (:func:`kernel_luts`), weight LSBs, for ``0 <= c < A``::

    K+[c] = round(lr * A_plus  * exp(-c / tau_plus)  * 2**weight_frac)
    K-[c] = round(lr * A_minus * exp(-c / tau_minus) * 2**weight_frac)   for c >= 1
    K-[0] = 0,  K+[A] = K-[A] = 0

Update (:func:`stdp_update`), with ages taken *after* this step's :func:`age_step`, pre
spikes ``p[t]`` (input spikes of step t and neuron spikes of step t) and post spikes
``q[t]``, on existing synapses only::

    CAUSAL:           dm[i, j] = q_j * K+[c_i] - p_i * K-[c_j]
    AUTHORS_REVERSED: dm[i, j] = p_i * K+[c_j] - q_j * K-[c_i]
    m[i, j] <- clip(m[i, j] + dm[i, j], lo[i, j], hi[i, j])

So with ``CAUSAL`` a pre spike ``c`` steps before a post spike potentiates by ``K+[c]``
and a post spike before a pre spike depresses; ``AUTHORS_REVERSED`` is the sign the authors'
code actually has (§3.2b: pre-before-post depresses). A simultaneous pair (``c = 0`` on both
sides) potentiates by ``K+[0]`` in both polarities, as in the authors' code (``Delta >= 0``),
and in causal terms because input spikes of step t reach the population in step t. Magnitudes
are updated, so for an inhibitory presynaptic neuron potentiation makes the (negative) weight
more negative: the authors' mirrored sign.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "StdpParams",
    "StdpPolarity",
    "age_step",
    "kernel_luts",
    "stdp_update",
]


class StdpPolarity(enum.Enum):
    """Which spike order potentiates."""

    #: Pre before post potentiates (textbook).
    CAUSAL = "causal"
    #: Post before pre potentiates (the authors' code as published).
    AUTHORS_REVERSED = "authors_reversed"


@dataclass(frozen=True)
class StdpParams:
    """STDP constants (float constants only feed :func:`kernel_luts`, host-side).

    Parameters
    ----------
    lr : float
        Learning rate, weight units per pair (authors: ``5e-4``).
    a_plus, a_minus : float
        Kernel amplitudes (authors: 1 and 1). Default ``a_minus = 0.2``: with rate-coded inputs
        firing far more often than the excitatory neurons, a causal pair rule with equal
        amplitudes depresses every active input and silences the network (docs/sleep.md).
    tau_plus, tau_minus : float
        Kernel time constants in steps (authors: 7.5).
    age_bits : int
        Width of the saturating age counters (``2..8``).
    weight_frac : int
        Fractional bits of a weight magnitude.
    polarity : StdpPolarity
        ``CAUSAL`` (default) or ``AUTHORS_REVERSED``.
    """

    lr: float = 5e-4
    a_plus: float = 1.0
    a_minus: float = 0.2
    tau_plus: float = 7.5
    tau_minus: float = 7.5
    age_bits: int = 5
    weight_frac: int = 16
    polarity: StdpPolarity = StdpPolarity.CAUSAL

    def __post_init__(self) -> None:
        if not isinstance(self.polarity, StdpPolarity):
            raise TypeError(f"polarity must be a StdpPolarity, not {self.polarity!r}")
        if not isinstance(self.age_bits, int) or not 2 <= self.age_bits <= 8:
            raise ValueError(f"age_bits must be an integer in 2..8, not {self.age_bits!r}")
        if self.tau_plus <= 0 or self.tau_minus <= 0:
            raise ValueError(
                f"tau_plus and tau_minus must be > 0, not {self.tau_plus!r}, {self.tau_minus!r}"
            )
        if self.lr < 0 or self.a_plus < 0 or self.a_minus < 0:
            raise ValueError(
                f"lr, a_plus, a_minus must be >= 0, not {self.lr!r}, {self.a_plus!r}, "
                f"{self.a_minus!r}"
            )

    @property
    def age_max(self) -> int:
        """Saturation value ``A = 2**age_bits - 1`` (means "no spike within range")."""
        return (1 << self.age_bits) - 1


def kernel_luts(p: StdpParams) -> tuple[np.ndarray, np.ndarray]:
    """Return the ``int64`` tables ``(K+, K-)`` of length ``A + 1`` (module docstring)."""
    scale = p.lr * (1 << p.weight_frac)
    n = p.age_max
    ltp = [round(scale * p.a_plus * math.exp(-c / p.tau_plus)) for c in range(n)] + [0]
    ltd = [0] + [round(scale * p.a_minus * math.exp(-c / p.tau_minus)) for c in range(1, n)]
    return np.array(ltp, dtype=np.int64), np.array([*ltd, 0], dtype=np.int64)


def age_step(ages: np.ndarray, spikes: np.ndarray, p: StdpParams) -> np.ndarray:
    """Return ``0`` where ``spikes`` else ``min(ages + 1, A)``."""
    return np.where(spikes, 0, np.minimum(ages + 1, p.age_max))


def _apply_inplace(
    m: np.ndarray,
    *,
    pre_idx: np.ndarray,
    post_idx: np.ndarray,
    pre_age: np.ndarray,
    post_age: np.ndarray,
    mask: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    ltp: np.ndarray,
    ltd: np.ndarray,
    polarity: StdpPolarity,
) -> None:
    """Apply :func:`stdp_update` to ``m`` in place (the drivers' fast path)."""
    if polarity is StdpPolarity.CAUSAL:
        post_gain, pre_gain = ltp[pre_age], -ltd[post_age]
    else:
        post_gain, pre_gain = -ltd[pre_age], ltp[post_age]
    if post_idx.size:
        m[:, post_idx] += post_gain[:, None] * mask[:, post_idx]
    if pre_idx.size:
        m[pre_idx, :] += pre_gain[None, :] * mask[pre_idx, :]
    if post_idx.size:
        m[:, post_idx] = np.clip(m[:, post_idx], lo[:, post_idx], hi[:, post_idx])
    if pre_idx.size:
        m[pre_idx, :] = np.clip(m[pre_idx, :], lo[pre_idx, :], hi[pre_idx, :])


def stdp_update(
    m: np.ndarray,
    *,
    pre_spikes: np.ndarray,
    post_spikes: np.ndarray,
    pre_age: np.ndarray,
    post_age: np.ndarray,
    mask: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    p: StdpParams,
) -> np.ndarray:
    """Return the magnitudes after one STDP step (rule in the module docstring).

    Parameters
    ----------
    m : np.ndarray
        ``int64`` magnitudes ``(n_pre, n_post)``, weight LSBs.
    pre_spikes, post_spikes : np.ndarray
        ``bool`` spikes of this step, ``(n_pre,)`` and ``(n_post,)``.
    pre_age, post_age : np.ndarray
        Age counters after this step's :func:`age_step`, ``(n_pre,)`` and ``(n_post,)``.
    mask : np.ndarray
        ``int64`` 1 where a synapse exists.
    lo, hi : np.ndarray
        ``int64`` magnitude bounds per synapse.
    p : StdpParams
        Kernel constants and polarity.
    """
    ltp, ltd = kernel_luts(p)
    out = np.array(m, dtype=np.int64, copy=True)
    _apply_inplace(
        out,
        pre_idx=np.flatnonzero(pre_spikes),
        post_idx=np.flatnonzero(post_spikes),
        pre_age=np.asarray(pre_age, dtype=np.int64),
        post_age=np.asarray(post_age, dtype=np.int64),
        mask=mask,
        lo=lo,
        hi=hi,
        ltp=ltp,
        ltd=ltd,
        polarity=p.polarity,
    )
    return out
