"""Integer number formats and the rounding / overflow semantics of the whole project.

This module is the single definition of how a quantised value is stored and how it rounds and
overflows. `compiler/`, `model/` (hardware-exact mode), `hw/` and the test scoreboards call
these functions; none of them re-derives the arithmetic.

Conventions (decided once, tested in ``tests/sim/test_fixed.py``):

* Values are held in ``np.int64`` arrays. A format of width ``w`` (``w <= 62``) always fits.
* A right shift of a negative value rounds toward minus infinity (arithmetic shift, the
  behaviour of NumPy's ``>>`` on signed integers and of a Verilog ``>>>`` on a signed wire):
  ``shift_right(-3, 1) == -2``.
* Every rounding of a division by ``2**k`` (floor, half even, half up, stochastic) is a member
  of :class:`Rounding` computed by :func:`round_shift`; the gateware's half-up constant is
  :func:`half_up_offset`.
* ``Overflow.SATURATE`` clamps to ``[min_value, max_value]``; ``Overflow.WRAP`` keeps the low
  ``width`` bits and reinterprets them in the format's signedness (two's complement).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_WIDTH",
    "FixedFormat",
    "Overflow",
    "Rounding",
    "apply_overflow",
    "bits_for_range",
    "half_up_offset",
    "round_shift",
    "saturate",
    "shift_right",
    "wrap",
]

#: Widest integer format the golden model accepts (it computes in ``int64``).
MAX_WIDTH = 62


class Rounding(enum.Enum):
    """How a value with ``k`` dropped fractional bits is rounded (see :func:`round_shift`)."""

    #: Toward minus infinity (an arithmetic right shift). Free in hardware.
    FLOOR = "floor"
    #: To nearest, ties to even (NumPy's ``rint``). Used for quantising trained constants.
    HALF_EVEN = "half_even"
    #: To nearest, ties up (toward plus infinity): ``(x + 2**(k-1)) >> k``. One adder.
    HALF_UP = "half_up"
    #: Up with probability equal to the dropped fraction: ``(x + r) >> k`` with ``r`` a uniform
    #: draw in ``0 .. 2**k - 1`` (from an LFSR of ``sim.lfsr``; the caller supplies the draws).
    STOCHASTIC = "stochastic"


class Overflow(enum.Enum):
    """What happens to a result outside the format's range."""

    #: Keep the low ``width`` bits (two's complement wrap).
    WRAP = "wrap"
    #: Clamp to the nearest representable value.
    SATURATE = "saturate"


#: A non-negative decimal integer in its one spelling (no sign, separator or leading zero).
_DECIMAL = re.compile(r"0|[1-9][0-9]*")

@dataclass(frozen=True)
class FixedFormat:
    """An integer format: ``width`` bits of which ``frac`` are fractional.

    Parameters
    ----------
    width : int
        Total number of bits, sign bit included, ``1 <= width <= MAX_WIDTH``.
    frac : int
        Number of fractional bits; the stored integer ``q`` means ``q * 2**-frac``.
    signed : bool
        Two's complement when true, unsigned otherwise.
    rounding : Rounding
        Rounding applied when bits are dropped into this format.
    overflow : Overflow
        Behaviour on results outside ``[min_value, max_value]``.

    Raises
    ------
    ValueError
        If ``width`` is outside ``1..MAX_WIDTH`` or a signed format has fewer than 2 bits.
    """

    width: int
    frac: int = 0
    signed: bool = True
    rounding: Rounding = Rounding.FLOOR
    overflow: Overflow = Overflow.SATURATE

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"width must be an integer in 1..{MAX_WIDTH}, not {self.width!r}")
        if self.signed and self.width < 2:
            raise ValueError(f"a signed format needs at least 2 bits, not {self.width!r}")
        if not isinstance(self.frac, int) or not 0 <= self.frac <= self.width:
            raise ValueError(f"frac must be an integer in 0..width, not {self.frac!r}")
        if not isinstance(self.rounding, Rounding):
            raise TypeError(f"rounding must be a Rounding, not {self.rounding!r}")
        if not isinstance(self.overflow, Overflow):
            raise TypeError(f"overflow must be an Overflow, not {self.overflow!r}")

    @property
    def min_value(self) -> int:
        """Smallest representable stored integer."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_value(self) -> int:
        """Largest representable stored integer."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    def contains(self, lo: int, hi: int) -> bool:
        """Return whether every integer in ``[lo, hi]`` is representable."""
        return self.min_value <= lo and hi <= self.max_value

    def __str__(self) -> str:
        sign = "s" if self.signed else "u"
        return f"{sign}{self.width}.{self.frac}:{self.rounding.value}:{self.overflow.value}"

    @classmethod
    def parse(cls, text: str) -> FixedFormat:
        """Parse the form written by ``str()``, e.g. ``"s16.0:floor:saturate"``.

        Only that spelling is accepted (``parse(t)`` then ``str()`` gives ``t`` back): ASCII
        decimal digits without sign, separators or leading zeros.

        Raises
        ------
        ValueError
            If the text is not of the form ``{s|u}<width>.<frac>:<rounding>:<overflow>``.
        """
        try:
            head, rounding, overflow = text.split(":")
            sign, rest = head[0], head[1:]
            width, frac = rest.split(".")
            if sign not in "su" or not all(_DECIMAL.fullmatch(n) for n in (width, frac)):
                raise ValueError(head)
            return cls(
                int(width),
                int(frac),
                signed=sign == "s",
                rounding=Rounding(rounding),
                overflow=Overflow(overflow),
            )
        except (ValueError, IndexError) as exc:
            raise ValueError(
                f"malformed number format {text!r}: expected '{{s|u}}<width>.<frac>:"
                f"<rounding>:<overflow>' with rounding in "
                f"{[r.value for r in Rounding]} and overflow in {[o.value for o in Overflow]}"
            ) from exc


