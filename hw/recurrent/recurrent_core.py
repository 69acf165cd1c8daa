"""Recurrent excitatory/inhibitory LIF population with pair-based STDP and a sleep mode.

The golden model is ``sim.recurrent_net`` (stage order of one step), with the neuron equations
in ``sim.recurrent``, the STDP rule in ``sim.stdp`` and noise, decay and stop in ``sim.sleep``;
this core is proven equal to them by ``tests/hw/test_recurrent_core_sim.py`` (Amaranth
simulator) and ``tests/rtl/recurrent_core`` (cocotb + Verilator).

Storage (``S`` existing synapses in ascending row-major ``(pre, post)`` order, CSR)::

    weights   Memory S words      magnitude m (weight LSBs)              read/write
    post      Memory S words      postsynaptic index j                   read only
    pre       Memory n_pre words  {row_end, spike, age}: one past the    2 reads, 1 write
                                  last synapse of row i (read only),     (row_end masked)
                                  spike and age of inputs, then neurons
    neurons   Memory n_post words {y, v, a}                              read/write
    acc       Memory n_post words drive d of the current step            read/write
    regs      Memory n_input + n_post + 5  {pixel, LFSR24}: the rate-coding registers and the
                                       current image (0..255) of the inputs, then the noise
                                       registers of the neurons (one block RAM word each),
                                       then the early-stop level of each synapse group

One step (wake or sleep), each phase one item per cycle, pipelined:

1. **input** (``n_input`` cycles): wake: register advanced 8 steps, ``x = pixel > r``; sleep:
   ``x = 0``, register kept. Input ages updated (``sim.stdp.age_step``).
2. **drive sweep** (2 cycles per row + 1 per synapse of a row whose presynaptic neuron
   spiked): ``acc[j] += sign_i m`` (input spikes of this step, neuron spikes of the last).
3. **neuron pass** (``n_post`` cycles): ``sim.recurrent.neuron_step`` with the drive and, in
   sleep, the noise of :class:`~spikesmith.hw.recurrent.noise.NoiseUnit`; neuron ages updated; one
   neuron record per neuron; ``acc`` cleared.
4. **learning sweep**: rows whose presynaptic neuron spiked this step, or every row when some
   neuron spiked or a decay batch is due. Each synapse goes through
   :class:`~spikesmith.hw.recurrent.stdp_unit.STDPUnit` (kernel word read at S2, update at
   S3) then :class:`~spikesmith.hw.recurrent.decay_unit.DecayUnit`
   (enabled on every ``decay_period``-th sleep step) and is written back; one cycle later the
   running ``sum |w|`` of its group is updated by the change (one adder for all groups).
5. sleep: after a decay batch, a status record; the episode stops when every group sum is at
   most ``B + (B >> tol_shift)`` (``sim.sleep.sums_at_baseline``; one group per cycle against
   its level in ``regs``) or the budget is used.

Host protocol (:mod:`spikesmith.hw.recurrent.recurrent_streams`): ``PIXEL`` commands load an image,
``WAKE n`` runs ``n`` wake steps, ``SLEEP b`` one episode of budget ``b``, ``DUMP_WEIGHTS``
streams all magnitudes; ``SET_*_REG`` reseed the LFSRs. A command is accepted only when the
previous one has finished (``busy`` low).

Parts (each a ``wiring.Component`` with its own bench in ``tests/hw``; the core owns the
memories and decides, port by port, which part reads or writes them in a cycle)::

    CommandDecoder   host writes: run-time registers, PIXEL, SET_*_REG, SET   command_decoder
    Sequencer        step phases, sleep batches and early stop, dumps          sequencer
    RateEncoder      1: one input per cycle                                    rate_encoder
    RowSweep         2, 4: which synapses a sweep visits                       row_sweep
    SynapsePipeline  2, 4: drive sum; STDPUnit, DecayUnit, write-back          synapse_pipeline
    GroupSums        4, 5: running sum |w| per group, read by the stop check   group_sums
    NeuronPipeline   3: one neuron per cycle, NoiseUnit                        neuron_pipeline
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.recurrent import SynapseGroup

from ..common.mem import NO_RW_CHECK
from .command_decoder import CommandDecoder
from .group_sums import GroupSums
from .neuron_pipeline import NeuronPipeline
from .rate_encoder import RateEncoder
from .recurrent_config import CorePart, RecurrentCoreConfig
from .recurrent_streams import (
    neuron_record_layout,
    recurrent_command_layout,
    status_record_layout,
    weight_record_layout,
)
from .row_sweep import RowSweep
from .sequencer import Sequencer
from .synapse_pipeline import SynapsePipeline

__all__ = ["RecurrentCore", "RecurrentCoreConfig"]

#: Byte lanes of a ``regs`` word written by an LFSR update (bytes 0-2; the pixel is byte 3).
_LANES_REG = 0b0111


class RecurrentCore(CorePart):
    """Time-multiplexed recurrent E/I population with STDP and sleep (module docstring).

    Parameters
    ----------
    config : RecurrentCoreConfig
        Constants, connectivity and initial state.

    Members
    -------
    cmd : In(stream.Signature(recurrent_command_layout(...)))
        Host commands (:class:`~spikesmith.hw.recurrent.recurrent_streams.RecurrentOp`).
    neurons : Out(stream.Signature(neuron_record_layout(...), always_ready=True))
        One record per neuron per step.
    weights : Out(stream.Signature(weight_record_layout(...), always_ready=True))
        The magnitudes, on ``DUMP_WEIGHTS``.
    status : Out(stream.Signature(status_record_layout(...), always_ready=True))
        After every decay batch and at the end of every sleep episode and wake command.
    busy : Out(1)
        A command is running or output is still in flight.
    decay_reg : Out(16)
        The decay LFSR register.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        p, w = config.net.neuron, config.widths
        return {
            "cmd": In(stream.Signature(recurrent_command_layout(config.command_items))),
            "neurons": Out(stream.Signature(
                neuron_record_layout(p.n_post, v_bits=w["v"], y_bits=w["y"], a_bits=w["a"]),
                always_ready=True)),
            "weights": Out(stream.Signature(
                weight_record_layout(max(1, config.n_syn), weight_bits=config.weight_bits),
                always_ready=True)),
            "status": Out(stream.Signature(
                status_record_layout(n_groups=len(SynapseGroup), sum_bits=w["sum"]),
                always_ready=True)),
            "busy": Out(1),
            "decay_reg": Out(16),
        }

    def elaborate(self, platform):
        cfg = self._config
        ab = cfg.net.stdp.age_bits
        yb, vb = cfg.widths["y"], cfg.widths["v"]
        m = Module()
        mem = self._memories(m)
        m.submodules.decoder = dec = CommandDecoder(cfg)
        m.submodules.sequencer = seq = Sequencer(cfg)
        m.submodules.encoder = enc = RateEncoder(cfg.net.stdp)
        m.submodules.sweep = sweep = RowSweep(cfg)
        m.submodules.synapses = syn = SynapsePipeline(cfg)
        m.submodules.sums = sums = GroupSums(cfg)
        m.submodules.neurons = neu = NeuronPipeline(cfg)
        stdp, decay, cmd = syn.stdp, syn.decay, self.cmd.payload
        pre_word, neur_word = mem.pre_b.data, mem.neur_rd.data
        y_old, v_old, a_old = neur_word[:yb], neur_word[yb:yb + vb], neur_word[yb + vb:]

        # --- host commands: the decoder's writes, the sequencer's runs -----------------------
        m.d.comb += [
            dec.command.eq(cmd), dec.strobe.eq(self.cmd.valid & self.cmd.ready),
            seq.command.eq(cmd), seq.valid.eq(self.cmd.valid), self.cmd.ready.eq(seq.ready),
            stdp.reversed.eq(dec.polarity), stdp.wr_en.eq(dec.kernel_en),
            stdp.wr_minus.eq(dec.kernel_minus), stdp.wr_addr.eq(dec.kernel_addr),
            stdp.wr_data.eq(dec.kernel_data),
            decay.wr_en.eq(dec.decay_en), decay.wr_sel.eq(dec.decay_sel),
            decay.wr_addr.eq(dec.decay_addr), decay.wr_data.eq(dec.decay_data),
            decay.set_reg.eq(dec.decay_set), decay.set_value.eq(dec.decay_value),
            sums.set.eq(dec.sum_set), sums.set_index.eq(cmd.index), sums.set_value.eq(cmd.value),
        ]
        # --- sequencing ------------------------------------------------------------------------
        m.d.comb += [
            seq.period.eq(dec.period), seq.level.eq(mem.rg_rd.data),
            seq.probe_sum.eq(sums.probe_sum), seq.row.eq(sweep.row),
            seq.sweep_done.eq(sweep.done), seq.learn.eq(sweep.learn),
            seq.drained.eq(~sweep.valid & ~syn.busy & ~sums.busy), seq.neuron_busy.eq(neu.busy),
            sweep.start.eq(seq.sweep_start), sweep.start_learn.eq(seq.sweep_learn),
            sweep.run.eq(seq.sweep_run), sweep.word.eq(mem.pre_a.data),
            sweep.any_spike.eq(neu.any_spike), sweep.batch.eq(seq.batch),
        ]
        # --- datapath --------------------------------------------------------------------------
        m.d.comb += [
            enc.reg.eq(mem.rg_rd.data[:24]), enc.pixel.eq(mem.rg_rd.data[24:32]),
            enc.age.eq(mem.pre_a.data[:ab]), enc.sleeping.eq(seq.sleeping),
            syn.valid.eq(sweep.valid), syn.k.eq(sweep.k), syn.pre_spike.eq(sweep.pre_spike),
            syn.pop.eq(sweep.pop), syn.pre_age.eq(sweep.pre_age), syn.post.eq(mem.post_rd.data),
            syn.m.eq(mem.w_rd.data), syn.post_spike.eq(pre_word[ab]),
            syn.post_age.eq(pre_word[:ab]), syn.acc.eq(mem.acc_rd.data),
            syn.learn.eq(sweep.learn), syn.batch.eq(seq.batch), syn.lo.eq(dec.lo),
            syn.hi.eq(dec.hi),
            sums.i_valid.eq(syn.o_valid), sums.i_group.eq(syn.o_group), sums.i_new.eq(syn.o_m),
            sums.i_old.eq(syn.o_old), sums.probe.eq(seq.probe),
            neu.valid.eq(seq.n_valid), neu.j.eq(seq.n_index), neu.y.eq(y_old),
            neu.v.eq(v_old), neu.a.eq(a_old), neu.drive.eq(mem.acc_rd.data),
            neu.age.eq(pre_word[:ab]), neu.noise_reg.eq(mem.rg_rd.data[:24]),
            neu.sleeping.eq(seq.sleeping), neu.clear_any.eq(seq.clear_any),
            neu.theta0.eq(dec.theta0), neu.theta_max.eq(dec.theta_max),
            neu.v_reset.eq(dec.v_reset), neu.adapt_inc.eq(dec.adapt_inc),
            neu.noise_gain.eq(dec.noise_gain),
            # g y on the decay unit's multipliers (lent during the neuron pass)
            decay.x_en.eq(seq.x_en), decay.x.eq(neu.gy_x), decay.g.eq(dec.gain),
            neu.gy.eq(decay.x_p),
        ]
        self._arbitrate(m, mem, dec=dec, seq=seq, enc=enc, sweep=sweep, syn=syn, neu=neu)

        # --- records ---------------------------------------------------------------------------
        nrec, wrec, status = self.neurons.payload, self.weights.payload, self.status.payload
        with m.If(seq.nd_valid):    # DUMP_NEURONS: the stored state (never during a step)
            m.d.comb += [
                self.neurons.valid.eq(1), nrec.index.eq(seq.nd_index),
                nrec.spike.eq(pre_word[ab]), nrec.v.eq(v_old), nrec.y.eq(y_old),
                nrec.a.eq(a_old),
            ]
        with m.Else():
            m.d.comb += [
                self.neurons.valid.eq(neu.o_valid), nrec.index.eq(neu.o_j),
                nrec.spike.eq(neu.o_spike), nrec.sleep.eq(seq.sleeping), nrec.v.eq(neu.o_v),
                nrec.y.eq(neu.o_y), nrec.a.eq(neu.o_a),
            ]
        m.d.comb += [
            self.weights.valid.eq(seq.wd_valid), wrec.index.eq(seq.wd_index),
            wrec.m.eq(mem.w_rd.data),
            self.status.valid.eq(seq.status_valid), status.event.eq(seq.status_event),
            status.steps.eq(seq.status_steps), status.stopped.eq(seq.status_stopped),
            status.sums.eq(sums.sums),
            self.busy.eq(seq.busy), self.decay_reg.eq(decay.reg),
        ]
        return m

    def _memories(self, m) -> SimpleNamespace:
        """Add the core's memories to ``m``; return their ports (module docstring: Storage).

        No memory reads a word in the cycle it is written, or uses what it read then
        (``NO_RW_CHECK``: no read-first emulation in synthesis): a learning sweep reads
        synapse k while it writes back one that entered the decay unit before (each synapse
        once per sweep); the passes write item i - 1 or older while they read item i (pre and
        acc: posts differ within a row and rows are 3 cycles apart; regs: input i - 1, neuron
        j - 1); the other reads in a writing cycle are unused, and the host's SETs read
        nothing.
        """
        cfg = self._config
        p, w, s_n = cfg.net.neuron, cfg.widths, cfg.n_syn
        pre_s, post_s = cfg.synapses
        m.submodules.weights = weights = Memory(
            shape=unsigned(cfg.weight_bits), depth=max(2, s_n),
            init=[int(v) for v in cfg.state.m[pre_s, post_s]], attrs=NO_RW_CHECK)
        m.submodules.post = post = Memory(shape=unsigned(cfg.post_bits), depth=max(2, s_n),
                                          init=[int(v) for v in post_s])
        # {spike, age} of every presynaptic neuron and, above them, the read-only row_end
        # (one word: the row sweep reads both at one address; the writes mask row_end)
        m.submodules.pre = pre = Memory(
            shape=unsigned(cfg.net.stdp.age_bits + 1 + cfg.tag_bits), depth=max(2, p.n_pre),
            init=cfg.pre_words, attrs=NO_RW_CHECK)
        m.submodules.neur = neur = Memory(shape=unsigned(w["y"] + w["v"] + w["a"]),
                                          depth=max(2, p.n_post), init=cfg.neuron_words,
                                          attrs=NO_RW_CHECK)
        # not transparent: the drive sweep's read of acc[j] (S1) never meets a write of the
        # same j (S3) in that cycle or the next (posts differ within a row; a row's first
        # read is 3 cycles after the last synapse of the previous row)
        m.submodules.acc = acc = Memory(shape=signed(w["d"]), depth=max(2, p.n_post), init=[],
                                        attrs=NO_RW_CHECK)
        m.submodules.regs = regs = Memory(
            shape=unsigned(cfg.reg_word_bits), depth=cfg.stop_base + len(SynapseGroup),
            init=cfg.reg_words, attrs=NO_RW_CHECK)
        # read ports first, in the order of the original core (one per use)
        w_rd, w_wr = weights.read_port(), weights.write_port()
        post_rd = post.read_port()
        pre_wr = pre.write_port(granularity=1)
        pre_a, pre_b = pre.read_port(), pre.read_port()
        neur_rd, neur_wr = neur.read_port(), neur.write_port()
        acc_wr = acc.write_port()
        acc_rd = acc.read_port()
        # one write lane set for the LFSR register (bytes 0-2), one for the pixel (byte 3)
        rg_rd, rg_wr = regs.read_port(), regs.write_port(granularity=8)
        return SimpleNamespace(w_rd=w_rd, w_wr=w_wr, post_rd=post_rd, pre_wr=pre_wr,
                               pre_a=pre_a, pre_b=pre_b, neur_rd=neur_rd, neur_wr=neur_wr,
                               acc_wr=acc_wr, acc_rd=acc_rd, rg_rd=rg_rd, rg_wr=rg_wr)

    def _arbitrate(self, m, mem, *, dec, seq, enc, sweep, syn, neu) -> None:
        """Drive the memory ports: the sequencer's reads and the decoder's writes, overridden
        (last assignment wins) by the pipelines' accesses, which never meet a host write."""
        n_in = self._config.net.neuron.n_input
        pre_lanes = (1 << (self._config.net.stdp.age_bits + 1)) - 1
        m.d.comb += [
            mem.rg_rd.addr.eq(seq.regs_addr), mem.pre_a.addr.eq(seq.pre_addr),
            mem.pre_b.addr.eq(seq.post_word_addr), mem.neur_rd.addr.eq(seq.neuron_addr),
            mem.acc_rd.addr.eq(seq.acc_addr), mem.w_rd.addr.eq(seq.weight_addr),
            mem.post_rd.addr.eq(sweep.post_addr),
            mem.rg_wr.addr.eq(dec.regs_addr), mem.rg_wr.data.eq(dec.regs_data),
            mem.rg_wr.en.eq(dec.regs_en),
            mem.w_wr.addr.eq(dec.weight_addr), mem.w_wr.data.eq(dec.weight_data),
            mem.w_wr.en.eq(dec.weight_en),
        ]
        with m.If(seq.i_valid):         # input pass: register (wake only), spike and age
            m.d.comb += [
                mem.rg_wr.addr.eq(seq.i_index), mem.rg_wr.data[:24].eq(enc.next_reg),
                mem.rg_wr.en.eq(Mux(seq.sleeping, 0, _LANES_REG)),
                mem.pre_wr.addr.eq(seq.i_index), mem.pre_wr.en.eq(pre_lanes),
                mem.pre_wr.data.eq(enc.age_word),
            ]
        with m.If(sweep.valid):         # S1: the post index addresses pre, acc; the weight
            m.d.comb += [mem.pre_b.addr.eq(n_in + mem.post_rd.data),
                         mem.acc_rd.addr.eq(mem.post_rd.data), mem.w_rd.addr.eq(sweep.k)]
        with m.If(syn.o_valid):         # learning write-back
            m.d.comb += [mem.w_wr.addr.eq(syn.o_k), mem.w_wr.data.eq(syn.o_m),
                         mem.w_wr.en.eq(1)]
        with m.If(seq.n_valid & seq.sleeping):    # N1: the noise register written back
            m.d.comb += [mem.rg_wr.addr.eq(n_in + seq.n_index),
                         mem.rg_wr.data[:24].eq(neu.noise_next), mem.rg_wr.en.eq(_LANES_REG)]
        with m.If(neu.o_valid):         # N4: neuron words, spike and age; acc cleared
            m.d.comb += [
                mem.neur_wr.addr.eq(neu.o_j), mem.neur_wr.en.eq(1),
                mem.neur_wr.data.eq(Cat(neu.o_y, neu.o_v, neu.o_a)),
                mem.pre_wr.addr.eq(n_in + neu.o_j), mem.pre_wr.en.eq(pre_lanes),
                mem.pre_wr.data.eq(neu.o_age_word),
                mem.acc_wr.addr.eq(neu.o_j), mem.acc_wr.data.eq(0), mem.acc_wr.en.eq(1),
            ]
        with m.Elif(syn.acc_valid):     # S3 of the drive sweep
            m.d.comb += [mem.acc_wr.addr.eq(syn.acc_j), mem.acc_wr.data.eq(syn.acc_next),
                         mem.acc_wr.en.eq(1)]
