"""The one mismatch record and comparison outcome that every core's verification reports.

A comparison (:mod:`spikesmith.verification.lif`, :mod:`~spikesmith.verification.ncg`,
:mod:`~spikesmith.verification.recurrent`) runs the golden model and the core's Verilator
harness, compares their values by ``==`` and feeds every difference to a :class:`Tally`. The
tally counts the differing values and keeps the first :class:`Mismatch` in the comparison's own
order (time first), which the :class:`Comparison` it returns carries and renders as text, e.g.
``"sample 3, timestep 2, layer 1 (fc1), neuron 4: membrane expected 17, actual 16"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "Mismatch", "Tally", "tally_layer"]

#: A value as a mismatch states it: an integer, a tuple of integers, or a short text.
Value = int | tuple | str


@dataclass(frozen=True)
class Mismatch:
    """One differing value (or a differing count of values).

    Parameters
    ----------
    where : tuple[tuple[str, int | str], ...]
        Coordinates of the value, outermost first, each a name and a position: for example
        ``(("sample", 3), ("timestep", 2), ("layer", "1 (fc1)"), ("neuron", 4))``; empty for
        a count of the whole run (e.g. of records).
    quantity : str
        What differs (``"membrane"``, ``"weight"``, ``"readback records"``); may be empty when
        the innermost coordinate already names it.
    expected, actual : int, tuple or str
        The golden model's value and the core's.
    note : str
        Text appended after the actual value (e.g. a record's own index).
    """

    where: tuple[tuple[str, int | str], ...]
    quantity: str
    expected: Value
    actual: Value
    note: str = ""

    def position(self, name: str) -> int | str | None:
        """Return the position of coordinate ``name`` (e.g. ``"sample"``), or ``None``."""
        for key, pos in self.where:
            if key == name:
                return pos
        return None

    def __str__(self) -> str:
        place = ", ".join(f"{key} {pos}" for key, pos in self.where)
        what = f"{self.quantity} " if self.quantity else ""
        text = f"{what}expected {self.expected}, actual {self.actual}{self.note}"
        return f"{place}: {text}" if place else text


class Tally:
    """Counts differing values and keeps the first mismatch by an order key.

    Mismatches added with equal keys keep the one added first, so a comparison that walks its
    values in time order may leave the key out.
    """

    def __init__(self) -> None:
        self._count = 0
        self._first: tuple[tuple, Mismatch] | None = None

    def add(self, mismatch: Mismatch, *, count: int = 1, key: tuple = ()) -> None:
        """Record ``count`` differing values whose first (by ``key``) is ``mismatch``."""
        if count <= 0:
            return
        self._count += count
        if self._first is None or key < self._first[0]:
            self._first = (key, mismatch)

    @property
    def count(self) -> int:
        """Differing values recorded so far."""
        return self._count

    @property
    def first(self) -> Mismatch | None:
        """The first mismatch by key, or ``None`` when nothing differed."""
        return None if self._first is None else self._first[1]


@dataclass(frozen=True, eq=False)
class Comparison:
    """Outcome of comparing a core with its golden model.

    Per-core reports extend it with their measurements.

    Attributes
    ----------
    mismatches : int
        Number of differing values; 0 means bit-exact.
    first : Mismatch or None
        The first difference in the comparison's order, or ``None``.
    """

    mismatches: int
    first: Mismatch | None

    @classmethod
    def of(cls, tally: Tally, **fields) -> Comparison:
        """Return the comparison (of this class, with ``fields``) that ``tally`` holds."""
        return cls(mismatches=tally.count, first=tally.first, **fields)

    @property
    def ok(self) -> bool:
        """Whether the core matched the golden model everywhere."""
        return self.mismatches == 0

    @property
    def first_mismatch(self) -> str | None:
        """The first difference as text (sample, timestep, unit, expected, actual), or ``None``."""
        return None if self.first is None else str(self.first)


def tally_layer(tally: Tally, got: np.ndarray, expected: np.ndarray, *, quantity: str,
                layer: int, name: str) -> None:
    """Add the differences of one layer's ``(T, batch, n)`` values to ``tally``.

    Every differing value is counted; the first is taken in the order sample, timestep, layer,
    neuron and named ``sample b, timestep t, layer <layer> (<name>), neuron n``.
    """
    diff = np.argwhere(np.asarray(got) != np.asarray(expected))
    if not len(diff):
        return
    t, b, n = diff[np.lexsort((diff[:, 2], diff[:, 0], diff[:, 1]))[0]]
    tally.add(Mismatch(where=(("sample", int(b)), ("timestep", int(t)),
                              ("layer", f"{layer} ({name})"), ("neuron", int(n))),
                       quantity=quantity, expected=int(expected[t, b, n]),
                       actual=int(got[t, b, n])),
              count=len(diff), key=(int(b), int(t), layer, int(n)))
