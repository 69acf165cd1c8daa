"""Rate coding of one input per cycle: ``x = pixel > r`` from the input's LFSR24 register.

The rule is :func:`spikesmith.sim.recurrent.rate_encode` for one step (the register advanced
``LFSR24.draw_bits`` steps by the XOR network of
:func:`spikesmith.hw.common.lfsr.lfsr_advance_value`, ``r`` its low byte), gated off in sleep
(``x = 0``), with the input's age updated by ``sim.stdp.age_step``
(:func:`~spikesmith.hw.recurrent.spike_age.spike_age_word`). Combinational: the core reads
the input's ``regs`` and ``pre`` words in one cycle and writes them back from these outputs
in the next.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.stdp import StdpParams

from ..common.lfsr import lfsr_advance_value
from .spike_age import spike_age_word

__all__ = ["RateEncoder"]


class RateEncoder(wiring.Component):
    """One wake step of one input: spike and register update (module docstring).

    Parameters
    ----------
    stdp : StdpParams
        ``age_bits`` (and so ``age_max``) of the input's age counter.

    Members
    -------
    reg : In(24)
        The input's ``LFSR24`` register before the step (non-zero).
    pixel : In(8)
        The input's intensity, 0..255.
    age : In(age_bits)
        Steps since the input's last spike, before this step.
    sleeping : In(1)
        A sleep step: no spike (the core then leaves the register unwritten).
    next_reg : Out(24)
        The register after ``LFSR24.draw_bits`` steps.
    spike : Out(1)
        ``x = pixel > (next_reg & 0xFF)``, 0 in sleep.
    age_word : Out(age_bits + 1)
        ``{spike, age'}`` (:func:`~spikesmith.hw.recurrent.spike_age.spike_age_word`).

    Raises
    ------
    TypeError
        If ``stdp`` is not a ``StdpParams``.
    """

    def __init__(self, stdp: StdpParams):
        if not isinstance(stdp, StdpParams):
            raise TypeError(f"stdp must be a StdpParams, not {stdp!r}")
        self._stdp = stdp
        super().__init__({
            "reg": In(LFSR24.width),
            "pixel": In(8),
            "age": In(stdp.age_bits),
            "sleeping": In(1),
            "next_reg": Out(LFSR24.width),
            "spike": Out(1),
            "age_word": Out(stdp.age_bits + 1),
        })

    @property
    def stdp(self) -> StdpParams:
        """The age counter's constants."""
        return self._stdp

    def elaborate(self, platform):
        m = Module()
        nxt = lfsr_advance_value(self.reg, LFSR24, steps=LFSR24.draw_bits)
        m.d.comb += [
            self.next_reg.eq(nxt),
            self.spike.eq(~self.sleeping & (self.pixel > nxt[:8])),
            self.age_word.eq(spike_age_word(self.spike, self.age, age_max=self._stdp.age_max,
                                            age_bits=self._stdp.age_bits)),
        ]
        return m
