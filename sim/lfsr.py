"""Linear-feedback shift registers: the only source of randomness that hardware reproduces.

Every random bit that the gateware must match (rate coding, stochastic rounding, sleep noise)
comes from an :class:`LfsrSpec` defined here and instantiated by ``hw/``.

Definition (Galois form, right-shifting)::

    lsb   = state & 1
    state = state >> 1
    if lsb: state ^= taps

``taps`` is the feedback mask of a maximal-length polynomial, so from any non-zero seed the
state visits all ``2**width - 1`` non-zero values before repeating. One *draw* of ``n`` bits
advances the register ``n`` steps and returns the low ``n`` bits of the resulting state; in
gateware the ``n``-step transition is a fixed XOR network computed in one cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = [
    "LFSR16",
    "LFSR24",
    "LfsrSpec",
    "apply_jump",
    "jump_columns",
    "lfsr_advance",
    "lfsr_draws",
    "lfsr_step",
    "lfsr_table",
]


@dataclass(frozen=True)
class LfsrSpec:
    """A Galois LFSR.

    Parameters
    ----------
    width : int
        Register width in bits (2..32).
    taps : int
        Feedback mask (maximal-length polynomial), ``0 < taps < 2**width``.
    draw_bits : int
        Bits per draw; the register advances ``draw_bits`` steps per draw.
    """

    width: int
    taps: int
    draw_bits: int = 8

    def __post_init__(self) -> None:
        if not 2 <= self.width <= 32:
            raise ValueError(f"LFSR width must be in 2..32, not {self.width!r}")
        if not 0 < self.taps < (1 << self.width):
            raise ValueError(f"taps must be a non-zero {self.width}-bit mask, not {self.taps!r}")
        if not 1 <= self.draw_bits <= self.width:
            raise ValueError(f"draw_bits must be in 1..width, not {self.draw_bits!r}")

    @property
    def period(self) -> int:
        """Length of the state cycle (``2**width - 1`` for a maximal polynomial)."""
        return (1 << self.width) - 1


#: x^16 + x^14 + x^13 + x^11 + 1, 8-bit draws: the rate encoder's generator.
LFSR16 = LfsrSpec(width=16, taps=0xB400, draw_bits=8)
#: x^24 + x^23 + x^22 + x^17 + 1, 8-bit draws: per-neuron noise and stochastic rounding.
LFSR24 = LfsrSpec(width=24, taps=0xE10000, draw_bits=8)


def lfsr_step(states: np.ndarray, spec: LfsrSpec, *, steps: int = 1) -> np.ndarray:
    """Advance an array of independent registers by ``steps`` steps (vectorised)."""
    s = np.asarray(states, dtype=np.int64).copy()
    taps = np.int64(spec.taps)
    for _ in range(steps):
        lsb = s & 1
        s = (s >> 1) ^ (lsb * taps)
    return s


def apply_jump(columns: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Apply the linear map given by ``columns`` (``(width,)``) to every state (vectorised).

    An LFSR step is linear over GF(2): the state after ``n`` steps is ``J_n · s``, where the
    matrix ``J_n`` is stored as its ``width`` columns (the images of the basis states
    ``1 << b``; :func:`jump_columns`).
    """
    s = np.asarray(states, dtype=np.int64)
    bits = (s[..., None] >> np.arange(columns.shape[0], dtype=np.int64)) & 1
    return np.bitwise_xor.reduce(bits * columns, axis=-1)


def jump_columns(spec: LfsrSpec, steps: int) -> np.ndarray:
    """Return the columns of the map "advance ``steps`` steps" (``int64 (width,)``).

    Computed by repeated squaring, so ``steps`` may be as large as the period. Gateware
    builds its one-cycle XOR network from these columns (``hw.common.lfsr``).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, not {steps!r}")
    basis = np.int64(1) << np.arange(spec.width, dtype=np.int64)
    result = basis.copy()
    power = lfsr_step(basis, spec, steps=1)
    n = steps
    while n:
        if n & 1:
            result = apply_jump(power, result)
        power = apply_jump(power, power)
        n >>= 1
    return result


@cache
def _jump_tables(spec: LfsrSpec, steps: int) -> tuple[np.ndarray, np.ndarray]:
    lo_bits = spec.width // 2
    lo = lfsr_step(np.arange(1 << lo_bits, dtype=np.int64), spec, steps=steps)
    hi_in = np.arange(1 << (spec.width - lo_bits), dtype=np.int64) << lo_bits
    hi = lfsr_step(hi_in, spec, steps=steps)
    return lo, hi


def lfsr_advance(states: np.ndarray, spec: LfsrSpec, *, steps: int) -> np.ndarray:
    """Advance registers ``steps`` steps in one table look-up; equal to :func:`lfsr_step`.

    The ``steps``-step map of a state is the XOR of the maps of its low and high halves
    (linearity over GF(2)); both are tabulated once per ``(spec, steps)``.
    """
    lo, hi = _jump_tables(spec, steps)
    lo_bits = spec.width // 2
    s = np.asarray(states, dtype=np.int64)
    return lo[s & ((1 << lo_bits) - 1)] ^ hi[s >> lo_bits]


def lfsr_draws(states: np.ndarray, spec: LfsrSpec) -> tuple[np.ndarray, np.ndarray]:
    """Draw once from each register: advance ``spec.draw_bits`` steps, take the low bits.

    Returns
    -------
    values : np.ndarray
        ``int64`` draws in ``0 .. 2**draw_bits - 1``.
    new_states : np.ndarray
        The registers after the draw.
    """
    new = lfsr_step(states, spec, steps=spec.draw_bits)
    return new & np.int64((1 << spec.draw_bits) - 1), new


@cache
def _state_cycle(spec: LfsrSpec) -> np.ndarray:
    """States after 0, 1, 2, ... steps from seed 1, one full period (cached per spec)."""
    if spec.width > 24:
        raise ValueError(f"a state table is only built for width <= 24, not {spec.width}")
    n = spec.period
    out = np.empty(n, dtype=np.int64)
    s = 1
    for i in range(n):
        out[i] = s
        lsb = s & 1
        s = (s >> 1) ^ (spec.taps if lsb else 0)
    if s != 1:
        raise ValueError(f"taps {spec.taps:#x} are not maximal-length for width {spec.width}")
    return out


def lfsr_table(spec: LfsrSpec, *, seed: int, draws: int) -> np.ndarray:
    """Return ``draws`` successive draws of one register started at ``seed``.

    Equivalent to calling :func:`lfsr_draws` ``draws`` times on one register, but computed
    from a cached table of the state cycle, so it is vectorised.

    Raises
    ------
    ValueError
        If ``seed`` is zero or does not fit the register.
    """
    if not 0 < seed < (1 << spec.width):
        raise ValueError(f"seed must be a non-zero {spec.width}-bit value, not {seed!r}")
    cycle = _state_cycle(spec)
    index = _seed_index(spec)[seed]
    steps = index + spec.draw_bits * np.arange(1, draws + 1, dtype=np.int64)
    return cycle[steps % spec.period] & np.int64((1 << spec.draw_bits) - 1)


@cache
def _seed_index(spec: LfsrSpec) -> np.ndarray:
    cycle = _state_cycle(spec)
    index = np.zeros(1 << spec.width, dtype=np.int64)
    index[cycle] = np.arange(spec.period, dtype=np.int64)
    return index
