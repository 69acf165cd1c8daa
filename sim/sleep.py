"""Sleep phase of the recurrent population: LFSR membrane noise, log-space weight decay toward
a homeostatic target, early stop on the group weight sums, and the sleep-ratio schedule.

Ref: Massey et al., arXiv 2601.08447, ``train.py::train_network`` "hard pause" mode
(``reference/algorithms.md`` §3.2, §3.2b, §3.5).

Noise (:func:`noise_step`). Every neuron owns a ``sim.lfsr.LFSR24`` register. Each sleep step
it makes ``n_uniform`` 8-bit draws ``u_k`` (each: advance 8 steps, take the low 8 bits, as
``sim.lfsr.lfsr_draws``) and adds to its membrane::

    c = sum_k (2 u_k - 255)                     (odd-symmetric, zero mean)
    n = (c * noise_gain + 2**(noise_shift - 1)) >> noise_shift      (sim.fixed Rounding.HALF_UP)

With 4 draws ``Var(c) = 4 * 4 * (256**2 - 1) / 12``; gain 157, shift 7 gives a standard
deviation of 362.6 membrane LSBs = 1.416 mV, the paper's ``var_noise = 2`` mV². The registers
do not advance while awake.

Decay (:func:`decay_step`). The paper's per-step rule ``|w| <- w_t (|w| / w_t)**lambda`` is
applied in batches: on every ``decay_period``-th step of an episode (``k`` steps) each existing
synapse gets ``m <- w_t (m / w_t)**(lambda**k)``, the exact composition of ``k`` paper steps,
in integers and exact in expectation through stochastic rounding. With ``c = 1 - lambda**k``
the rule is ``m <- m 2**(-c log2(m / w_t))``, and the factor ``2**(-c x)`` is split into an
octave part and a fraction part, each from a small host-built table (:func:`decay_tables`)::

    e    = floor(log2 m)                                (leading-one position; m >= 1)
    f    = the log_frac bits below the leading one of m
    L(m) = e * 2**Q + LOG2[f],  LOG2[f] = round(2**Q log2(1 + (f + 1/2) / 2**Q))
    x    = L(m) - L(w_t)                                (log2 distance, Q fractional bits)
    xh   = x >> Q  (floor),  xl = x & (2**Q - 1)        (octave, fraction: x = xh 2**Q + xl)
    A[xh] = round(2**P (2**(-c xh) - 1))                (octave table)
    B[xl] = round(2**P (2**(-c xl / 2**Q) - 1)),  0 <= xl < 2**Q   (fraction table)
    G    = A[xh] + B[xl] + ((A[xh] * B[xl]) >> P)       (floor; (1+a)(1+b) - 1 = a + b + ab)
    t    = (m * G) >> (P - 16)                          (floor)
    dm   = (t + r) >> 16,  r = next draw of the decay LFSR (1..65535)  (Rounding.STOCHASTIC)
    m   <- clip(m + dm, lo, hi);   m = 0 stays 0

``Q = log_frac`` (10), ``P = 30`` (:data:`DECAY_FACTOR_FRAC`); ``round`` is Python's (half to
even) of the float64 value, ``c`` the float64 ``1 - lam**decay_period``. The tables are the
definition: :func:`decay_tables` builds them on the host and the hardware holds the same
integers (``A``: one entry per octave a weight can reach, ``B``: ``2**Q`` entries).

Factor error. Write ``A = 2**P a + da``, ``B = 2**P b + db`` (``|da|, |db| <= 1/2``) and let
``phi`` in ``[0, 1)`` be the floor's loss. Then exactly::

    G - 2**P (2**(-c x / 2**Q) - 1) = (1 + b) da + (1 + a) db + da db / 2**P - phi

with ``1 + b = 2**(-c xl / 2**Q)`` in ``(0, 1]`` and ``1 + a = 2**(-c xh)``, so
``|G - ideal| <= 1 + (1 + 2**(-c xh)) / 2 + 2**-(P + 2)``: below 2 + 2**-32 LSBs of ``2**-P``
where ``m >= w_t`` (``xh >= 0``), below ``1.5 + 2**(c |xh|) / 2 + 2**-32`` where ``m < w_t``
(``2.002`` for the defaults and weights below ``2**21``; there ``m < w_t`` keeps ``t`` small).
This holds while the table entries stay below ``2**52`` (float64 is exact to the integer).

The decay LFSR is one ``LFSR16`` register whose draws are its full 16-bit state after 16
steps (:data:`DECAY_LFSR`); one draw per existing synapse per batch, synapses in ascending
row-major ``(pre, post)`` order, whatever their value. Given ``x`` the expected ``dm`` equals
``t / 2**16`` to within ``2**-16`` LSB (``r`` never takes the value 0); the only departures
from the float rule are the ``2**-Q`` quantisation of the log distance and the error of ``G``
above (``tests/sim/test_sleep.py`` bounds both). A hardware decay unit needs the three
tables (``LOG2``, ``A``, ``B``), two multipliers and the LFSR. The golden model covers
magnitudes and targets below ``2**40`` LSBs (octaves ``-40 .. 39``).

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
from functools import cache, cached_property

import numpy as np

from .fixed import Rounding, round_shift
from .lfsr import LFSR24, LfsrSpec, lfsr_advance, lfsr_table

__all__ = [
    "DECAY_FACTOR_FRAC",
    "DECAY_LFSR",
    "DecayTables",
    "Phase",
    "SleepParams",
    "decay_factor",
    "decay_octaves",
    "decay_step",
    "decay_tables",
    "fraction_table",
    "group_sums",
    "log2_fixed",
    "noise_step",
    "octave_table",
    "sleep_length",
    "sums_at_baseline",
]

#: The decay unit's generator: x^16 + x^14 + x^13 + x^11 + 1, draws are whole 16-bit states.
DECAY_LFSR = LfsrSpec(width=16, taps=0xB400, draw_bits=16)

#: ``P``: fractional bits of the decay factors ``A``, ``B`` and ``G`` (``2**P`` is 1.0).
DECAY_FACTOR_FRAC = 30
_P = DECAY_FACTOR_FRAC
#: Fractional bits of the stochastic rounding (16-bit draws of ``DECAY_LFSR``).
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
    return round_shift(c * p.noise_gain, p.noise_shift, Rounding.HALF_UP), regs


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


#: Magnitudes and targets the golden model's tables cover: below ``2**40`` LSBs.
_W_BITS = 40
#: Below this bound the octave table is held as ``int64`` (``|A B| < 2**62``), above it as
#: Python integers.
_INT64_OCTAVE = 1 << 32


@dataclass(frozen=True)
class DecayTables:
    """The host-built decay tables of one ``SleepParams`` (module docstring).

    Parameters
    ----------
    log_frac : int
        ``Q``, fractional bits of the log2 distance ``x``.
    octave_offset : int
        Index of octave ``xh = 0`` in ``octave``: ``A[xh] = octave[xh + octave_offset]``.
    octave : tuple of int
        ``A[xh]`` for ``xh = -octave_offset .. len(octave) - 1 - octave_offset``, units of
        ``2**-P``.
    fraction : tuple of int
        ``B[xl]`` for ``xl = 0 .. 2**Q - 1``, units of ``2**-P``.

    Raises
    ------
    ValueError
        If ``fraction`` does not have ``2**log_frac`` entries or ``octave_offset`` is not an
        index of ``octave``.
    """

    log_frac: int
    octave_offset: int
    octave: tuple[int, ...]
    fraction: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.fraction) != 1 << self.log_frac:
            raise ValueError(f"fraction must have 2**log_frac = {1 << self.log_frac} entries, "
                             f"not {len(self.fraction)}")
        if not 0 <= self.octave_offset < len(self.octave):
            raise ValueError(f"octave_offset must be in 0..{len(self.octave) - 1}, not "
                             f"{self.octave_offset!r}")

    @property
    def octaves(self) -> range:
        """The octaves ``xh`` the table covers."""
        return range(-self.octave_offset, len(self.octave) - self.octave_offset)

    @cached_property
    def _octave_array(self) -> np.ndarray:
        big = max(abs(v) for v in self.octave) >= _INT64_OCTAVE
        return np.array(self.octave, dtype=object if big else np.int64)

    @cached_property
    def _fraction_array(self) -> np.ndarray:
        return np.array(self.fraction, dtype=np.int64)


def _factor_entry(c: float, exponent: float) -> int:
    """Return ``round(2**P (2**(-c exponent) - 1))`` (the one rounding of both tables)."""
    return round((2.0 ** (-c * exponent) - 1.0) * (1 << _P))


def decay_octaves(w_max: int, *, log_frac: int) -> range:
    """Return the octaves ``xh`` that magnitudes and targets in ``1 .. w_max`` can produce.

    Raises
    ------
    ValueError
        If ``w_max < 1``.
    """
    if w_max < 1:
        raise ValueError(f"w_max must be >= 1, not {w_max!r}")
    l_lo, l_hi = (int(v) for v in log2_fixed(np.array([1, w_max]), log_frac=log_frac))
    return range((l_lo - l_hi) >> log_frac, ((l_hi - l_lo) >> log_frac) + 1)


def octave_table(p: SleepParams, *, octaves: range) -> tuple[int, ...]:
    """Return ``A[xh]`` for every ``xh`` in ``octaves`` (units of ``2**-P``)."""
    c = 1.0 - p.lam**p.decay_period
    return tuple(_factor_entry(c, xh) for xh in octaves)


def fraction_table(p: SleepParams) -> tuple[int, ...]:
    """Return ``B[xl]`` for ``xl = 0 .. 2**Q - 1`` (units of ``2**-P``)."""
    c, q = 1.0 - p.lam**p.decay_period, 1 << p.log_frac
    return tuple(_factor_entry(c, xl / q) for xl in range(q))


@cache
def decay_tables(p: SleepParams) -> DecayTables:
    """Return the decay tables ``A`` (every octave of weights below ``2**40``) and ``B``."""
    octaves = decay_octaves((1 << _W_BITS) - 1, log_frac=p.log_frac)
    return DecayTables(log_frac=p.log_frac, octave_offset=-octaves.start,
                       octave=octave_table(p, octaves=octaves), fraction=fraction_table(p))


def decay_factor(x: np.ndarray, *, tables: DecayTables) -> np.ndarray:
    """Return ``G = A[xh] + B[xl] + ((A[xh] B[xl]) >> P)`` for log2 distances ``x``.

    Parameters
    ----------
    x : np.ndarray
        Log2 distances ``L(m) - L(w_t)``, integers with ``Q`` fractional bits.
    tables : DecayTables
        ``A`` and ``B``.

    Returns
    -------
    np.ndarray
        ``G`` in units of ``2**-P``: ``int64``, or Python integers (``object``) when the
        octave table does not fit the ``int64`` product.

    Raises
    ------
    ValueError
        If some ``x`` lies outside the octaves of ``tables``.
    """
    x = np.asarray(x, dtype=np.int64)
    q = tables.log_frac
    idx = (x >> q) + tables.octave_offset
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= len(tables.octave)):
        span = tables.octaves
        raise ValueError(f"x must lie in the octaves {span.start}..{span.stop - 1} of the "
                         f"tables, not {int(x.min())}..{int(x.max())}")
    a = tables._octave_array[idx]
    b = tables._fraction_array[x & ((1 << q) - 1)]
    if a.dtype == object:
        b = b.astype(object)
    return a + b + ((a * b) >> _P)


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

    Raises
    ------
    ValueError
        If a magnitude is outside ``0 .. 2**40 - 1``, a target outside ``1 .. 2**40 - 1`` or
        ``register`` is not a non-zero 16-bit value.
    """
    m = np.asarray(m, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    w_max = (1 << _W_BITS) - 1
    if m.size and (int(m.min()) < 0 or int(m.max()) > w_max):
        raise ValueError(f"m must be in 0..2**{_W_BITS} - 1, not {int(m.min())}..{int(m.max())}")
    if target.size and (int(target.min()) < 1 or int(target.max()) > w_max):
        raise ValueError(f"target must be in 1..2**{_W_BITS} - 1, not "
                         f"{int(target.min())}..{int(target.max())}")
    n = m.size
    if n == 0:
        return m.copy(), register
    r = lfsr_table(DECAY_LFSR, seed=register, draws=n)
    pos = np.maximum(m, 1)
    x = log2_fixed(pos, log_frac=p.log_frac) - log2_fixed(target, log_frac=p.log_frac)
    g = decay_factor(x, tables=decay_tables(p))
    if g.dtype != object and int(np.abs(g).max()) * int(pos.max()) >= 1 << 62:
        g = g.astype(object)
    if g.dtype == object:
        pos = pos.astype(object)
    t = (pos * g) >> (_P - _R)
    dm = np.where(m > 0, round_shift(t, _R, Rounding.STOCHASTIC, draws=r), 0).astype(np.int64)
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
