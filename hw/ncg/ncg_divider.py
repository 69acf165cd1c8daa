"""Sequential signed floor divider used by the NCG core (one quotient bit per cycle).

The NCG contract (:func:`spikesmith.sim.ncg_learning.s2stdp_errors` for the mean firing time
and :func:`spikesmith.sim.ncg_learning.update_rows` for the additive normalisation) divides with
Python's floor division ``//`` by a positive divisor. This block computes exactly that with a
restoring divider on the magnitude, then corrects toward minus infinity for negative
dividends: ``q = -(|n| // d) - (|n| % d != 0)``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["FloorDivider"]


class FloorDivider(wiring.Component):
    """``quotient = dividend // divisor`` (floor) for a signed dividend and positive divisor.

    Parameters
    ----------
    dividend_bits : int
        Width of the signed dividend (and of the quotient).
    divisor_bits : int
        Width of the unsigned divisor.

    Members
    -------
    start : In(1)
        Pulse with the operands valid to start a division (ignored while busy).
    dividend : In(signed(dividend_bits))
    divisor : In(unsigned(divisor_bits))
        Must be non-zero.
    busy : Out(1)
        High from the cycle after ``start`` until ``quotient`` is valid
        (``dividend_bits + 1`` cycles).
    quotient : Out(signed(dividend_bits))
        Valid while ``busy`` is low after a division; held until the next ``start``.

    Raises
    ------
    ValueError
        If a width is not a positive integer.
    """

    def __init__(self, *, dividend_bits: int, divisor_bits: int) -> None:
        for name, v in (("dividend_bits", dividend_bits), ("divisor_bits", divisor_bits)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self._nb, self._db = dividend_bits, divisor_bits
        super().__init__({
            "start": In(1),
            "dividend": In(signed(dividend_bits)),
            "divisor": In(unsigned(divisor_bits)),
            "busy": Out(1),
            "quotient": Out(signed(dividend_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        nb, db = self._nb, self._db
        q = Signal(nb)
        rem = Signal(db + 1)
        div = Signal(db)
        neg = Signal()
        count = Signal(range(nb + 1))
        shifted = Cat(q[nb - 1], rem)
        take = shifted >= div
        with m.If(self.busy):
            m.d.sync += [
                q.eq(Cat(take, q[:nb - 1])),
                rem.eq(Mux(take, shifted - div, shifted)),
                count.eq(count - 1),
            ]
            with m.If(count == 1):
                m.d.sync += self.busy.eq(0)
        with m.Elif(self.start):
            mag = Mux(self.dividend < 0, -self.dividend, self.dividend)
            m.d.sync += [q.eq(mag), rem.eq(0), div.eq(self.divisor), neg.eq(self.dividend < 0),
                         count.eq(nb), self.busy.eq(1)]
        m.d.comb += self.quotient.eq(Mux(neg, -q - (rem != 0), q))
        return m
