"""hw.common.arith.lut_multiply: the exact product, any signedness, no multiplier cell."""

from __future__ import annotations

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from spikeforge.hw.common.arith import lut_multiply


@settings(max_examples=25, deadline=None)
@given(wa=st.integers(1, 20), wb=st.integers(1, 9), sa=st.booleans(), sb=st.booleans(),
       data=st.data())
def test_lut_multiply_equals_the_product(wa, wb, sa, sb, data):
    a = Signal(signed(wa) if sa else unsigned(wa))
    b = Signal(signed(wb) if sb else unsigned(wb))
    y = lut_multiply(a, b)
    assert y.shape() == (a * b).shape()
    lo_a, hi_a = (-(1 << (wa - 1)), (1 << (wa - 1)) - 1) if sa else (0, (1 << wa) - 1)
    lo_b, hi_b = (-(1 << (wb - 1)), (1 << (wb - 1)) - 1) if sb else (0, (1 << wb) - 1)
    pairs = [(lo_a, lo_b), (hi_a, hi_b), (lo_a, hi_b), (hi_a, lo_b)] + [
        (data.draw(st.integers(lo_a, hi_a)), data.draw(st.integers(lo_b, hi_b)))
        for _ in range(12)]
    m = Module()
    out = Signal(y.shape())
    m.d.comb += out.eq(y)
    got = []

    async def bench(ctx):
        for va, vb in pairs:
            ctx.set(a, va)
            ctx.set(b, vb)
            got.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == [va * vb for va, vb in pairs]


def test_lut_multiply_has_no_multiplier_cell_and_rejects_empty_operands():
    a, b = Signal(signed(12)), Signal(signed(6))
    m = Module()
    out = Signal(signed(18))
    m.d.comb += out.eq(lut_multiply(a, b))
    assert "$mul" not in rtlil.convert(m, ports=[a, b, out])
    with pytest.raises(ValueError, match="b must have at least one bit"):
        lut_multiply(a, Signal(0))
