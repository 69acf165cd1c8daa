"""Sleep phase of the recurrent population: LFSR membrane noise, log-space weight decay toward
a homeostatic target, early stop on the group weight sums, and the sleep-ratio schedule.

Ref: Massey et al., arXiv 2601.08447, ``train.py::train_network`` "hard pause" mode
(``reference/algorithms.md`` §3.2, §3.2b, §3.5).

Noise (:func:`noise_step`). Every neuron owns a ``sim.lfsr.LFSR24`` register. Each sleep step
it makes ``n_uniform`` 8-bit draws ``u_k`` (each: advance 8 steps, take the low 8 bits, as
``sim.lfsr.lfsr_draws``) and adds to its membrane::

    c = sum_k (2 u_k - 255)                     (odd-symmetric, zero mean)
    n = (c * noise_gain + 2**(noise_shift - 1)) >> noise_shift

With 4 draws ``Var(c) = 4 * 4 * (256**2 - 1) / 12``; gain 157, shift 7 gives a standard
deviation of 362.6 membrane LSBs = 1.416 mV, the paper's ``var_noise = 2`` mV². The registers
do not advance while awake.

Decay (:func:`decay_step`). The paper's per-step rule ``|w| <- w_t (|w| / w_t)**lambda`` is
applied in batches: on every ``decay_period``-th step of an episode (``k`` steps) each existing
synapse gets ``m <- w_t (m / w_t)**(lambda**k)``, the exact composition of ``k`` paper steps,
in integers and exact in expectation through stochastic rounding::

    e   = floor(log2 m)                                 (leading-one position; m >= 1)
    f   = the log_frac bits below the leading one of m
    L(m) = e * 2**Q + LOG2[f],  LOG2[f] = round(2**Q log2(1 + (f + 1/2) / 2**Q))
    x   = L(m) - L(w_t)                                 (log2 distance, Q fractional bits)
    G[x] = round(2**P (2**(-(1 - lambda**k) x / 2**Q) - 1))
    t   = (m * G[x]) >> (P - 16)                        (floor)
    dm  = (t + r) >> 16,  r = next draw of the decay LFSR (1..65535)
    m   <- clip(m + dm, lo, hi);   m = 0 stays 0

``Q = log_frac`` (10), ``P = 30``. The decay LFSR is one ``LFSR16`` register whose draws are
its full 16-bit state after 16 steps (:data:`DECAY_LFSR`); one draw per existing synapse per
batch, synapses in ascending row-major ``(pre, post)`` order, whatever their value. Given ``x``
the expected ``dm`` equals ``t / 2**16`` to within ``2**-16`` LSB (``r`` never takes the value
0); the only departure from the float rule is the ``2**-Q`` quantisation of the log distance
and the rounding of ``G`` (``tests/sim/test_sleep.py`` bounds both). A hardware decay unit
needs the two tables, one multiplier and the LFSR.

Stop (:func:`sums_at_baseline`). After each batch the episode ends when every group's
``S_G = sum |w|`` satisfies ``S_G <= B_G + (B_G >> tol_shift)``, ``B_G`` the group's sum at
initialisation (the paper: relative tolerance 1e-3, ``tol_shift = 10``), or when the budget runs
out. Schedule (:func:`sleep_length`): an episode after a wake interval of ``n`` steps has a
budget of ``k * round(ratio * n / k)`` steps (Python ``round``, half to even), so the ratio
means what it says (§3.2b) up to one batch.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from .lfsr import LFSR24, LfsrSpec, lfsr_table
from .recurrent import lfsr_advance

__all__ = [
    "DECAY_LFSR",
    "Phase",
    "SleepParams",
    "decay_step",
    "decay_tables",
    "group_sums",
    "log2_fixed",
    "noise_step",
    "sleep_length",
    "sums_at_baseline",
]

#: The decay unit's generator: x^16 + x^14 + x^13 + x^11 + 1, draws are whole 16-bit states.
DECAY_LFSR = LfsrSpec(width=16, taps=0xB400, draw_bits=16)

_P = 30
_R = 16


class Phase(enum.Enum):
    """Which phase the population is in."""

    #: Input on, no noise, no decay.
    WAKE = "wake"
    #: Input gated off, membrane noise, homeostatic decay; STDP keeps running.
    SLEEP = "sleep"


@dataclass(frozen=True)
class SleepParams:
    """Sleep constants (module docstring gives the equations).

    Parameters
    ----------
    lam : float
        Per-step decay exponent ``lambda`` in ``(0, 1]`` (paper: 0.99997); host-side only,
        it enters the hardware through :func:`decay_tables`.
    decay_period : int
        ``k``, steps per decay batch, ``>= 1``.
    log_frac : int
        ``Q``, fractional bits of the log2 distance (``4..12``).
    n_uniform : int
        Uniform draws summed per noise sample (``1..16``).
    noise_gain, noise_shift : int
        Scale of the centred sum, ``noise_shift >= 1``.
    tol_shift : int
        Early-stop tolerance ``B >> tol_shift`` (``0..31``).
    """

    lam: float = 0.99997
    decay_period: int = 8
    log_frac: int = 10
    n_uniform: int = 4
    noise_gain: int = 157
    noise_shift: int = 7
    tol_shift: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.lam <= 1.0:
            raise ValueError(f"lam must be in (0, 1], not {self.lam!r}")
        if not isinstance(self.decay_period, int) or self.decay_period < 1:
            raise ValueError(f"decay_period must be an integer >= 1, not {self.decay_period!r}")
        if not isinstance(self.log_frac, int) or not 4 <= self.log_frac <= 12:
            raise ValueError(f"log_frac must be an integer in 4..12, not {self.log_frac!r}")
        if not isinstance(self.n_uniform, int) or not 1 <= self.n_uniform <= 16:
            raise ValueError(f"n_uniform must be an integer in 1..16, not {self.n_uniform!r}")
        if not isinstance(self.noise_shift, int) or self.noise_shift < 1:
            raise ValueError(f"noise_shift must be an integer >= 1, not {self.noise_shift!r}")
        if not isinstance(self.tol_shift, int) or not 0 <= self.tol_shift <= 31:
            raise ValueError(f"tol_shift must be an integer in 0..31, not {self.tol_shift!r}")


def noise_step(registers: np.ndarray, p: SleepParams) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(noise, registers)``: one noise sample per ``LFSR24`` register (module doc)."""
    regs = np.asarray(registers, dtype=np.int64)
    c = np.zeros(regs.shape, dtype=np.int64)
    for _ in range(p.n_uniform):
        regs = lfsr_advance(regs, LFSR24, steps=LFSR24.draw_bits)
        c += 2 * (regs & 0xFF) - 255
    return (c * p.noise_gain + (1 << (p.noise_shift - 1))) >> p.noise_shift, regs


