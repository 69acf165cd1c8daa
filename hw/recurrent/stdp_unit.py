"""Pair-based STDP update of one synapse from spike-age counters and kernel look-up tables.

The rule is :func:`spikeforge.sim.stdp.stdp_update` (tables :func:`~spikeforge.sim.stdp.
kernel_luts`, polarity :class:`~spikeforge.sim.stdp.StdpPolarity`); this unit is one synapse of
it, combinational, so a time-multiplexed core applies it at one synapse per cycle. The kernel
tables and the polarity are run-time state: the build's values are the reset contents, and the
host rewrites them through ``wr_*`` and ``reversed``
(:mod:`spikeforge.hw.recurrent.recurrent_params`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.sim.stdp import StdpParams, StdpPolarity, kernel_luts

__all__ = ["STDPUnit"]


class STDPUnit(wiring.Component):
    """``m <- clip(m + dm, lo, hi)`` for one synapse (``sim.stdp`` module docstring).

    Parameters
    ----------
    stdp : StdpParams
        Kernel constants (tabulated host-side by ``sim.stdp.kernel_luts``) and polarity.
    weight_bits : int
        Width of a magnitude, bits.

    Members
    -------
    reversed : In(1)
        Polarity: 0 ``CAUSAL``, 1 ``AUTHORS_REVERSED`` (reset value: ``stdp.polarity``).
    wr_en : In(1)
        Write ``wr_data`` into entry ``wr_addr`` of table ``K-`` (``wr_minus``) or ``K+``.
    wr_minus : In(1)
    wr_addr : In(age_bits)
    wr_data : In(kernel_bits)
    m : In(weight_bits)
        Magnitude before the update, weight LSBs.
    pre_spike, post_spike : In(1)
        ``p_i`` and ``q_j`` of this step.
    pre_age, post_age : In(age_bits)
        ``c_i`` and ``c_j`` after this step's age update.
    lo, hi : In(weight_bits)
        Magnitude bounds of the synapse.
    m_next : Out(weight_bits)
        Magnitude after the update.

    Raises
    ------
    TypeError
        If ``stdp`` is not a ``StdpParams``.
    ValueError
        If ``weight_bits`` is not in 1..48 or the kernels do not fit it.
    """

    def __init__(self, stdp: StdpParams, *, weight_bits: int):
        if not isinstance(stdp, StdpParams):
            raise TypeError(f"stdp must be a StdpParams, not {stdp!r}")
        if not isinstance(weight_bits, int) or not 1 <= weight_bits <= 48:
            raise ValueError(f"weight_bits must be an integer in 1..48, not {weight_bits!r}")
        self._stdp = stdp
        self._ltp, self._ltd = (tuple(int(v) for v in t) for t in kernel_luts(stdp))
        self._k_bits = max(1, max(self._ltp + self._ltd).bit_length())
        if self._k_bits > weight_bits + 1:
            raise ValueError(
                f"weight_bits must hold the kernels ({self._k_bits} bits), not {weight_bits!r}")
        self._wb = weight_bits
        reversed_ = int(stdp.polarity is StdpPolarity.AUTHORS_REVERSED)
        super().__init__({
            "reversed": In(1, init=reversed_),
            "wr_en": In(1),
            "wr_minus": In(1),
            "wr_addr": In(stdp.age_bits),
            "wr_data": In(self._k_bits),
            "m": In(weight_bits),
            "pre_spike": In(1),
            "post_spike": In(1),
            "pre_age": In(stdp.age_bits),
            "post_age": In(stdp.age_bits),
            "lo": In(weight_bits),
            "hi": In(weight_bits),
            "m_next": Out(weight_bits),
        })

    @property
    def stdp(self) -> StdpParams:
        """The STDP constants."""
        return self._stdp

    @property
    def kernel_bits(self) -> int:
        """Width of a kernel table entry, bits (sized by the build's tables)."""
        return self._k_bits

    @property
    def kernels(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The tables ``(K+, K-)`` held by the unit, weight LSBs."""
        return self._ltp, self._ltd

    def elaborate(self, platform):
        m = Module()
        depth = len(self._ltp)
        m.submodules.ltp = ltp = Memory(shape=unsigned(self._k_bits), depth=depth,
                                        init=self._ltp)
        m.submodules.ltd = ltd = Memory(shape=unsigned(self._k_bits), depth=depth,
                                        init=self._ltd)
        plus, minus = ltp.read_port(domain="comb"), ltd.read_port(domain="comb")
        for table, sel in ((ltp, 0), (ltd, 1)):
            port = table.write_port()
            m.d.comb += [port.addr.eq(self.wr_addr), port.data.eq(self.wr_data),
                         port.en.eq(self.wr_en & (self.wr_minus == sel))]
        rev = self.reversed
        # CAUSAL: dm = q_j K+[c_i] - p_i K-[c_j];  AUTHORS_REVERSED: dm = p_i K+[c_j] - q_j K-[c_i]
        m.d.comb += [plus.addr.eq(Mux(rev, self.post_age, self.pre_age)),
                     minus.addr.eq(Mux(rev, self.pre_age, self.post_age))]
        gain = Mux(Mux(rev, self.pre_spike, self.post_spike), plus.data, 0)
        loss = Mux(Mux(rev, self.post_spike, self.pre_spike), minus.data, 0)
        total = Signal(signed(self._wb + 3))
        m.d.comb += [
            total.eq(self.m + gain - loss),
            self.m_next.eq(Mux(total > self.hi, self.hi, Mux(total < self.lo, self.lo, total))),
        ]
        return m
