"""Population-count tests on a few bits as LUT trees (no carry chain), shared by the cores'
spike serialisers."""

from __future__ import annotations

from amaranth.hdl import C, Cat

__all__ = ["at_most_one", "at_most_two", "none_set"]


def none_set(bits: list) -> object:
    """Return 1 when none of ``bits`` is set."""
    return ~Cat(*bits).any()


def at_most_one(bits: list) -> object:
    """Return 1 when at most one of ``bits`` is set (a LUT tree, no carry chain)."""
    if len(bits) == 1:
        return C(1, 1)
    a, b = bits[:len(bits) // 2], bits[len(bits) // 2:]
    return (at_most_one(a) & none_set(b)) | (none_set(a) & at_most_one(b))


def at_most_two(bits: list) -> object:
    """Return 1 when at most two of ``bits`` are set (a LUT tree, no carry chain)."""
    if len(bits) <= 2:
        return C(1, 1)
    a, b = bits[:len(bits) // 2], bits[len(bits) // 2:]
    return ((at_most_two(a) & none_set(b)) | (none_set(a) & at_most_two(b))
            | (at_most_one(a) & at_most_one(b)))
