"""Sleep membrane noise: ``n_uniform`` LFSR draws summed and scaled, in one cycle.

The noise equation is :func:`spikesmith.sim.sleep.noise_step`; the generator is
``sim.lfsr.LFSR24`` (taps and width come from there), advanced by the one XOR network of
:func:`spikesmith.hw.common.lfsr.lfsr_advance_value`.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikesmith.sim.fixed import Rounding, bits_for_range, half_up_offset, round_shift
from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.sleep import SleepParams

from ..common.lfsr import lfsr_advance_value

__all__ = ["NoiseUnit", "noise_range"]


def noise_range(p: SleepParams) -> tuple[int, int]:
    """Return the smallest and largest noise sample of ``p``, membrane LSBs."""
    span = 255 * p.n_uniform * abs(p.noise_gain)
    lo, hi = round_shift(np.array([-span, span]), p.noise_shift, Rounding.HALF_UP).tolist()
    return lo, hi


class NoiseUnit(wiring.Component):
    """One noise sample per register (``sim.sleep.noise_step``), combinational.

    Parameters
    ----------
    sleep : SleepParams
        ``n_uniform``, ``noise_gain``, ``noise_shift``.

    Members
    -------
    gain : In(signed(gain_bits))
        ``noise_gain`` (run-time; reset value from ``sleep``; ``|gain|`` at most the build's).
    reg : In(24)
        The neuron's ``LFSR24`` register before the step (non-zero).
    next_reg : Out(24)
        The register after ``n_uniform`` draws.
    noise : Out(signed)
        The sample ``(sum_k (2 u_k - 255) * noise_gain + 2**(noise_shift-1)) >> noise_shift``
        (``sim.fixed.Rounding.HALF_UP``), membrane LSBs (:meth:`scale` of ``total``).
    total : Out(signed)
        ``sum_k (2 u_k - 255)`` (a core may register it and :meth:`scale` it a cycle later).

    Raises
    ------
    TypeError
        If ``sleep`` is not a ``SleepParams``.
    """

    def __init__(self, sleep: SleepParams):
        if not isinstance(sleep, SleepParams):
            raise TypeError(f"sleep must be a SleepParams, not {sleep!r}")
        self._sleep = sleep
        lo, hi = noise_range(sleep)
        m = max(abs(lo), abs(hi))
        self._bits = bits_for_range(-m, m) if m else 1  # an always-zero sample: one bit
        self._gain_bits = bits_for_range(-abs(sleep.noise_gain), abs(sleep.noise_gain))
        super().__init__({
            "gain": In(signed(self._gain_bits), init=sleep.noise_gain),
            "reg": In(LFSR24.width),
            "next_reg": Out(LFSR24.width),
            "noise": Out(signed(self._bits)),
            "total": Out(signed(bits_for_range(-255 * sleep.n_uniform, 255 * sleep.n_uniform))),
        })

    @property
    def sleep(self) -> SleepParams:
        """The sleep constants."""
        return self._sleep

    @property
    def gain_bits(self) -> int:
        """Width of ``gain`` (signed), bits."""
        return self._gain_bits

    @property
    def noise_bits(self) -> int:
        """Width of ``noise`` (signed), bits."""
        return self._bits

    def scale(self, total, gain):
        """Return the sample of ``total`` (``sum_k (2 u_k - 255)``) at noise gain ``gain``.

        Parameters
        ----------
        total, gain : Value
            Signed values (widths of ``total`` and ``gain`` or narrower).

        Returns
        -------
        Value
            ``(total * gain + 2**(noise_shift-1)) >> noise_shift``, membrane LSBs (0 for
            ``total = 0``).
        """
        # one multiplier block (an iCE40 SB_MAC16 takes the 12 x 9 bits of the defaults);
        # Rounding.HALF_UP of sim.fixed, as sim.sleep.noise_step
        shift = self._sleep.noise_shift
        return (total * gain + half_up_offset(shift)) >> shift

    def elaborate(self, platform):
        p = self._sleep
        m = Module()
        total = Const(0, signed(2))
        state = self.reg
        for k in range(p.n_uniform):
            # each draw straight from the register: a flat XOR network per draw
            state = lfsr_advance_value(self.reg, LFSR24, steps=LFSR24.draw_bits * (k + 1))
            total = total + state[:8] * 2 - 255
        m.d.comb += [
            self.total.eq(total),    # |total| <= 255 n_uniform
            self.next_reg.eq(state),
            self.noise.eq(self.scale(self.total, self.gain)),
        ]
        return m


