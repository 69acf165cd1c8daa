"""Synapse pipeline of the recurrent core: one synapse per cycle of a row sweep.

A row sweep (:class:`~spikesmith.hw.recurrent.row_sweep.RowSweep`) issues synapse ``k`` of
row ``i`` with the row's spike, age and population; the core reads its ``post`` word, and this
pipeline takes it from there::

    S1  post index j arrives (the core reads weight k, and pre and acc at j)
    S2  m, j's {spike, age} and acc[j] arrive:
        drive sweep:    acc[j] + sign_i m registered; S3: out (the core writes it back)
        learning sweep: the STDP kernel word is read (STDPUnit, latency 1)
    S3  m' = STDP(m) (sim.stdp.stdp_update for one synapse) into the DecayUnit, which applies
        sim.sleep.decay_step when ``batch`` (a decay batch is due) and hands out the result
        DecayUnit.latency cycles later with the synapse's address and old magnitude

The synapse group (``sim.recurrent.SynapseGroup``) follows from the presynaptic population
and ``j >= n_exc``; its bounds ``lo``/``hi`` clip both updates. The units are reachable as
:attr:`SynapsePipeline.stdp` and :attr:`SynapsePipeline.decay` for what the core connects
beside the sweep: host table writes, the STDP polarity, the decay register and the decay
unit's multipliers lent to the neuron pass.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from spikesmith.sim.recurrent import SynapseGroup

from .decay_unit import DecayUnit
from .recurrent_config import CorePart, RecurrentCoreConfig
from .stdp_unit import STDPUnit

__all__ = ["SynapsePipeline"]


class SynapsePipeline(CorePart):
    """Drive accumulation and learning update of one synapse per cycle (module docstring).

    Parameters
    ----------
    config : RecurrentCoreConfig
        Sizes, widths, STDP and sleep constants, group bounds and targets, the decay seed.

    Members
    -------
    valid : In(1)
        S1: synapse ``k`` enters.
    k : In(range(n_syn + 1))
        Its address (CSR order).
    pre_spike : In(1)
        ``p_i`` of its row (this step's input spike, or the neuron's spike of the last step).
    pop : In(2)
        Its row's population: 0 input, 1 excitatory, 2 inhibitory.
    pre_age : In(age_bits)
        ``c_i`` of its row after this step's age update.
    post : In(post_bits)
        S1: ``j``, its ``post`` word.
    m : In(weight_bits)
        S2: its magnitude.
    post_spike : In(1)
    post_age : In(age_bits)
        S2: ``q_j`` and ``c_j`` (the ``pre`` word of neuron ``j``).
    acc : In(signed(widths["d"]))
        S2: ``acc[j]``.
    learn : In(1)
        The sweep is the learning sweep (else the drive sweep; held during a sweep).
    batch : In(1)
        The decay applies (a decay batch is due; held during a sweep).
    lo, hi : In(ArrayLayout(weight_bits, 5))
        Bounds of every synapse group (enum order).
    acc_valid : Out(1)
        S3 of the drive sweep: write ``acc_next`` to ``acc[acc_j]``. The write lands before
        any later read of ``acc[acc_j]``: posts differ within a row, the next row's first read
        is at least one cycle after it, and the neuron pass starts reading two cycles after
        the sweep has drained (``busy`` low, which does not wait for this write).
    acc_j : Out(post_bits)
    acc_next : Out(signed(widths["d"]))
        ``acc[j] + sign_i m`` (``sign_i = -1`` for inhibitory rows).
    o_valid : Out(1)
        A learned synapse leaves: write ``o_m`` to ``weights[o_k]``.
    o_k : Out(tag_bits)
    o_m, o_old : Out(weight_bits)
        Its new and old magnitudes.
    o_group : Out(range(5))
        Its group.
    busy : Out(1)
        A synapse is in S2 or later.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        sp, wb, kb = config.net.stdp, config.weight_bits, config.tag_bits
        self._stdp = STDPUnit(sp, weight_bits=wb, latency=1)
        self._decay = DecayUnit(
            config.net.sleep, weight_bits=wb, targets=[s.target for s in config.group_specs()],
            seed=int(config.state.decay_reg), tag_bits=kb + wb,
            lent_bits=(config.widths["y"], config.gain_bits))
        bounds = data.ArrayLayout(unsigned(wb), len(SynapseGroup))
        d = signed(config.widths["d"])
        return {
            "valid": In(1), "k": In(range(config.n_syn + 1)), "pre_spike": In(1),
            "pop": In(2), "pre_age": In(sp.age_bits), "post": In(config.post_bits),
            "m": In(wb), "post_spike": In(1), "post_age": In(sp.age_bits), "acc": In(d),
            "learn": In(1), "batch": In(1), "lo": In(bounds), "hi": In(bounds),
            "acc_valid": Out(1), "acc_j": Out(config.post_bits), "acc_next": Out(d),
            "o_valid": Out(1), "o_k": Out(kb), "o_m": Out(wb), "o_old": Out(wb),
            "o_group": Out(range(len(SynapseGroup))),
            "busy": Out(1),
        }

    @property
    def stdp(self) -> STDPUnit:
        """The STDP unit (kernel tables and polarity: ``wr_*``, ``reversed``)."""
        return self._stdp

    @property
    def decay(self) -> DecayUnit:
        """The decay unit (tables ``wr_*``, register ``reg``/``set_*``, lent ``x * g``)."""
        return self._decay

    def elaborate(self, platform):
        cfg = self._config
        n_exc, wb, kb = cfg.net.neuron.n_exc, cfg.weight_bits, cfg.tag_bits
        ab_age = cfg.net.stdp.age_bits
        m = Module()
        m.submodules.stdp = stdp = self._stdp
        m.submodules.decay = decay = self._decay

        # --- S1 -> S2 (the weight is not registered: it arrives at S2 as it is used) ----------
        s2_valid, s2_k = Signal(), Signal.like(self.k)
        s2_j = Signal.like(self.post)
        s2_p, s2_pop, s2_age = Signal(), Signal(2), Signal(ab_age)
        m.d.sync += [s2_valid.eq(self.valid), s2_k.eq(self.k), s2_j.eq(self.post),
                     s2_p.eq(self.pre_spike), s2_pop.eq(self.pop), s2_age.eq(self.pre_age)]
        s2_m = self.m

        # --- S2 drive: acc[j] += sign_i m ----------------------------------------------------
        # registered: the write of acc[j] leaves S3 (the next read of that j is a row later)
        signed_m = Mux(s2_pop == 2, -s2_m, s2_m)
        m.d.sync += [self.acc_valid.eq(s2_valid & ~self.learn), self.acc_j.eq(s2_j),
                     self.acc_next.eq(self.acc + signed_m)]
        # --- S2 learn: kernel word read (STDPUnit, latency 1); S3: STDP, into the decay unit ---
        post_inh = s2_j >= n_exc
        m.d.comb += [stdp.pre_spike.eq(s2_p), stdp.post_spike.eq(self.post_spike),
                     stdp.pre_age.eq(s2_age), stdp.post_age.eq(self.post_age)]
        s3_valid, s3_k, s3_m, s3_group = Signal(), Signal(kb), Signal(wb), Signal(3)
        m.d.sync += [s3_valid.eq(s2_valid & self.learn), s3_k.eq(s2_k), s3_m.eq(s2_m),
                     s3_group.eq(Mux(s2_pop == 0, 0,
                                     Mux(s2_pop == 1, 1 + post_inh, 3 + post_inh)))]
        lo, hi = Signal(wb), Signal(wb)
        with m.Switch(s3_group):
            for gi in range(len(SynapseGroup)):
                with m.Case(gi):
                    m.d.comb += [lo.eq(self.lo[gi]), hi.eq(self.hi[gi])]
        m.d.comb += [
            stdp.m.eq(s3_m), stdp.lo.eq(lo), stdp.hi.eq(hi),
            decay.lo.eq(self.lo), decay.hi.eq(self.hi),
            decay.i_valid.eq(s3_valid), decay.i_en.eq(self.batch), decay.i_m.eq(stdp.m_next),
            decay.i_target.eq(s3_group), decay.i_tag.eq(Cat(s3_k, s3_m)),
        ]
        # --- write-back -----------------------------------------------------------------------
        m.d.comb += [self.o_valid.eq(decay.o_valid), self.o_k.eq(decay.o_tag[:kb]),
                     self.o_m.eq(decay.o_m), self.o_old.eq(decay.o_tag[kb:]),
                     self.o_group.eq(decay.o_target),
                     self.busy.eq(s2_valid | s3_valid | decay.busy)]
        return m