@cache
def _log2_lut(q: int) -> np.ndarray:
    n = 1 << q
    return np.array([round(n * math.log2(1 + (f + 0.5) / n)) for f in range(n)], dtype=np.int64)


def log2_fixed(m: np.ndarray, *, log_frac: int) -> np.ndarray:
    """Return ``L(m) = e * 2**Q + LOG2[f]``, the fixed-point log2 of integers ``m >= 1``."""
    m = np.asarray(m, dtype=np.int64)
    # frexp of an int64 below 2**53 is exact: m = frac * 2**ex with 0.5 <= frac < 1.
    _, ex = np.frexp(m.astype(np.float64))
    e = ex.astype(np.int64) - 1
    sh = e - log_frac
    top = np.where(sh >= 0, m >> np.maximum(sh, 0), m << np.maximum(-sh, 0))
    return e * (1 << log_frac) + _log2_lut(log_frac)[top - (1 << log_frac)]


#: Largest log2 distance covered by the factor table: weights below 2**40 LSBs.
_X_BITS = 40


@cache
def decay_tables(p: SleepParams) -> np.ndarray:
    """Return the factor table ``G`` indexed by ``x + 2**Q * 40`` (module docstring), ``int64``."""
    q = 1 << p.log_frac
    c = 1.0 - p.lam**p.decay_period
    xs = np.arange(-_X_BITS * q, _X_BITS * q + 1, dtype=np.float64)
    return np.rint((2.0 ** (-c * xs / q) - 1.0) * (1 << _P)).astype(np.int64)


def decay_step(
    m: np.ndarray,
    *,
    target: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    register: int,
    p: SleepParams,
) -> tuple[np.ndarray, int]:
    """Apply one decay batch to a vector of existing-synapse magnitudes.

    Parameters
    ----------
    m : np.ndarray
        ``int64`` magnitudes of the existing synapses in ascending row-major order.
    target, lo, hi : np.ndarray
        Per-synapse target and bounds, same shape.
    register : int
        Decay LFSR state (non-zero 16-bit).
    p : SleepParams
        Decay constants.

    Returns
    -------
    m : np.ndarray
        Magnitudes after the batch.
    register : int
        The decay register after one draw per synapse.
    """
    m = np.asarray(m, dtype=np.int64)
    n = m.size
    if n == 0:
        return m.copy(), register
    r = lfsr_table(DECAY_LFSR, seed=register, draws=n)
    pos = np.maximum(m, 1)
    x = log2_fixed(pos, log_frac=p.log_frac) - log2_fixed(target, log_frac=p.log_frac)
    g = decay_tables(p)[x + _X_BITS * (1 << p.log_frac)]
    t = (pos * g) >> (_P - _R)
    dm = np.where(m > 0, (t + r) >> _R, 0)
    return np.clip(m + dm, lo, hi), int(r[-1])


def group_sums(m: np.ndarray, group: np.ndarray, *, n_groups: int) -> np.ndarray:
    """Return ``S_G = sum |w|`` per group index ``0..n_groups-1`` (``int64``, exact)."""
    g = np.asarray(group).ravel()
    vals = np.asarray(m, dtype=np.int64).ravel()
    return np.array([vals[g == i].sum() for i in range(n_groups)], dtype=np.int64)


def sums_at_baseline(sums: np.ndarray, baseline: np.ndarray, p: SleepParams) -> bool:
    """Return whether every ``S_G <= B_G + (B_G >> tol_shift)``."""
    b = np.asarray(baseline, dtype=np.int64)
    return bool(np.all(np.asarray(sums, dtype=np.int64) <= b + (b >> p.tol_shift)))


def sleep_length(*, ratio: float, wake_steps: int, decay_period: int) -> int:
    """Return the sleep budget ``k * round(ratio * wake_steps / k)`` in steps.

    Raises
    ------
    ValueError
        If ``ratio`` is negative, ``wake_steps`` negative or ``decay_period < 1``.
    """
    if not ratio >= 0:
        raise ValueError(f"ratio must be >= 0, not {ratio!r}")
    if wake_steps < 0:
        raise ValueError(f"wake_steps must be >= 0, not {wake_steps!r}")
    if decay_period < 1:
        raise ValueError(f"decay_period must be >= 1, not {decay_period!r}")
    return decay_period * round(ratio * wake_steps / decay_period)
