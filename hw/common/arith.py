"""Arithmetic building blocks shared by the cores.

:func:`lut_multiply` is an exact product built from shifted partial products and an adder tree,
with no ``$mul`` cell, so synthesis keeps it in logic. An iCE40 UP5K has eight 16×16
``SB_MAC16`` blocks; a core whose multipliers need all of them (the recurrent core's decay
unit and noise gain) maps its narrow run-time gain (a 6-bit ``g``) this way.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Value

__all__ = ["lut_multiply"]


def lut_multiply(a: Value, b: Value) -> Value:
    """Return ``a * b`` (exact, Amaranth's full-width product) without a multiplier cell.

    Parameters
    ----------
    a : Value
        Any operand, signed or unsigned.
    b : Value
        The narrow operand: one partial product per bit of ``b`` (for a signed ``b`` the top
        bit weighs ``-2**(len(b) - 1)``).

    Returns
    -------
    Value
        The product, signed if either operand is (width as for ``a * b``).

    Raises
    ------
    ValueError
        If ``b`` has no bits.
    """
    a, b = Value.cast(a), Value.cast(b)
    n = len(b)
    if n == 0:
        raise ValueError("b must have at least one bit")
    signed_b = b.shape().signed
    terms = []
    for k in range(n):
        term = a << k
        if signed_b and k == n - 1:
            term = -term
        terms.append(Mux(b[k], term, 0))
    while len(terms) > 1:    # balanced adder tree
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    shape = (a * b).shape()
    total = terms[0][:shape.width]
    return total.as_signed() if shape.signed else total
