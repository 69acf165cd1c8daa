"""Row sweep of the recurrent core: which synapses a drive or learning sweep visits, in CSR
order, one per cycle.

Every presynaptic neuron ``i`` (inputs, then excitatory, then inhibitory neurons) owns the
synapses ``row_end[i - 1] .. row_end[i] - 1`` (``row_end`` in its ``pre`` word, above its
``{spike, age}``). Per row::

    phase 0   address the row's pre word
    phase 1   decide: visit the row if its neuron spiked (drive sweep), or if it spiked,
              some neuron spiked this step or a decay batch is due (learning sweep); else
              skip to the next row
    phase 2   issue synapse k (one per cycle) with the row's spike, age and population,
              reading its post word; after the row's last, the next row
    phase 3   (after the last row) done: the core waits for the pipelines to drain

so a sweep takes 2 cycles per row plus 1 per synapse of a visited row (``sim.recurrent_net``
stage order: ``sim.recurrent.synaptic_drive`` over the spiking rows; ``sim.stdp.stdp_update``
and ``sim.sleep.decay_step`` over the rows they touch).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib.wiring import In, Out

from .recurrent_config import CorePart, RecurrentCoreConfig

__all__ = ["RowSweep"]


class RowSweep(CorePart):
    """Row-by-row synapse issue for the drive and learning sweeps (module docstring).

    Parameters
    ----------
    config : RecurrentCoreConfig
        Population sizes, synapse count, ``age_bits``.

    Members
    -------
    start : In(1)
        Start a sweep at row 0 (takes effect in the next cycle).
    start_learn : In(1)
        With ``start``: a learning sweep (else a drive sweep).
    run : In(1)
        Advance the sweep this cycle (the core's sweep phase).
    word : In(age_bits + 1 + tag_bits)
        The ``pre`` word ``{row_end, spike, age}`` of row ``row``, one cycle after ``row``.
    any_spike : In(1)
        Some neuron spiked in this step (learning sweep: every row is visited).
    batch : In(1)
        A decay batch is due (learning sweep: every row is visited).
    row : Out(range(max(2, n_pre)))
        The row whose ``pre`` word to read.
    post_addr : Out(range(n_syn + 1))
        Synapse whose ``post`` word to read (0 unless issuing).
    learn : Out(1)
        The current sweep is a learning sweep.
    done : Out(1)
        Every row has been issued.
    valid : Out(1)
        A synapse was issued in the last cycle (its ``post`` word is on the read port):
    k : Out(range(n_syn + 1))
        its address,
    pre_spike : Out(1)
        its row's spike,
    pop : Out(2)
        its row's population (0 input, 1 excitatory, 2 inhibitory),
    pre_age : Out(age_bits)
        its row's age.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        p, ab, kb = config.net.neuron, config.net.stdp.age_bits, config.tag_bits
        syn = range(config.n_syn + 1)
        return {
            "start": In(1), "start_learn": In(1), "run": In(1),
            "word": In(ab + 1 + kb), "any_spike": In(1), "batch": In(1),
            "row": Out(range(max(2, p.n_pre))), "post_addr": Out(syn),
            "learn": Out(1), "done": Out(1),
            "valid": Out(1), "k": Out(syn), "pre_spike": Out(1), "pop": Out(2),
            "pre_age": Out(ab),
        }

    def elaborate(self, platform):
        cfg = self._config
        p, ab_age = cfg.net.neuron, cfg.net.stdp.age_bits
        n_in, n_pre, pb = p.n_input, p.n_pre, ab_age + 1
        m = Module()
        row_i, k = self.row, Signal.like(self.k)
        rphase = Signal(2)        # 0 address row, 1 decide, 2 issue synapses, 3 drain
        row_p, row_pop = Signal(), Signal(2)
        row_age = Signal(ab_age)
        row_last = Signal(cfg.tag_bits)
        m.d.comb += self.done.eq(rphase == 3)
        m.d.sync += self.valid.eq(0)
        with m.If(self.run), m.Switch(rphase):
            with m.Case(0):
                m.d.sync += rphase.eq(1)
            with m.Case(1):
                spk = self.word[ab_age]
                end = self.word[pb:]
                visit = Mux(self.learn, spk | self.any_spike | self.batch, spk)
                pop = Mux(row_i < n_in, 0, Mux(row_i < n_in + p.n_exc, 1, 2))
                m.d.sync += [row_p.eq(spk), row_age.eq(self.word[:ab_age]),
                             row_pop.eq(pop), row_last.eq(end - 1)]
                with m.If(visit & (k != end)):
                    m.d.sync += rphase.eq(2)
                with m.Else():
                    m.d.sync += k.eq(end)
                    with m.If(row_i == n_pre - 1):
                        m.d.sync += rphase.eq(3)
                    with m.Else():
                        m.d.sync += [row_i.eq(row_i + 1), rphase.eq(0)]
            with m.Case(2):
                m.d.comb += self.post_addr.eq(k)
                m.d.sync += [self.valid.eq(1), self.k.eq(k), self.pre_spike.eq(row_p),
                             self.pop.eq(row_pop), self.pre_age.eq(row_age), k.eq(k + 1)]
                with m.If(k == row_last):
                    with m.If(row_i == n_pre - 1):
                        m.d.sync += rphase.eq(3)
                    with m.Else():
                        m.d.sync += [row_i.eq(row_i + 1), rphase.eq(0)]
        with m.If(self.start):      # never with run (the core's phases exclude each other)
            m.d.sync += [row_i.eq(0), k.eq(0), rphase.eq(0), self.learn.eq(self.start_learn)]
        return m
