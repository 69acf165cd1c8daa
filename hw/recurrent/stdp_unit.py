"""Pair-based STDP update of one synapse from spike-age counters and kernel look-up tables.

The rule is :func:`spikesmith.sim.stdp.stdp_update` (tables :func:`~spikesmith.sim.stdp.
kernel_luts`, polarity :class:`~spikesmith.sim.stdp.StdpPolarity`); this unit is one synapse of
it, so a time-multiplexed core applies it at one synapse per cycle. The kernel tables and the
polarity are run-time state: the build's values are the reset contents, and the host rewrites
them through ``wr_*`` and ``reversed`` (:mod:`spikesmith.hw.recurrent.recurrent_params`).

One table read per synapse. The ages are those after this step's ``age_step``, so a spike
means age 0 on its side, and one address serves both tables: ``c_j`` when the presynaptic
neuron spiked, else ``c_i``. With ``CAUSAL``, ``q_j`` alone needs ``K+[c_i]``, ``p_i`` alone
``K-[c_j]``, both ``K+[0]`` and ``K-[0]``; with ``AUTHORS_REVERSED``, ``p_i`` alone needs
``K+[c_j]``, ``q_j`` alone ``K-[c_i]``, both again entry 0. The two tables are therefore one
memory of words ``{K+[c], K-[c]}``, read combinationally (``latency=0``) or, with
``latency=1``, synchronously (block RAM: the read costs no logic) one cycle before the
update.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.stdp import StdpParams, StdpPolarity, kernel_luts

from ..common.mem import NO_RW_CHECK

__all__ = ["STDPUnit"]


class STDPUnit(wiring.Component):
    """``m <- clip(m + dm, lo, hi)`` for one synapse (``sim.stdp`` module docstring).

    Parameters
    ----------
    stdp : StdpParams
        Kernel constants (tabulated host-side by ``sim.stdp.kernel_luts``) and polarity.
    weight_bits : int
        Width of a magnitude, bits.
    latency : int
        0: ``m_next`` is combinational from all inputs. 1: the table read is synchronous;
        ``pre_spike``, ``post_spike``, ``pre_age``, ``post_age`` and ``reversed`` are taken one
        cycle before ``m``, ``lo`` and ``hi``, and ``m_next`` is combinational from those and
        the registered table word.

    Members
    -------
    reversed : In(1)
        Polarity: 0 ``CAUSAL``, 1 ``AUTHORS_REVERSED`` (reset value: ``stdp.polarity``).
    wr_en : In(1)
        Write ``wr_data`` into entry ``wr_addr`` of table ``K-`` (``wr_minus``) or ``K+`` (one
        half of a table word).
    wr_minus : In(1)
    wr_addr : In(age_bits)
    wr_data : In(kernel_bits)
    m : In(weight_bits)
        Magnitude before the update, weight LSBs.
    pre_spike, post_spike : In(1)
        ``p_i`` and ``q_j`` of this step.
    pre_age, post_age : In(age_bits)
        ``c_i`` and ``c_j`` after this step's age update (so 0 on a spiking side).
    lo, hi : In(weight_bits)
        Magnitude bounds of the synapse.
    m_next : Out(weight_bits)
        Magnitude after the update.

    Raises
    ------
    TypeError
        If ``stdp`` is not a ``StdpParams``.
    ValueError
        If ``weight_bits`` is not in 1..48, the kernels do not fit it or ``latency`` is not 0
        or 1.
    """

    def __init__(self, stdp: StdpParams, *, weight_bits: int, latency: int = 0):
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
        if latency not in (0, 1):
            raise ValueError(f"latency must be 0 or 1, not {latency!r}")
        self._wb, self._latency = weight_bits, latency
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
    def latency(self) -> int:
        """Cycles from the spikes and ages to ``m_next`` (0 or 1)."""
        return self._latency

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
        kb = self._k_bits
        # written by the host between sweeps only (no collision that matters)
        m.submodules.table = table = Memory(
            shape=unsigned(2 * kb), depth=len(self._ltp), attrs=NO_RW_CHECK,
            init=[plus | (minus << kb) for plus, minus in zip(self._ltp, self._ltd, strict=True)])
        wr = table.write_port(granularity=kb)
        m.d.comb += [wr.addr.eq(self.wr_addr), wr.data.eq(Cat(self.wr_data, self.wr_data)),
                     wr.en.eq(Cat(self.wr_en & ~self.wr_minus, self.wr_en & self.wr_minus))]
        rd = table.read_port(domain="comb" if self._latency == 0 else "sync")
        m.d.comb += rd.addr.eq(Mux(self.pre_spike, self.post_age, self.pre_age))
        rev, p, q = self.reversed, self.pre_spike, self.post_spike
        if self._latency:
            rev, p, q = Signal(), Signal(), Signal()
            m.d.sync += [rev.eq(self.reversed), p.eq(self.pre_spike), q.eq(self.post_spike)]
        plus, minus = rd.data[:kb], rd.data[kb:]
        # CAUSAL: dm = q_j K+[c_i] - p_i K-[c_j];  AUTHORS_REVERSED: dm = p_i K+[c_j] - q_j K-[c_i]
        gain = Mux(Mux(rev, p, q), plus, 0)
        loss = Mux(Mux(rev, q, p), minus, 0)
        total = Signal(signed(self._wb + 3))
        m.d.comb += [
            total.eq(self.m + gain - loss),
            self.m_next.eq(Mux(total > self.hi, self.hi, Mux(total < self.lo, self.lo, total))),
        ]
        return m
