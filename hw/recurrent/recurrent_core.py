"""Recurrent excitatory/inhibitory LIF population with pair-based STDP and a sleep mode.

The golden model is ``sim.recurrent_net`` (stage order of one step), with the neuron equations
in ``sim.recurrent``, the STDP rule in ``sim.stdp`` and noise, decay and stop in ``sim.sleep``;
this core is proven equal to them by ``tests/hw/test_recurrent_core.py`` (Amaranth simulator)
and ``tests/rtl/recurrent_core`` (cocotb + Verilator).

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
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.recurrent import Connectivity, SynapseGroup
from spikesmith.sim.recurrent_net import NetConfig, NetState
from spikesmith.sim.stdp import StdpPolarity, kernel_luts

from ..common.lfsr import lfsr_advance_value
from ..common.mem import NO_RW_CHECK
from .decay_unit import DecayTable, DecayUnit
from .noise import NoiseUnit, noise_range
from .recurrent_streams import (
    RecurrentOp,
    RecurrentParam,
    RecurrentSpace,
    StatusEvent,
    neuron_record_layout,
    recurrent_command_layout,
    status_record_layout,
    weight_record_layout,
)
from .stdp_unit import STDPUnit

__all__ = ["RecurrentCore", "RecurrentCoreConfig"]


#: ``SET`` address spaces of the decay unit's tables.
_DECAY_SPACES = {RecurrentSpace.DECAY_OCTAVE: DecayTable.OCTAVE,
                 RecurrentSpace.DECAY_FRACTION: DecayTable.FRACTION,
                 RecurrentSpace.DECAY_LOG_TARGET: DecayTable.LOG_TARGET}

#: Upper bound on the decay octave table's entries (log2 distances of up to 64 octaves).
_OCTAVE_ENTRIES_MAX = 128


def _sbits(bound: int) -> int:
    """Width of a signed value in ``[-bound, bound]``."""
    return max(1, int(bound)).bit_length() + 1


@dataclass(frozen=True, eq=False)
class RecurrentCoreConfig:
    """What the core is built from: constants, connectivity and the initial state.

    Parameters
    ----------
    net : NetConfig
        Neuron, STDP and sleep constants (elaboration-time).
    conn : Connectivity
        Which synapses exist (the CSR structure and group bounds are fixed at build).
    state : NetState
        Initial contents of every memory and register (weights, neurons, ages, LFSRs).

    Raises
    ------
    TypeError
        On arguments of the wrong type.
    ValueError
        On shapes that do not match ``net`` or state outside the representable range.
    """

    net: NetConfig
    conn: Connectivity
    state: NetState

    def __post_init__(self) -> None:
        if not isinstance(self.net, NetConfig):
            raise TypeError(f"net must be a NetConfig, not {self.net!r}")
        if not isinstance(self.conn, Connectivity):
            raise TypeError(f"conn must be a Connectivity, not {self.conn!r}")
        if not isinstance(self.state, NetState):
            raise TypeError(f"state must be a NetState, not {self.state!r}")
        p = self.net.neuron
        if self.conn.mask.shape != (p.n_pre, p.n_post):
            raise ValueError(f"conn.mask must have shape {(p.n_pre, p.n_post)}, not "
                             f"{self.conn.mask.shape!r}")
        if self.conn.mask[:p.n_input, p.n_exc:].any():
            raise ValueError("conn must have no input-to-inhibitory synapses, not "
                             f"{int(self.conn.mask[:p.n_input, p.n_exc:].sum())}")
        if self.state.m.shape != (p.n_pre, p.n_post):
            raise ValueError(f"state.m must have shape {(p.n_pre, p.n_post)}, not "
                             f"{self.state.m.shape!r}")
        m = self.state.m
        if np.any((m < self.conn.lo) | (m > self.conn.hi)):
            raise ValueError("state.m must lie within conn.lo..conn.hi on every synapse")
        y = np.abs(self.state.neurons.y)
        if y.size and int(y.max()) > self.y_bound:
            raise ValueError(f"state.neurons.y must be within +-{self.y_bound}, not "
                             f"{int(y.max())}")

    @cached_property
    def synapses(self) -> tuple[np.ndarray, np.ndarray]:
        """``(pre, post)`` indices of the existing synapses, ascending row-major, ``int64``."""
        flat = np.flatnonzero(self.conn.mask.ravel())
        n_post = self.net.neuron.n_post
        return flat // n_post, flat % n_post

    @property
    def n_syn(self) -> int:
        """Existing synapses ``S``."""
        return int(self.synapses[0].size)

    @cached_property
    def row_end(self) -> np.ndarray:
        """One past the last synapse address of every row, ``(n_pre,)``."""
        return np.cumsum(self.conn.mask.sum(axis=1)).astype(np.int64)

    @cached_property
    def weight_bits(self) -> int:
        """Width of a magnitude, bits (holds every group's upper bound and the kernels)."""
        his = [s.hi for s in self.group_specs()]
        kernels = [int(v) for t in kernel_luts(self.net.stdp) for v in t]
        return max(1, max(his).bit_length(), max(kernels).bit_length())

    @cached_property
    def drive_bound(self) -> int:
        """Largest ``|d|`` of one step: the largest column sum of the upper bounds."""
        return int(self.conn.hi.sum(axis=0).max()) if self.conn.hi.size else 0

    @cached_property
    def y_bound(self) -> int:
        """Largest ``|y|``: ``2**k_syn (D + 1)`` (fixed point of the leaky sum)."""
        return (1 << self.net.neuron.syn_shift) * (self.drive_bound + 1)

    @cached_property
    def a_bound(self) -> int:
        """Largest adaptation ``a``: ``2**k_a (delta_a + 1)``."""
        p = self.net.neuron
        return max((1 << p.adapt_shift) * (p.adapt_inc + 1), int(self.state.neurons.a.max()))

    @cached_property
    def widths(self) -> dict[str, int]:
        """Datapath widths: drive ``d``, ``y``, ``v``, ``a``, group sums, bits."""
        p = self.net.neuron
        return {
            "d": _sbits(self.drive_bound),
            "y": _sbits(self.y_bound),
            "v": _sbits(max(abs(p.v_min), abs(p.v_max))),
            "a": max(1, self.a_bound.bit_length()),
            "sum": max(1, (self.n_syn * int(self.conn.hi.max(initial=1))).bit_length()),
        }

    @cached_property
    def command_items(self) -> int:
        """Items a command ``index`` must address: inputs, neurons, synapses, table entries."""
        p, sp, lp = self.net.neuron, self.net.stdp, self.net.sleep
        return max(p.n_input, p.n_post, self.n_syn, sp.age_max + 1, 1 << lp.log_frac,
                   _OCTAVE_ENTRIES_MAX, len(RecurrentParam), len(SynapseGroup))

    @cached_property
    def kernel_bits(self) -> int:
        """Width of an STDP kernel entry (the build's largest entry), bits."""
        return max(1, max(int(v) for t in kernel_luts(self.net.stdp) for v in t).bit_length())

    @cached_property
    def gain_bits(self) -> int:
        """Width of the signed gain register: holds ``+-|g|`` of the build."""
        return _sbits(abs(self.net.neuron.gain))

    @cached_property
    def stop_levels(self) -> tuple[int, ...]:
        """Per group ``B + (B >> tol_shift)``, ``B`` the sum of ``conn.init`` (enum order)."""
        tol = self.net.sleep.tol_shift
        out = []
        for gi in range(len(SynapseGroup)):
            b = int(self.conn.init[self.conn.group == gi].sum())
            out.append(b + (b >> tol))
        return tuple(out)

    def group_specs(self):
        """Return the ``GroupSpec`` of every group in enum order."""
        return [self.net.neuron.groups[g] for g in SynapseGroup]


class RecurrentCore(wiring.Component):
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

    def __init__(self, config: RecurrentCoreConfig):
        if not isinstance(config, RecurrentCoreConfig):
            raise TypeError(f"config must be a RecurrentCoreConfig, not {config!r}")
        self._config = config
        p, w = config.net.neuron, config.widths
        super().__init__({
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
        })

    @property
    def config(self) -> RecurrentCoreConfig:
        """The configuration the core was built from."""
        return self._config

    def elaborate(self, platform):
        cfg = self._config
        p, sp, lp = cfg.net.neuron, cfg.net.stdp, cfg.net.sleep
        st = cfg.state
        wid = cfg.widths
        n_in, n_exc, n_post, n_pre = p.n_input, p.n_exc, p.n_post, p.n_pre
        s_n = cfg.n_syn
        wb, ab_age = cfg.weight_bits, sp.age_bits
        yb, vb, abits, db = wid["y"], wid["v"], wid["a"], wid["d"]
        m = Module()

        # --- memories -----------------------------------------------------------------------
        # No memory reads a word in the cycle it is written, or uses what it read then
        # (NO_RW_CHECK: no read-first emulation in synthesis): a learning sweep reads synapse
        # k while it writes back one that entered the decay unit before (each synapse once per
        # sweep); the passes write item i - 1 or older while they read item i (pre and acc:
        # posts differ within a row and rows are 3 cycles apart; regs: input i - 1, neuron
        # j - 1); the other reads in a writing cycle are unused, and the host's SETs read
        # nothing.
        pre_s, post_s = cfg.synapses
        m.submodules.weights = weights = Memory(
            shape=unsigned(wb), depth=max(2, s_n),
            init=[int(v) for v in st.m[pre_s, post_s]], attrs=NO_RW_CHECK)
        m.submodules.post = post = Memory(
            shape=unsigned(max(1, (n_post - 1).bit_length())), depth=max(2, s_n),
            init=[int(v) for v in post_s])
        kb = max(1, s_n.bit_length())
        # {spike, age} of every presynaptic neuron and, above them, the read-only row_end
        # (one word: the row sweep reads both at one address; the writes mask row_end)
        pb = ab_age + 1
        pre_init = [int(a) | (int(e) << pb) for a, e in zip(st.ages, cfg.row_end, strict=True)]
        for j, s in enumerate(st.neurons.s):
            pre_init[n_in + j] |= int(bool(s)) << ab_age
        m.submodules.pre = pre = Memory(shape=unsigned(pb + kb), depth=max(2, n_pre),
                                        init=pre_init, attrs=NO_RW_CHECK)
        pre_lanes = (1 << pb) - 1
        ymask, vmask = (1 << yb) - 1, (1 << vb) - 1
        neur_init = [(int(y) & ymask) | ((int(v) & vmask) << yb) | (int(a) << (yb + vb))
                     for y, v, a in zip(st.neurons.y, st.neurons.v, st.neurons.a, strict=True)]
        m.submodules.neur = neur = Memory(shape=unsigned(yb + vb + abits),
                                          depth=max(2, n_post), init=neur_init,
                                          attrs=NO_RW_CHECK)
        m.submodules.acc = acc = Memory(shape=signed(db), depth=max(2, n_post), init=[],
                                        attrs=NO_RW_CHECK)
        n_groups = len(SynapseGroup)
        stop_base = n_in + n_post
        m.submodules.regs = regs = Memory(
            shape=unsigned(max(32, -(-wid["sum"] // 8) * 8)), depth=stop_base + n_groups,
            init=[int(v) for v in st.input_regs] + [int(v) for v in st.noise_regs]
            + list(cfg.stop_levels), attrs=NO_RW_CHECK)

        w_rd, w_wr = weights.read_port(), weights.write_port()
        post_rd = post.read_port()
        pre_wr = pre.write_port(granularity=1)
        pre_a, pre_b = pre.read_port(), pre.read_port()
        neur_rd, neur_wr = neur.read_port(), neur.write_port()
        acc_wr = acc.write_port()
        # not transparent: the drive sweep's read of acc[j] (S1) never meets a write of the same
        # j in that cycle (posts differ within a row; rows are 3 cycles apart)
        acc_rd = acc.read_port()
        # one write lane set for the LFSR register (bytes 0-2), one for the pixel (byte 3)
        rg_rd, rg_wr = regs.read_port(), regs.write_port(granularity=8)
        lanes_reg, lane_px, lanes_all = 0b0111, 0b1000, (1 << len(rg_wr.en)) - 1

        # --- units --------------------------------------------------------------------------
        specs = cfg.group_specs()
        m.submodules.stdp = stdp = STDPUnit(sp, weight_bits=wb, latency=1)
        m.submodules.decay = decay = DecayUnit(
            lp, weight_bits=wb, targets=[s.target for s in specs], seed=int(st.decay_reg),
            tag_bits=kb + wb, lent_bits=(yb, cfg.gain_bits))
        m.submodules.noise = noise = NoiseUnit(lp)
        m.d.comb += self.decay_reg.eq(decay.reg)

        # --- run-time parameters: host SET, reset values from the build ---------------------
        theta0 = Signal(signed(vb), init=p.theta0)
        theta_max = Signal(signed(vb), init=p.theta_max)
        v_reset = Signal(signed(vb), init=p.v_reset)
        adapt_inc = Signal(abits, init=p.adapt_inc)
        gain = Signal(signed(cfg.gain_bits), init=p.gain)
        noise_gain = Signal(signed(noise.gain_bits), init=lp.noise_gain)
        period = Signal(16, init=lp.decay_period)
        polarity = Signal(init=int(sp.polarity is StdpPolarity.AUTHORS_REVERSED))
        scalars = {RecurrentParam.THETA0: theta0, RecurrentParam.THETA_MAX: theta_max,
                   RecurrentParam.V_RESET: v_reset, RecurrentParam.ADAPT_INC: adapt_inc,
                   RecurrentParam.GAIN: gain, RecurrentParam.NOISE_GAIN: noise_gain,
                   RecurrentParam.DECAY_PERIOD: period, RecurrentParam.POLARITY: polarity}
        lo_r = [Signal(wb, name=f"lo_{g.value}", init=spec.lo)
                for g, spec in zip(SynapseGroup, specs, strict=True)]
        hi_r = [Signal(wb, name=f"hi_{g.value}", init=spec.hi)
                for g, spec in zip(SynapseGroup, specs, strict=True)]
        m.d.comb += [noise.gain.eq(noise_gain), stdp.reversed.eq(polarity)]
        m.d.comb += [decay.lo[gi].eq(r) for gi, r in enumerate(lo_r)]
        m.d.comb += [decay.hi[gi].eq(r) for gi, r in enumerate(hi_r)]

        # --- control registers --------------------------------------------------------------
        sleeping = Signal()
        count = Signal(32)        # steps of the current command done
        left = Signal(32)         # steps still to run (asked, or the sleep budget)
        phase_k = Signal(16)
        batch = Signal()
        m.d.comb += batch.eq(sleeping & (phase_k == period - 1))
        any_q = Signal()
        stopped = Signal()
        sums = [Signal(wid["sum"], name=f"sum_{g.value}",
                       init=int(st.m[cfg.conn.group == gi].sum()))
                for gi, g in enumerate(SynapseGroup)]
        sum_set = Signal()        # SET SUM: group cmd.index takes cmd.value
        # early stop: after a decay batch the five sums are compared with the stop levels
        # (block RAM words after the LFSR registers) one per cycle, on one comparator
        cg = Signal(range(n_groups + 2))
        cg_prev = Signal(3)       # cg one cycle late (a register, not a decrement, selects)
        at_baseline = Signal()
        sel_group = Signal(3)     # the sum read by the shared adder, or by the stop check
        sum_sel = Signal(wid["sum"])

        # counters of the phases
        ii = Signal(range(n_in + 1))
        nj = Signal(range(n_post + 1))
        row_i = Signal(range(max(2, n_pre)))
        k = Signal(range(s_n + 1))
        kd = Signal(range(s_n + 1))
        rphase = Signal(2)        # 0 address row, 1 decide, 2 issue synapses, 3 drain
        learn = Signal()          # the sweep is the learning sweep (else the drive sweep)
        row_p, row_pop = Signal(), Signal(2)
        row_age = Signal(ab_age)
        row_last = Signal(kb)

        # --- pipeline registers -------------------------------------------------------------
        i1_valid, i1_i = Signal(), Signal.like(ii)
        s1_valid, s1_k = Signal(), Signal.like(k)
        s1_p, s1_pop, s1_age = Signal(), Signal(2), Signal(ab_age)
        s2_valid, s2_k = Signal(), Signal.like(k)
        s2_j = Signal(len(post_rd.data))
        s2_p, s2_pop, s2_age = Signal(), Signal(2), Signal(ab_age)
        s3_valid, s3_k, s3_m, s3_group = Signal(), Signal(kb), Signal(wb), Signal(3)
        u_valid, u_group, u_delta = Signal(), Signal(3), Signal(signed(wb + 1))
        n1_valid, n1_j = Signal(), Signal.like(nj)
        n2_valid, n2_j = Signal(), Signal.like(nj)
        n3_valid, n3_j = Signal(), Signal.like(nj)
        n4_valid, n4_j = Signal(), Signal.like(nj)
        d_valid, d_k = Signal(), Signal.like(kd)
        nd_valid, nd_j = Signal(), Signal.like(nj)

        cmd = self.cmd.payload
        status = self.status.payload
        m.d.comb += [status.sums[g].eq(sums[g]) for g in range(len(sums))]
        m.d.comb += status.steps.eq(count)

        # issue stages default to idle; the FSM states below override (last assignment wins)
        m.d.sync += [i1_valid.eq(0), s1_valid.eq(0), n1_valid.eq(0), d_valid.eq(0),
                     nd_valid.eq(0)]

        def start_sweep(is_learn):
            m.d.sync += [row_i.eq(0), k.eq(0), rphase.eq(0), learn.eq(is_learn)]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid), m.Switch(cmd.op):
                    with m.Case(RecurrentOp.PIXEL):
                        m.d.comb += [rg_wr.addr.eq(cmd.index), rg_wr.data[24:].eq(cmd.value),
                                     rg_wr.en.eq(lane_px)]
                    with m.Case(RecurrentOp.WAKE, RecurrentOp.SLEEP):
                        m.d.sync += [sleeping.eq(cmd.op == RecurrentOp.SLEEP),
                                     count.eq(0), left.eq(cmd.value), phase_k.eq(0),
                                     stopped.eq(0), ii.eq(0)]
                        with m.If(cmd.value == 0):
                            m.next = "FINISH"
                        with m.Else():
                            m.next = "INPUT"
                    with m.Case(RecurrentOp.DUMP_WEIGHTS):
                        m.d.sync += kd.eq(0)
                        if s_n:
                            m.next = "DUMP"
                    with m.Case(RecurrentOp.SET_INPUT_REG):
                        m.d.comb += [rg_wr.addr.eq(cmd.index), rg_wr.data[:24].eq(cmd.value),
                                     rg_wr.en.eq(lanes_reg)]
                    with m.Case(RecurrentOp.SET_NOISE_REG):
                        m.d.comb += [rg_wr.addr.eq(n_in + cmd.index),
                                     rg_wr.data[:24].eq(cmd.value), rg_wr.en.eq(lanes_reg)]
                    with m.Case(RecurrentOp.SET_DECAY_REG):
                        m.d.comb += [decay.set_reg.eq(1), decay.set_value.eq(cmd.value)]
                    with m.Case(RecurrentOp.DUMP_NEURONS):
                        m.d.sync += nj.eq(0)
                        m.next = "NEURON_DUMP"
                    with m.Case(RecurrentOp.SET):
                        self._elaborate_set(m, cmd, scalars=scalars, groups={
                            RecurrentSpace.LO: lo_r, RecurrentSpace.HI: hi_r,
                            },
                            stdp=stdp, decay=decay, w_wr=w_wr, sum_set=sum_set,
                            rg_wr=rg_wr, stop_base=stop_base, lanes_all=lanes_all,
                            n_groups=n_groups)

            with m.State("INPUT"):
                m.d.comb += [rg_rd.addr.eq(ii), pre_a.addr.eq(ii)]
                m.d.sync += [i1_valid.eq(ii < n_in), i1_i.eq(ii)]
                with m.If(ii < n_in):
                    m.d.sync += ii.eq(ii + 1)
                with m.Elif(~i1_valid):
                    start_sweep(0)
                    m.next = "SWEEP"

            with m.State("SWEEP"):
                m.d.comb += pre_a.addr.eq(row_i)
                with m.Switch(rphase):
                    with m.Case(0):
                        m.d.sync += rphase.eq(1)
                    with m.Case(1):
                        spk = pre_a.data[ab_age]
                        end = pre_a.data[pb:]
                        visit = Mux(learn, spk | any_q | batch, spk)
                        pop = Mux(row_i < n_in, 0, Mux(row_i < n_in + p.n_exc, 1, 2))
                        m.d.sync += [row_p.eq(spk), row_age.eq(pre_a.data[:ab_age]),
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
                        m.d.comb += post_rd.addr.eq(k)
                        m.d.sync += [s1_valid.eq(1), s1_k.eq(k), s1_p.eq(row_p),
                                     s1_pop.eq(row_pop), s1_age.eq(row_age), k.eq(k + 1)]
                        with m.If(k == row_last):
                            with m.If(row_i == n_pre - 1):
                                m.d.sync += rphase.eq(3)
                            with m.Else():
                                m.d.sync += [row_i.eq(row_i + 1), rphase.eq(0)]
                    with m.Case(3), m.If(~s1_valid & ~s2_valid & ~s3_valid & ~decay.busy
                                         & ~u_valid):
                        with m.If(learn):
                            m.next = "STEP_END"
                        with m.Else():
                            m.d.sync += [nj.eq(0), any_q.eq(0)]
                            m.next = "NEURON"

            with m.State("NEURON"):
                m.d.comb += decay.x_en.eq(1)
                m.d.comb += [neur_rd.addr.eq(nj), acc_rd.addr.eq(nj), rg_rd.addr.eq(n_in + nj),
                             pre_b.addr.eq(n_in + nj)]
                m.d.sync += [n1_valid.eq(nj < n_post), n1_j.eq(nj)]
                with m.If(nj < n_post):
                    m.d.sync += nj.eq(nj + 1)
                with m.Elif(~n1_valid & ~n2_valid & ~n3_valid & ~n4_valid):
                    start_sweep(1)
                    m.next = "SWEEP"

            with m.State("STEP_END"):
                m.d.sync += [count.eq(count + 1), left.eq(left - 1)]
                with m.If(sleeping):
                    m.d.sync += phase_k.eq(Mux(batch, 0, phase_k + 1))
                    m.d.comb += [self.status.valid.eq(batch),
                                 status.event.eq(StatusEvent.BATCH),
                                 status.steps.eq(count + 1)]
                with m.If(sleeping & batch):
                    m.d.sync += [cg.eq(0), at_baseline.eq(1)]
                    m.next = "STOP_CHECK"
                with m.Elif(left == 1):
                    m.next = "FINISH"
                with m.Else():
                    m.d.sync += ii.eq(0)
                    m.next = "INPUT"

            with m.State("STOP_CHECK"):
                # level of group cg fetched, group cg - 1 compared (cg = 1..n_groups), and the
                # decision taken one cycle later from the registered result
                m.d.comb += [rg_rd.addr.eq(stop_base + Mux(cg < n_groups, cg, 0)),
                             sel_group.eq(cg_prev)]
                m.d.sync += [cg.eq(cg + 1), cg_prev.eq(cg)]
                with m.If((cg != 0) & (cg <= n_groups) & (sum_sel > rg_rd.data)):
                    m.d.sync += at_baseline.eq(0)
                with m.If(cg == n_groups + 1):
                    with m.If(at_baseline):
                        m.d.sync += stopped.eq(left != 0)
                        m.next = "FINISH"
                    with m.Elif(left == 0):
                        m.next = "FINISH"
                    with m.Else():
                        m.d.sync += ii.eq(0)
                        m.next = "INPUT"

            with m.State("FINISH"):
                m.d.comb += [self.status.valid.eq(1), status.stopped.eq(stopped),
                             status.event.eq(Mux(sleeping, StatusEvent.EPISODE,
                                                 StatusEvent.WAKE))]
                m.next = "IDLE"

            with m.State("NEURON_DUMP"):
                m.d.comb += [neur_rd.addr.eq(nj), pre_b.addr.eq(n_in + nj)]
                m.d.sync += [nd_valid.eq(nj < n_post), nd_j.eq(nj)]
                with m.If(nj < n_post):
                    m.d.sync += nj.eq(nj + 1)
                with m.Else():
                    m.next = "IDLE"

            with m.State("DUMP"):
                m.d.comb += w_rd.addr.eq(kd)
                m.d.sync += [d_valid.eq(1), d_k.eq(kd), kd.eq(kd + 1)]
                with m.If(kd == s_n - 1):
                    m.next = "IDLE"

        # --- input pipeline (I1): rate coding, input ages -------------------------------------
        age_max = sp.age_max
        in_next = lfsr_advance_value(rg_rd.data[:24], LFSR24, steps=LFSR24.draw_bits)
        x = Signal()
        m.d.comb += x.eq(~sleeping & (rg_rd.data[24:] > in_next[:8]))
        in_age = pre_a.data[:ab_age]
        with m.If(i1_valid):
            m.d.comb += [
                rg_wr.addr.eq(i1_i), rg_wr.data[:24].eq(in_next),
                rg_wr.en.eq(Mux(sleeping, 0, lanes_reg)),
                pre_wr.addr.eq(i1_i), pre_wr.en.eq(pre_lanes),
                pre_wr.data.eq(Cat(
                    Mux(x, 0, Mux(in_age == age_max, age_max, in_age + 1))[:ab_age], x)),
            ]

        # --- synapse pipeline S1: post index arrives; weight read (it arrives at S2 as it is
        # used, so that no register holds it there) ---------------------------------------------
        with m.If(s1_valid):
            m.d.comb += [pre_b.addr.eq(n_in + post_rd.data), acc_rd.addr.eq(post_rd.data),
                         w_rd.addr.eq(s1_k)]
        s2_m = w_rd.data
        m.d.sync += [s2_valid.eq(s1_valid), s2_k.eq(s1_k),
                     s2_j.eq(post_rd.data), s2_p.eq(s1_p), s2_pop.eq(s1_pop),
                     s2_age.eq(s1_age)]

        # --- S2 drive: acc[j] += sign_i m -----------------------------------------------------
        signed_m = Mux(s2_pop == 2, -s2_m, s2_m)
        # --- S2 learn: kernel word read (STDPUnit, latency 1); S3: STDP, into the decay unit ---
        post_inh = s2_j >= n_exc
        m.d.comb += [stdp.pre_spike.eq(s2_p), stdp.post_spike.eq(pre_b.data[ab_age]),
                     stdp.pre_age.eq(s2_age), stdp.post_age.eq(pre_b.data[:ab_age])]
        m.d.sync += [s3_valid.eq(s2_valid & learn), s3_k.eq(s2_k), s3_m.eq(s2_m),
                     s3_group.eq(Mux(s2_pop == 0, 0,
                                     Mux(s2_pop == 1, 1 + post_inh, 3 + post_inh)))]
        lo, hi = Signal(wb), Signal(wb)
        with m.Switch(s3_group):
            for gi in range(len(specs)):
                with m.Case(gi):
                    m.d.comb += [lo.eq(lo_r[gi]), hi.eq(hi_r[gi])]
        m.d.comb += [
            stdp.m.eq(s3_m), stdp.lo.eq(lo), stdp.hi.eq(hi),
            decay.i_valid.eq(s3_valid), decay.i_en.eq(batch), decay.i_m.eq(stdp.m_next),
            decay.i_target.eq(s3_group), decay.i_tag.eq(Cat(s3_k, s3_m)),
        ]
        o_k, o_old = decay.o_tag[:kb], decay.o_tag[kb:]
        with m.If(decay.o_valid):
            m.d.comb += [w_wr.addr.eq(o_k), w_wr.data.eq(decay.o_m), w_wr.en.eq(1)]
        # group sums, one cycle after the write-back: one adder and one input bus for all five
        # (the host's SUM writes share the bus)
        m.d.sync += [u_valid.eq(decay.o_valid), u_group.eq(decay.o_target),
                     u_delta.eq(decay.o_m - o_old)]
        with m.If(u_valid):
            m.d.comb += sel_group.eq(u_group)
        with m.Switch(sel_group):
            for gi, s_g in enumerate(sums):
                with m.Case(gi):
                    m.d.comb += sum_sel.eq(s_g)
        sum_d = Signal(wid["sum"])
        m.d.comb += sum_d.eq(Mux(sum_set, cmd.value, sum_sel + u_delta))
        for gi, s_g in enumerate(sums):
            with m.If((u_valid & (u_group == gi)) | (sum_set & (cmd.index == gi))):
                m.d.sync += s_g.eq(sum_d)

        # --- neuron pipeline N1..N4 (sim.recurrent.neuron_step) ------------------------------
        y_old = neur_rd.data[:yb].as_signed()
        v_old = neur_rd.data[yb:yb + vb].as_signed()
        a_old = neur_rd.data[yb + vb:]
        m.d.comb += noise.reg.eq(rg_rd.data[:24])
        with m.If(n1_valid & sleeping):    # the noise register written back at once
            m.d.comb += [rg_wr.addr.eq(n_in + n1_j), rg_wr.data[:24].eq(noise.next_reg),
                         rg_wr.en.eq(lanes_reg)]
        # g y on the decay unit's multipliers (lent during the neuron pass): y at N1, g y at N3
        y_new = Signal(signed(yb))
        m.d.comb += [y_new.eq(y_old - (y_old >> p.syn_shift) + acc_rd.data),
                     decay.x.eq(y_new), decay.g.eq(gain)]
        n2_y, n2_v = Signal(signed(yb)), Signal(signed(vb))
        n2_a, n2_age = Signal(abits), Signal(ab_age)
        n2_total = Signal.like(noise.total)    # the gain product at N2: not in N1's path
        m.d.sync += [
            n2_valid.eq(n1_valid), n2_j.eq(n1_j), n2_y.eq(y_new),
            n2_v.eq(v_old), n2_a.eq(a_old), n2_age.eq(pre_b.data[:ab_age]),
            n2_total.eq(Mux(sleeping, noise.total, 0)),   # scale(0) = 0
        ]
        n_lo, n_hi = noise_range(lp)
        w_bound = max(abs(p.v_min), abs(p.v_max)) * 2 + max(-n_lo, n_hi)
        n3_w, n3_y = Signal(signed(_sbits(w_bound))), Signal(signed(yb))
        n3_a, n3_age = Signal(abits), Signal(ab_age)
        m.d.sync += [
            n3_valid.eq(n2_valid), n3_j.eq(n2_j),
            n3_w.eq(n2_v - (n2_v >> p.mem_shift) + noise.scale(n2_total, noise_gain)),
            n3_y.eq(n2_y), n3_a.eq(n2_a), n3_age.eq(n2_age),
        ]
        gy_bound = (cfg.y_bound * abs(p.gain) >> p.gain_shift) + 1
        u_raw = Signal(signed(_sbits(w_bound + gy_bound)))
        m.d.comb += u_raw.eq(n3_w + (decay.x_p >> p.gain_shift))
        n4_u, n4_y = Signal(signed(vb)), Signal(signed(yb))
        n4_a, n4_age = Signal(abits), Signal(ab_age)
        n4_theta = Signal(signed(vb))     # theta0 <= theta <= theta_max, both within v
        m.d.sync += [
            n4_valid.eq(n3_valid), n4_j.eq(n3_j),
            n4_u.eq(Mux(u_raw > p.v_max, p.v_max, Mux(u_raw < p.v_min, p.v_min, u_raw))),
            n4_theta.eq(Mux(theta0 + n3_a > theta_max, theta_max, theta0 + n3_a)),
            n4_y.eq(n3_y), n4_a.eq(n3_a), n4_age.eq(n3_age),
        ]
        spike = Signal()
        v_new, a_new = Signal(signed(vb)), Signal(abits)
        m.d.comb += [
            spike.eq(n4_u >= n4_theta),
            v_new.eq(Mux(spike, v_reset, n4_u)),
            a_new.eq(n4_a - (n4_a >> p.adapt_shift) + Mux(spike, adapt_inc, 0)),
        ]
        with m.If(n4_valid):
            m.d.comb += [
                neur_wr.addr.eq(n4_j), neur_wr.en.eq(1),
                neur_wr.data.eq(Cat(n4_y, v_new, a_new)),
                pre_wr.addr.eq(n_in + n4_j), pre_wr.en.eq(pre_lanes),
                pre_wr.data.eq(Cat(
                    Mux(spike, 0, Mux(n4_age == age_max, age_max, n4_age + 1))[:ab_age], spike)),
                acc_wr.addr.eq(n4_j), acc_wr.data.eq(0), acc_wr.en.eq(1),
            ]
            m.d.sync += any_q.eq(any_q | spike)
        with m.Elif(s2_valid & ~learn):
            m.d.comb += [acc_wr.addr.eq(s2_j), acc_wr.data.eq(acc_rd.data + signed_m),
                         acc_wr.en.eq(1)]
        nrec = self.neurons.payload
        with m.If(nd_valid):    # DUMP_NEURONS: the stored state (never during a step)
            m.d.comb += [
                self.neurons.valid.eq(1), nrec.index.eq(nd_j), nrec.spike.eq(pre_b.data[ab_age]),
                nrec.v.eq(v_old), nrec.y.eq(y_old), nrec.a.eq(a_old),
            ]
        with m.Else():
            m.d.comb += [
                self.neurons.valid.eq(n4_valid), nrec.index.eq(n4_j), nrec.spike.eq(spike),
                nrec.sleep.eq(sleeping), nrec.v.eq(v_new), nrec.y.eq(n4_y), nrec.a.eq(a_new),
            ]

        # --- weight dump ----------------------------------------------------------------------
        wrec = self.weights.payload
        m.d.comb += [self.weights.valid.eq(d_valid), wrec.index.eq(d_k), wrec.m.eq(w_rd.data)]
        m.d.comb += self.busy.eq(~self.cmd.ready | d_valid | nd_valid)
        return m

    @staticmethod
    def _elaborate_set(m, cmd, *, scalars, groups, stdp, decay, w_wr, sum_set, rg_wr,
                       stop_base, lanes_all, n_groups):
        """``SET``: one write into the address space ``cmd.space`` (``RecurrentSpace``)."""
        with m.Switch(cmd.space):
            with m.Case(RecurrentSpace.SCALAR), m.Switch(cmd.index):
                for param, reg in scalars.items():
                    with m.Case(param):
                        m.d.sync += reg.eq(cmd.value)
            for space, regs in groups.items():
                with m.Case(space), m.Switch(cmd.index):
                    for gi, reg in enumerate(regs):
                        with m.Case(gi):
                            m.d.sync += reg.eq(cmd.value)
            with m.Case(RecurrentSpace.KERNEL_PLUS, RecurrentSpace.KERNEL_MINUS):
                m.d.comb += [stdp.wr_en.eq(1), stdp.wr_addr.eq(cmd.index),
                             stdp.wr_data.eq(cmd.value),
                             stdp.wr_minus.eq(cmd.space == RecurrentSpace.KERNEL_MINUS)]
            for space, table in _DECAY_SPACES.items():
                with m.Case(space):
                    m.d.comb += [decay.wr_en.eq(1), decay.wr_sel.eq(table),
                                 decay.wr_addr.eq(cmd.index), decay.wr_data.eq(cmd.value)]
            with m.Case(RecurrentSpace.SUM):
                m.d.comb += sum_set.eq(1)
            with m.Case(RecurrentSpace.STOP), m.If(cmd.index < n_groups):
                m.d.comb += [rg_wr.addr.eq(stop_base + cmd.index), rg_wr.data.eq(cmd.value),
                             rg_wr.en.eq(lanes_all)]
            with m.Case(RecurrentSpace.WEIGHT):
                m.d.comb += [w_wr.addr.eq(cmd.index), w_wr.data.eq(cmd.value), w_wr.en.eq(1)]