def saturate(x: np.ndarray | int, fmt: FixedFormat) -> np.ndarray:
    """Clamp ``x`` to ``[fmt.min_value, fmt.max_value]`` (returns ``int64``)."""
    return np.clip(np.asarray(x, dtype=np.int64), fmt.min_value, fmt.max_value)


def wrap(x: np.ndarray | int, fmt: FixedFormat) -> np.ndarray:
    """Keep the low ``fmt.width`` bits of ``x`` in the format's signedness (returns ``int64``)."""
    x = np.asarray(x, dtype=np.int64)
    mask = np.int64((1 << fmt.width) - 1)
    low = x & mask
    if fmt.signed:
        low = np.where(low > fmt.max_value, low - (np.int64(1) << fmt.width), low)
    return low.astype(np.int64)


def apply_overflow(x: np.ndarray | int, fmt: FixedFormat) -> tuple[np.ndarray, int]:
    """Bring ``x`` into ``fmt`` with its overflow mode.

    Returns
    -------
    values : np.ndarray
        ``int64`` results inside the format.
    overflows : int
        How many elements were outside the range (overflow is counted, never silent).
    """
    x = np.asarray(x, dtype=np.int64)
    n_over = int(np.count_nonzero((x < fmt.min_value) | (x > fmt.max_value)))
    fn = saturate if fmt.overflow is Overflow.SATURATE else wrap
    return fn(x, fmt), n_over


def shift_right(x: np.ndarray | int, k: int) -> np.ndarray:
    """Arithmetic right shift by ``k >= 0`` bits: ``floor(x / 2**k)``.

    Examples: ``shift_right(7, 2) == 1``, ``shift_right(-7, 2) == -2``,
    ``shift_right(-1, 4) == -1``.
    """
    if k < 0:
        raise ValueError(f"shift amount must be >= 0, not {k!r}")
    return np.asarray(x, dtype=np.int64) >> np.int64(k)


def half_up_offset(k: int) -> int:
    """Return half an output LSB of a shift by ``k >= 0`` bits: ``2**(k-1)``, 0 for ``k = 0``.

    ``(x + half_up_offset(k)) >> k`` is ``Rounding.HALF_UP``; the gateware adds this constant.
    """
    if k < 0:
        raise ValueError(f"shift amount must be >= 0, not {k!r}")
    return (1 << k) >> 1


def round_shift(x: np.ndarray | int, k: int, rounding: Rounding, *,
                draws: np.ndarray | int | None = None) -> np.ndarray:
    """Divide by ``2**k`` (``k >= 0``) with the rounding of ``rounding``; the one definition.

    * ``FLOOR``: ``x >> k`` (:func:`shift_right`);
    * ``HALF_EVEN``: to nearest, ties to the even result;
    * ``HALF_UP``: ``(x + 2**(k-1)) >> k`` (:func:`half_up_offset`);
    * ``STOCHASTIC``: ``(x + draws) >> k``, ``draws`` uniform in ``0 .. 2**k - 1`` (not
      checked), broadcast against ``x``. The sum keeps the dtype of ``x`` (``int64``, or
      ``object`` for Python integers wider than 64 bits).

    Parameters
    ----------
    x : np.ndarray or int
        Integers to divide.
    k : int
        Number of dropped bits.
    rounding : Rounding
        Rounding mode.
    draws : np.ndarray or int, optional
        The random draws; required by ``STOCHASTIC`` and refused by every other mode.

    Returns
    -------
    np.ndarray
        ``int64`` quotients (``object`` if ``x`` is an ``object`` array under ``STOCHASTIC``).

    Raises
    ------
    ValueError
        If ``k < 0``, or ``draws`` is given with a deterministic mode or missing with
        ``STOCHASTIC``.
    """
    if k < 0:
        raise ValueError(f"shift amount must be >= 0, not {k!r}")
    if (rounding is Rounding.STOCHASTIC) != (draws is not None):
        raise ValueError(f"draws must be given exactly when rounding is STOCHASTIC, not "
                         f"{rounding!r} with draws={'given' if draws is not None else None}")
    if rounding is Rounding.STOCHASTIC:
        x = np.asarray(x)
        return (x + np.asarray(draws, dtype=x.dtype)) >> k
    x = np.asarray(x, dtype=np.int64)
    if rounding is Rounding.FLOOR or k == 0:
        return shift_right(x, k)
    if rounding is Rounding.HALF_UP:
        return shift_right(x + np.int64(half_up_offset(k)), k)
    if rounding is Rounding.HALF_EVEN:
        q = x >> np.int64(k)
        rem = x - (q << np.int64(k))
        half = np.int64(half_up_offset(k))
        up = (rem > half) | ((rem == half) & ((q & 1) == 1))
        return q + up.astype(np.int64)
    raise TypeError(f"rounding must be a Rounding, not {rounding!r}")


def bits_for_range(lo: int, hi: int, *, signed: bool = True) -> int:
    """Return the smallest width whose format holds every integer in ``[lo, hi]``."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if not signed:
        if lo < 0:
            raise ValueError(f"an unsigned format cannot hold {lo}")
        return max(1, int(hi).bit_length())
    width = 2
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width
