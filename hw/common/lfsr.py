"""The one hardware LFSR advance: ``steps`` Galois steps as a flat XOR network, in one cycle.

The register and its steps are those of :mod:`spikesmith.sim.lfsr`; the advance is linear over
GF(2), so output bit ``b`` is the XOR of the input bits ``i`` whose column of
:func:`spikesmith.sim.lfsr.jump_columns` has bit ``b`` set. Every core that draws random bits
(rate coding, stochastic rounding, sleep noise, NCG lanes) builds its transition here.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Value

from spikesmith.sim.lfsr import LfsrSpec, jump_columns

__all__ = ["lfsr_advance_value"]


def lfsr_advance_value(value: Value, spec: LfsrSpec, *, steps: int) -> Value:
    """Return the state of the Galois LFSR ``spec`` after ``steps`` steps from ``value``.

    Parameters
    ----------
    value : Value
        The register, ``spec.width`` bits (wider values are read at their low bits).
    spec : LfsrSpec
        Width and taps of the register.
    steps : int
        Non-negative number of single-bit steps (one draw is ``spec.draw_bits`` steps).

    Returns
    -------
    Value
        ``spec.width`` bits, combinational.
    """
    if not isinstance(spec, LfsrSpec):
        raise TypeError(f"spec must be a LfsrSpec, not {spec!r}")
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, not {steps!r}")
    columns = [int(c) for c in jump_columns(spec, steps)]
    value = Value.cast(value)
    bits = []
    for b in range(spec.width):
        sources = [value[i] for i in range(spec.width) if (columns[i] >> b) & 1]
        bits.append(Cat(*sources).xor() if sources else Const(0, 1))
    return Cat(*bits)
