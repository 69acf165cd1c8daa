"""NCG learning core: single-spike IF readout with S2-STDP and Neuronal Competition Groups.

Inference and on-chip learning in one block, bit-exact with the integer golden model
:mod:`spikesmith.sim.ncg` (the contract: :func:`~spikesmith.sim.ncg.forward`,
:func:`~spikesmith.sim.ncg.regulate`, :func:`~spikesmith.sim.ncg.s2stdp_errors`,
:func:`~spikesmith.sim.ncg.update_rows`, :func:`~spikesmith.sim.ncg.train_step`); the equations
live there and are not repeated here. Host protocol: :mod:`spikesmith.hw.ncg.ncg_streams`.

Organisation (``P`` = ``params.lanes`` synapse lanes, ``G = ceil(F / P)`` words per row)::

    weights   Memory  N*G words of P weights     word j*G + k = W[j, kP : kP+P]
    in_bins   Memory  G words of P bins          input spike bin of every feature (K = silent)
    events    Memory  F entries (feature, bin)   the sample's events in arrival order
    theta     Memory  N test thresholds; theta_t: N training thresholds; norm: N targets S0
    slots     Memory  n_upd (neuron, bin, target) of the neurons the update may touch

Each memory is read through a registered asynchronous port (``_ReadReg``) and marked
``no_rw_check``, so that synthesis adds no read-first emulation logic around the block RAMs.

Sample flow after ``END``:

1. Forward, neuron by neuron (``j = 0 .. N-1``): a 3-stage pipeline replays the event list
   (event read, weight read, accumulate) at one event per cycle; at each bin change the
   threshold (test, or the CR-1/CR-2 training mux) is compared first (strict ``>``), and the
   neuron stops at its first spike. The global, per-group and regulation winners, the
   minimum test threshold, and the mean-time accumulator are updated after each neuron, in
   index order, so ties resolve as :func:`~spikesmith.sim.ncg_types.spike_order`.
2. Training only: competition regulation (read-modify-write of the ``M_t`` training
   thresholds of the label's group); the mean firing time with :class:`FloorDivider`;
   per updated neuron the error, the two update values ``d±`` (two multipliers, once per
   neuron), for additive normalisation a pre-pass over the row (row sum, causal count) and a
   division by ``F``; then a read-modify-write pass over the row, ``P`` synapses per cycle,
   each lane choosing ``d+`` or ``d-`` by its causality bit (both saturated to
   ``ROUND_BITS + W + 1`` bits, which clips to the same weights) and rounding with its LFSR24
   lane.
3. Clear the bin memory (``G`` cycles) and send ``RESULT``.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.fixed import Rounding
from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg import ROUND_BITS, NCGParams
from spikesmith.sim.ncg_types import Method, Regulation, WeightNorm

from ..common.lfsr import lfsr_advance_value
from ..common.mem import NO_RW_CHECK
from ..common.streams import index_bits
from .ncg_divider import FloorDivider
from .ncg_streams import (
    NCGKind,
    NCGOp,
    NCGReg,
    NCGSpace,
    NCGWidths,
    ncg_command_layout,
    ncg_record_layout,
)

__all__ = ["NCGCore"]


class _ReadReg:
    """A synchronous read of ``mem``: an asynchronous port and a register with enable.

    It behaves exactly as ``mem.read_port()`` (read-first: data read in the cycle an address
    is written is the old word; ``data`` holds while ``en`` is low), in Amaranth and in
    Verilator. Yosys, however, folds the register into the block RAM port (``memory_dff``),
    which is where it honours the memory's ``no_rw_check`` attribute: no read-first emulation
    (a register per write address and data bit, a comparator and a multiplexer per read data
    bit: on the digits M = 5 core, 478 flip-flops and 343 UP5K logic cells over its seven
    memories).

    That is safe because no state uses data read in a cycle that writes the same memory:
    host writes are in ``IDLE``, which uses no read data, and every state that uses read data
    (``READ``, ``FWD_LOAD``, ``FWD_RUN``, ``REG_WR``, ``SLOT``, ``PRE``, ``NORM``) issued the
    read in a cycle without a write to that memory, except ``UPD``, which reads word ``k + 1``
    of the row while it writes word ``k``.

    Members: ``addr``; ``en`` (1 where not driven, as ``read_port``); ``data``.
    """

    def __init__(self, m, mem, name):
        port = mem.read_port(domain="comb")
        self.addr = port.addr
        self.en = Signal(init=1, name=f"{name}_en")
        self.data = Signal(mem.shape, name=f"{name}_data", reset_less=True)
        with m.If(self.en):
            m.d.sync += self.data.eq(port.data)


class NCGCore(wiring.Component):
    """On-chip S2-STDP / SSTDP / R-STDP learning core with NCG competition regulation.

    Parameters
    ----------
    params : NCGParams
        Integer parameters of :mod:`spikesmith.sim.ncg` (shapes, formats, ``K``, ``P``,
        method, regulation, rounding, dropout). Weights, thresholds, ``S0``, rates, gaps and
        LFSR seeds are loaded by the host through ``WRITE`` commands.

    Members
    -------
    i : In(stream.Signature(ncg_command_layout(...)))
        Commands (:mod:`spikesmith.hw.ncg.ncg_streams`).
    o : Out(stream.Signature(ncg_record_layout(...)))
        Records: results, burst-read data, traces.
    busy : Out(1)
        High while a command is being processed.

    Raises
    ------
    TypeError
        If ``params`` is not an ``NCGParams``.
    ValueError
        If ``params.lanes`` is not a power of two, or the normalisation is
        ``WeightNorm.MULTIPLICATIVE`` (a per-synapse multiply and divide, not implemented).
    """

    def __init__(self, params: NCGParams) -> None:
        if not isinstance(params, NCGParams):
            raise TypeError(f"params must be an NCGParams, not {params!r}")
        if params.lanes & (params.lanes - 1):
            raise ValueError(f"params.lanes must be a power of two, not {params.lanes!r}")
        if params.effective_norm is WeightNorm.MULTIPLICATIVE:
            raise ValueError("params.norm must be NONE or ADDITIVE in hardware, not "
                             "MULTIPLICATIVE")
        self._params = params
        self._w = NCGWidths(params)
        super().__init__({
            "i": In(stream.Signature(ncg_command_layout(self._w))),
            "o": Out(stream.Signature(ncg_record_layout(self._w))),
            "busy": Out(1),
        })

    @property
    def params(self) -> NCGParams:
        """The integer parameters the core was built for."""
        return self._params

    @property
    def widths(self) -> NCGWidths:
        """Register and datapath widths."""
        return self._w

    @property
    def n_updated(self) -> int:
        """Slots of neurons that one sample may update (``C``, ``N`` or 1 for R-STDP)."""
        cfg = self._params.config
        if cfg.method is Method.RSTDP:
            return 1
        return cfg.class_map.n_classes if cfg.class_wta else cfg.class_map.n_neurons

    def elaborate(self, platform):
        prm, wd = self._params, self._w
        cfg = prm.config
        cm = cfg.class_map
        f_n, n_n, c_n = cfg.n_inputs, cm.n_neurons, cm.n_classes
        m_n, n_nt, m_t = cm.neurons_per_class, cm.n_nontarget, cm.n_targets
        p, g_n = prm.lanes, wd.groups
        lp = p.bit_length() - 1
        wb, bb, pb, tb = wd.weight, wd.bin, wd.potential, wd.threshold
        k_bins = prm.time_bins
        tf, af, wf = prm.time_frac, prm.rate_frac, prm.weight_format.frac
        tmax = prm.t_max
        shift = tf + af - wf - ROUND_BITS
        w_lo, w_hi = prm.w_range
        thr_fmt = prm.threshold_format
        n_upd = self.n_updated
        method, reg_mode = cfg.method, cfg.regulation
        wta = cfg.class_wta and method is not Method.RSTDP
        norm = prm.effective_norm
        rounding = prm.weight_format.rounding
        dropout = cfg.dropout > 0
        regulated = reg_mode in (Regulation.CR1, Regulation.CR2) and m_t >= 2
        m = Module()

        # --- memories -------------------------------------------------------------------
        silent_word = sum(k_bins << (lane * bb) for lane in range(p))
        m.submodules.weights = wmem = Memory(shape=unsigned(p * wb), depth=max(2, n_n * g_n),
                                             init=[], attrs=NO_RW_CHECK)
        m.submodules.in_bins = bmem = Memory(shape=unsigned(p * bb), depth=max(2, g_n),
                                             init=[silent_word] * max(2, g_n),
                                             attrs=NO_RW_CHECK)
        m.submodules.events = emem = Memory(shape=unsigned(wd.feature + bb),
                                            depth=max(2, f_n), init=[], attrs=NO_RW_CHECK)
        m.submodules.theta = tmem = Memory(shape=signed(tb), depth=max(2, n_n), init=[],
                                           attrs=NO_RW_CHECK)
        m.submodules.theta_t = ttmem = Memory(shape=signed(tb), depth=max(2, n_n), init=[],
                                              attrs=NO_RW_CHECK)
        norm_bits = pb + 1
        m.submodules.norm = nmem = Memory(shape=unsigned(norm_bits), depth=max(2, n_n),
                                          init=[], attrs=NO_RW_CHECK)
        slot_bits = wd.neuron + bb + 1
        m.submodules.slots = umem = Memory(shape=unsigned(slot_bits), depth=max(2, n_upd),
                                           init=[], attrs=NO_RW_CHECK)
        w_rd, w_wr = _ReadReg(m, wmem, "w_rd"), wmem.write_port()
        b_rd, b_wr = _ReadReg(m, bmem, "b_rd"), bmem.write_port(granularity=bb)
        e_rd, e_wr = _ReadReg(m, emem, "e_rd"), emem.write_port()
        t_rd, t_wr = _ReadReg(m, tmem, "t_rd"), tmem.write_port()
        tt_rd, tt_wr = _ReadReg(m, ttmem, "tt_rd"), ttmem.write_port()
        n_rd, n_wr = _ReadReg(m, nmem, "n_rd"), nmem.write_port()
        u_rd, u_wr = _ReadReg(m, umem, "u_rd"), umem.write_port()

        # |d±| < 2**(WF+12) from the products (|e| < 2**(TF+1), |A| < 8); the additive
        # normalisation offset adds less than that plus 2**(W+8)
        d_bits = max(wf + 12, wb + 8) + 3
        div_bits_num = max(pb + 2 + ROUND_BITS, index_bits(f_n + 1) + 1 + d_bits,
                           tf + 2 + index_bits(n_upd + 1)) + 2
        m.submodules.div = div = FloorDivider(
            dividend_bits=div_bits_num, divisor_bits=index_bits(max(f_n, n_upd) + 1))

        # --- host registers -------------------------------------------------------------
        mode = Signal(2)
        train, trace = mode[0], mode[1]
        rate_regs = {r: Signal(signed(wd.rate), name=r.name.lower()) for r in (
            NCGReg.A_PLUS, NCGReg.A_MINUS, NCGReg.ANTI_A_PLUS, NCGReg.ANTI_A_MINUS)}
        eta_win = Signal(tb)
        eta_lose = Signal(tb)
        g_t = Signal(wd.gap)
        g_nt = Signal(wd.gap)
        lanes = [Signal(LFSR24.width, name=f"lfsr{q}", init=1) for q in range(p + 1)]

        # --- command / sample registers ----------------------------------------------------
        cmd = self.i.payload
        n_events = Signal(range(f_n + 1))
        label = Signal(range(max(2, c_n)))
        sample_cycles = Signal(32)
        m.d.sync += sample_cycles.eq(sample_cycles + 1)

        # burst read
        rd_space = Signal(3)
        rd_addr = Signal(wd.index + 1)
        rd_left = Signal(wd.value + 1)
        rd_valid = Signal()
        rd_index = Signal(wd.index)
        rd_en = Signal()
        lfsr_rd = Signal(LFSR24.width)

        # forward pass
        j = Signal(range(n_n + 1))
        pos = Signal(range(max(2, m_n)))
        grp = Signal(range(max(2, c_n + 1)))
        wbase = Signal(range(max(2, n_n * g_n + 1)))
        thr = Signal(signed(tb))
        thr_min = Signal(signed(tb))
        v = Signal(pb)
        prev_bin = Signal(bb)
        have_prev = Signal()
        issue = Signal(range(f_n + 1))
        s1_valid, s1_last = Signal(), Signal()
        s2_valid, s2_last = Signal(), Signal()
        s2_lane = Signal(max(1, lp))
        s2_bin = Signal(bb)
        nt = Signal(bb)                       # neuron result: bin (K = none), potential
        nv = Signal(pb)

        # winners: global (prediction / R-STDP), group (WTA slot), regulation
        gb_j, gb_t, gb_v = Signal(wd.neuron), Signal(bb), Signal(pb)
        gb_cls, gb_tgt = Signal(range(max(2, c_n))), Signal()
        gr_j, gr_t, gr_v, gr_tgt = Signal(wd.neuron), Signal(bb), Signal(pb), Signal()
        cr_j, cr_t, cr_v = Signal(wd.neuron), Signal(bb), Signal(pb)
        cr_first = Signal(wd.neuron)
        tau_sum = Signal(tf + 2 + index_bits(n_upd + 1))
        n_fired = Signal(range(n_upd + 1))

        # learning
        t_base = Signal(signed(tf + 3))
        # target times t_base - g_t and t_base + g_nt (full width), registered in SLOT_RD
        t_early = Signal((t_base - g_t).shape())
        t_late = Signal((t_base + g_nt).shape())
        slot = Signal(range(n_upd + 1))
        reg_k = Signal(range(m_t + 1))
        reg_idx = Signal(wd.neuron)
        reg_step = Signal(signed(tb + 2))
        row = Signal(wd.neuron)
        row_bin = Signal(bb)
        row_base = Signal(range(max(2, n_n * g_n + 1)))
        err = Signal(signed(tf + 3))
        dp, dm = Signal(signed(d_bits), name="d_plus"), Signal(signed(d_bits), name="d_minus")
        # registered multiplier operands and products (|e| A+-, then the normalisation terms)
        mul_e = Signal(tf + 3)
        mul_p, mul_m = Signal(signed(wd.rate)), Signal(signed(wd.rate))
        prod_bits = max(tf + 3 + wd.rate, f_n.bit_length() + 1 + d_bits) + 1
        prod_p, prod_m = Signal(signed(prod_bits)), Signal(signed(prod_bits))
        word_k = Signal(range(g_n + 1))
        x_valid = Signal()
        x_k = Signal(range(g_n + 1))
        y_valid, y_k = Signal(), Signal(range(g_n + 1))
        row_sum = Signal(pb + 1)
        n_causal = Signal(range(f_n + 1))
        clr_k = Signal(range(g_n + 1))

        def lane_ok(k, lane):
            # whether lane ``lane`` of word ``k`` (``k < G``) holds a feature, ``kP + lane < F``:
            # only lanes of the last word can be padding
            if (g_n - 1) * p + lane < f_n:
                return Const(1, 1)
            return k != g_n - 1

        # The row update uses d+- saturated to dn_bits = RB + W + 1 signed bits,
        # [-2**(RB+W), 2**(RB+W) - 1]: a value above gives dw >= 2**W - 1 under every
        # rounding (the saturated one too), so w + dw >= 2**W - 1 >= w_max for any stored
        # w >= 0; a value below gives dw <= -2**W (the saturated one too), so w + dw < 0 <=
        # w_min. Both clip to the same weight, and the per-lane datapath is W + 2 bits wide.
        dn_bits = ROUND_BITS + wb + 1

        def sat_d(x):
            lo, hi = -(1 << (dn_bits - 1)), (1 << (dn_bits - 1)) - 1
            return Mux(x < lo, lo, Mux(x > hi, hi, x))

        # registered every cycle: d+- are final when UPD starts, whose first cycle uses
        # no d (the first word's X stage is its second cycle)
        dp_sat = Signal(signed(dn_bits), name="d_plus_sat")
        dm_sat = Signal(signed(dn_bits), name="d_minus_sat")
        m.d.sync += [dp_sat.eq(sat_d(dp)), dm_sat.eq(sat_d(dm))]

        def better(t_a, v_a, t_b, v_b):
            return (t_a < t_b) | ((t_a == t_b) & (v_a > v_b))

        def tau(b):
            return Mux(b < k_bins, b << (tf - prm.log2_bins), tmax)

        # --- default port wiring ------------------------------------------------------------
        m.d.comb += [w_rd.en.eq(1), t_rd.en.eq(1), tt_rd.en.eq(1), n_rd.en.eq(1)]

        # event/bin memory writes from the command stream
        feat = cmd.index[:wd.feature]
        m.d.comb += [
            e_wr.addr.eq(n_events),
            e_wr.data.eq(Cat(feat, cmd.value[:bb])),
        ]
        ev_lane = feat[:lp] if lp else Const(0, 1)

        # --- FSM ------------------------------------------------------------------------------
        with m.FSM(name="ncg"):
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid), m.Switch(cmd.op):
                    with m.Case(NCGOp.EVENT):
                        m.d.comb += [e_wr.en.eq(n_events < f_n),
                                     b_wr.addr.eq(feat >> lp),
                                     b_wr.data.eq(cmd.value[:bb].replicate(p))]
                        for lane in range(p):
                            m.d.comb += b_wr.en[lane].eq(ev_lane == lane)
                        m.d.sync += n_events.eq(n_events + 1)
                        with m.If(n_events == 0):
                            m.d.sync += sample_cycles.eq(1)
                    with m.Case(NCGOp.END):
                        with m.If(n_events == 0):
                            m.d.sync += sample_cycles.eq(1)
                        m.d.sync += [label.eq(cmd.value), j.eq(0), pos.eq(0), grp.eq(0),
                                     wbase.eq(0), tau_sum.eq(0), n_fired.eq(0)]
                        m.next = "FWD_START"
                    with m.Case(NCGOp.WRITE):
                        self._host_write(m, cmd, mode, rate_regs, eta_win, eta_lose, g_t,
                                         g_nt, lanes, w_wr, t_wr, tt_wr, n_wr)
                    with m.Case(NCGOp.READ):
                        m.d.sync += [rd_space.eq(cmd.space), rd_addr.eq(cmd.index),
                                     rd_left.eq(cmd.value), rd_valid.eq(0)]
                        m.next = "READ"

            # --- burst readback ---------------------------------------------------------------
            with m.State("READ"):
                m.d.comb += rd_en.eq(~rd_valid | self.o.ready)
                m.d.comb += [w_rd.en.eq(rd_en), t_rd.en.eq(rd_en), tt_rd.en.eq(rd_en),
                             n_rd.en.eq(rd_en)]
                m.d.comb += [w_rd.addr.eq(rd_addr), t_rd.addr.eq(rd_addr),
                             tt_rd.addr.eq(rd_addr), n_rd.addr.eq(rd_addr)]
                with m.If(rd_en):
                    with m.If(rd_left != 0):
                        m.d.sync += [rd_addr.eq(rd_addr + 1), rd_left.eq(rd_left - 1),
                                     rd_valid.eq(1), rd_index.eq(rd_addr),
                                     lfsr_rd.eq(Array(lanes)[rd_addr[:index_bits(p + 1)]])]
                    with m.Else():
                        m.d.sync += rd_valid.eq(0)
                        with m.If(~rd_valid):
                            m.next = "IDLE"
                m.d.comb += [self.o.valid.eq(rd_valid), self.o.payload.kind.eq(NCGKind.DATA),
                             self.o.payload.space.eq(rd_space),
                             self.o.payload.index.eq(rd_index)]
                with m.Switch(rd_space):
                    with m.Case(NCGSpace.WEIGHT):
                        m.d.comb += self.o.payload.value.eq(w_rd.data)
                    with m.Case(NCGSpace.THETA):
                        m.d.comb += self.o.payload.value.eq(t_rd.data.as_unsigned())
                    with m.Case(NCGSpace.THETA_TRAIN):
                        m.d.comb += self.o.payload.value.eq(tt_rd.data.as_unsigned())
                    with m.Case(NCGSpace.NORM):
                        m.d.comb += self.o.payload.value.eq(n_rd.data)
                    with m.Case(NCGSpace.LFSR):
                        m.d.comb += self.o.payload.value.eq(lfsr_rd)

            # --- forward pass ---------------------------------------------------------------
            with m.State("FWD_START"):
                # threshold and normalisation reads of neuron j are in flight
                m.d.comb += [t_rd.addr.eq(j), tt_rd.addr.eq(j)]
                m.next = "FWD_LOAD"

            with m.State("FWD_LOAD"):
                m.d.comb += [t_rd.addr.eq(j), tt_rd.addr.eq(j)]
                is_tgt = pos >= n_nt
                if reg_mode is Regulation.CR2:
                    use_t = train & (grp == label) & is_tgt
                elif reg_mode is Regulation.CR1:
                    use_t = train
                else:
                    use_t = Const(0, 1)
                m.d.sync += [thr.eq(Mux(use_t, tt_rd.data, t_rd.data)),
                             thr_min.eq(Mux((j == 0) | (t_rd.data < thr_min), t_rd.data,
                                            thr_min)),
                             v.eq(0), have_prev.eq(0), issue.eq(0), s1_valid.eq(0),
                             s2_valid.eq(0), nt.eq(k_bins), nv.eq(0)]
                active = Signal()
                if dropout:
                    nxt = lfsr_advance_value(lanes[p], LFSR24, steps=LFSR24.draw_bits)
                    with m.If(train):
                        m.d.sync += lanes[p].eq(nxt)
                    m.d.comb += active.eq(~train | (nxt[:8] >= prm.dropout))
                else:
                    m.d.comb += active.eq(1)
                with m.If(active & (n_events != 0)):
                    m.next = "FWD_RUN"
                with m.Else():
                    m.next = "FWD_DONE"

            with m.State("FWD_RUN"):
                # stage 0: event read
                m.d.comb += e_rd.addr.eq(issue)
                with m.If(issue < n_events):
                    m.d.sync += [issue.eq(issue + 1), s1_valid.eq(1),
                                 s1_last.eq(issue == n_events - 1)]
                with m.Else():
                    m.d.sync += s1_valid.eq(0)
                # stage 1: weight read
                e_feat = e_rd.data[:wd.feature]
                e_bin = e_rd.data[wd.feature:]
                m.d.comb += w_rd.addr.eq(wbase + (e_feat >> lp))
                m.d.sync += [s2_valid.eq(s1_valid), s2_last.eq(s1_last), s2_bin.eq(e_bin)]
                if lp:
                    m.d.sync += s2_lane.eq(e_feat[:lp])
                # stage 2: accumulate, threshold check at bin changes
                w_ev = w_rd.data.word_select(s2_lane, wb) if lp else w_rd.data[:wb]
                with m.If(s2_valid):
                    with m.If(have_prev & (s2_bin != prev_bin) & (v > thr)):
                        m.d.sync += [nt.eq(prev_bin), nv.eq(v)]
                        m.next = "FWD_DONE"
                    with m.Else():
                        m.d.sync += [v.eq(v + w_ev), prev_bin.eq(s2_bin), have_prev.eq(1)]
                        with m.If(s2_last):
                            m.next = "FWD_FINAL"

            with m.State("FWD_FINAL"):
                m.d.sync += [nt.eq(Mux(v > thr, prev_bin, k_bins)), nv.eq(v)]
                m.next = "FWD_DONE"

            with m.State("FWD_DONE"):
                is_tgt = pos >= n_nt
                go = Signal()
                m.d.comb += go.eq(~trace | self.o.ready)
                m.d.comb += [self.o.valid.eq(trace), self.o.payload.kind.eq(NCGKind.TRACE),
                             self.o.payload.index.eq(j),
                             self.o.payload.value.eq(Cat(nt, nv))]
                # group winner including neuron j
                new_gr = (pos == 0) | better(nt, nv, gr_t, gr_v)
                ng_j, ng_t = Mux(new_gr, j, gr_j), Mux(new_gr, nt, gr_t)
                ng_tgt = Mux(new_gr, is_tgt, gr_tgt)
                with m.If(go):
                    with m.If((j == 0) | better(nt, nv, gb_t, gb_v)):
                        m.d.sync += [gb_j.eq(j), gb_t.eq(nt), gb_v.eq(nv), gb_cls.eq(grp),
                                     gb_tgt.eq(is_tgt)]
                    with m.If(new_gr):
                        m.d.sync += [gr_j.eq(j), gr_t.eq(nt), gr_v.eq(nv), gr_tgt.eq(is_tgt)]
                    in_cr = (grp == label) & is_tgt
                    with m.If(in_cr & ((pos == n_nt) | better(nt, nv, cr_t, cr_v))):
                        m.d.sync += [cr_j.eq(j), cr_t.eq(nt), cr_v.eq(nv)]
                    with m.If(in_cr & (pos == n_nt)):
                        m.d.sync += cr_first.eq(j)
                    if method is not Method.RSTDP:
                        if wta:
                            write = pos == m_n - 1
                            s_j, s_t, s_tgt, s_addr = ng_j, ng_t, (grp == label) & ng_tgt, grp
                        else:
                            write = Const(1, 1)
                            s_j, s_t, s_tgt, s_addr = j, nt, (grp == label) & is_tgt, j
                        m.d.comb += [u_wr.addr.eq(s_addr), u_wr.en.eq(write),
                                     u_wr.data.eq(Cat(s_j[:wd.neuron], s_t, s_tgt))]
                        with m.If(write & (s_t < k_bins)):
                            m.d.sync += [tau_sum.eq(tau_sum + tau(s_t)),
                                         n_fired.eq(n_fired + 1)]
                    m.d.sync += [j.eq(j + 1), wbase.eq(wbase + g_n)]
                    with m.If(pos == m_n - 1):
                        m.d.sync += [pos.eq(0), grp.eq(grp + 1)]
                    with m.Else():
                        m.d.sync += pos.eq(pos + 1)
                    with m.If(j == n_n - 1):
                        m.d.sync += reg_k.eq(0)
                        with m.If(~train):
                            m.next = "CLEAR"
                        if regulated:
                            with m.Elif((eta_win != 0) | (eta_lose != 0)):
                                m.next = "REG_RD"
                        with m.Else():
                            m.next = "ERR_START"
                    with m.Else():
                        m.next = "FWD_START"

            # --- competition regulation -------------------------------------------------------
            # REG_RD registers the address and the step (+eta_win for the winner, -eta_lose
            # otherwise), so REG_WR is one add, the CR-2 floor and the saturation
            with m.State("REG_RD"):
                idx = cr_first + reg_k
                m.d.comb += tt_rd.addr.eq(idx)
                m.d.sync += [reg_idx.eq(idx),
                             reg_step.eq(Mux(idx == cr_j, eta_win, -eta_lose))]
                m.next = "REG_WR"
            with m.State("REG_WR"):
                idx = reg_idx
                wide = signed(tb + 3)
                new = Signal(wide)
                m.d.comb += new.eq(tt_rd.data + reg_step)
                clamped = Signal(wide)
                if reg_mode is Regulation.CR2:
                    m.d.comb += clamped.eq(Mux(new < thr_min, thr_min, new))
                else:
                    m.d.comb += clamped.eq(new)
                sat = Mux(clamped > thr_fmt.max_value, thr_fmt.max_value,
                          Mux(clamped < thr_fmt.min_value, thr_fmt.min_value, clamped))
                m.d.comb += [tt_wr.addr.eq(idx), tt_wr.data.eq(sat), tt_wr.en.eq(1)]
                m.d.sync += reg_k.eq(reg_k + 1)
                with m.If(reg_k == m_t - 1):
                    m.next = "ERR_START"
                with m.Else():
                    m.next = "REG_RD"

            # --- errors -------------------------------------------------------------------------
            with m.State("ERR_START"):
                m.d.sync += slot.eq(0)
                if method is Method.RSTDP:
                    reward = (gb_cls == label) & gb_tgt
                    m.d.sync += [row.eq(gb_j), row_bin.eq(gb_t),
                                 err.eq(Mux(reward, tmax, -tmax))]
                    m.next = "ROW_MUL"
                else:
                    cap = tmax - g_nt
                    with m.If(n_fired != 0):
                        m.d.comb += [div.start.eq(1), div.dividend.eq(tau_sum),
                                     div.divisor.eq(n_fired)]
                        m.next = "ERR_DIV"
                    with m.Else():
                        m.d.sync += t_base.eq(cap)
                        m.next = "SLOT_RD"
            with m.State("ERR_DIV"):
                cap = tmax - g_nt
                with m.If(~div.busy):
                    m.d.sync += t_base.eq(Mux(div.quotient < cap, div.quotient, cap))
                    m.next = "SLOT_RD"
            with m.State("SLOT_RD"):
                m.d.comb += u_rd.addr.eq(slot)
                m.d.sync += [t_early.eq(t_base - g_t), t_late.eq(t_base + g_nt)]
                m.next = "SLOT"
            with m.State("SLOT"):
                s_j = u_rd.data[:wd.neuron]
                s_b = u_rd.data[wd.neuron:wd.neuron + bb]
                s_tgt = u_rd.data[-1]
                tau_j = Signal(signed(tf + 3))
                m.d.comb += tau_j.eq(tau(s_b))
                tgt_time = Signal(signed(tf + 3))
                early, late = t_early, t_late
                if method is Method.SSTDP:
                    m.d.comb += tgt_time.eq(Mux(s_tgt, Mux(tau_j < early, tau_j, early),
                                                Mux(tau_j > late, tau_j, late)))
                else:
                    m.d.comb += tgt_time.eq(Mux(s_tgt, early, late))
                e_j = tau_j - tgt_time
                with m.If(tau_j != tgt_time):
                    m.d.sync += [row.eq(s_j), row_bin.eq(s_b), err.eq(e_j)]
                    m.next = "ROW_MUL"
                with m.Else():
                    m.d.sync += slot.eq(slot + 1)
                    with m.If(slot == n_upd - 1):
                        m.next = "CLEAR"
                    with m.Else():
                        m.next = "SLOT_RD"

            # --- row update -----------------------------------------------------------------
            # d+- = (|e| A+-) >> shift in three registered steps: operands, product, shift
            # (no multiplier between two other blocks of logic)
            with m.State("ROW_MUL"):
                pos_e = err > 0
                m.d.sync += [
                    mul_e.eq(Mux(err < 0, -err, err)),
                    mul_p.eq(Mux(pos_e, rate_regs[NCGReg.A_PLUS], rate_regs[NCGReg.ANTI_A_PLUS])),
                    mul_m.eq(Mux(pos_e, rate_regs[NCGReg.A_MINUS],
                                 rate_regs[NCGReg.ANTI_A_MINUS])),
                    row_base.eq(row * g_n), word_k.eq(0), x_valid.eq(0),
                    row_sum.eq(0), n_causal.eq(0)]
                m.next = "ROW_PROD"
            with m.State("ROW_PROD"):
                m.d.sync += [prod_p.eq(mul_e * mul_p), prod_m.eq(mul_e * mul_m)]
                m.next = "ROW_SHIFT"
            with m.State("ROW_SHIFT"):
                m.d.sync += [dp.eq(prod_p >> shift), dm.eq(prod_m >> shift)]
                m.d.comb += n_rd.addr.eq(row)
                if norm is WeightNorm.ADDITIVE:
                    m.next = "PRE"
                else:
                    m.next = "UPD"

            # additive normalisation: row sum and causal count, then the offset m_j
            with m.State("PRE"):
                m.d.comb += [n_rd.addr.eq(row), w_rd.addr.eq(row_base + word_k),
                             b_rd.addr.eq(word_k)]
                with m.If(word_k < g_n):
                    m.d.sync += word_k.eq(word_k + 1)
                m.d.sync += [x_valid.eq(word_k < g_n), x_k.eq(word_k)]
                with m.If(x_valid):
                    lane_sum = 0
                    lane_cnt = 0
                    for lane in range(p):
                        ok = lane_ok(x_k, lane)
                        wl = w_rd.data.word_select(lane, wb)
                        bl = b_rd.data.word_select(lane, bb)
                        lane_sum = lane_sum + Mux(ok, wl, 0)
                        lane_cnt = lane_cnt + (ok & (bl <= row_bin))
                    m.d.sync += [row_sum.eq(row_sum + lane_sum),
                                 n_causal.eq(n_causal + lane_cnt)]
                with m.If(~x_valid & (word_k == g_n)):
                    m.next = "NORM_PROD"
            with m.State("NORM_PROD"):    # the two products registered before the sum
                m.d.comb += n_rd.addr.eq(row)
                m.d.sync += [prod_p.eq(n_causal * dp), prod_m.eq((f_n - n_causal) * dm)]
                m.next = "NORM"
            with m.State("NORM"):
                m.d.comb += n_rd.addr.eq(row)
                num = ((row_sum - n_rd.data) << ROUND_BITS) + prod_p + prod_m
                m.d.comb += [div.start.eq(1), div.dividend.eq(num), div.divisor.eq(f_n)]
                m.next = "NORM_DIV"
            with m.State("NORM_DIV"), m.If(~div.busy):
                m.d.sync += [dp.eq(dp - div.quotient), dm.eq(dm - div.quotient),
                             word_k.eq(0), x_valid.eq(0)]
                m.next = "UPD"

            # read-modify-write of the row, P synapses per cycle, in two stages: X (words
            # arrive: causality bit, d+- choice, rounding) and Y (add, clip, write back)
            with m.State("UPD"):
                # bins are read in X, the weight word a cycle later so that it arrives in Y
                m.d.comb += [w_rd.addr.eq(row_base + x_k), b_rd.addr.eq(word_k)]
                with m.If(word_k < g_n):
                    m.d.sync += word_k.eq(word_k + 1)
                m.d.sync += [x_valid.eq(word_k < g_n), x_k.eq(word_k),
                             y_valid.eq(x_valid), y_k.eq(x_k)]
                new_word = []
                for lane in range(p):
                    bl = b_rd.data.word_select(lane, bb)
                    d = Mux(bl <= row_bin, dp_sat, dm_sat)
                    if rounding is Rounding.STOCHASTIC:
                        nxt = lfsr_advance_value(lanes[lane], LFSR24, steps=LFSR24.draw_bits)
                        with m.If(x_valid):
                            m.d.sync += lanes[lane].eq(nxt)
                        dw = (d + nxt[:ROUND_BITS]) >> ROUND_BITS
                    elif rounding is Rounding.FLOOR:
                        dw = d >> ROUND_BITS
                    else:
                        q = d >> ROUND_BITS
                        rem = d[:ROUND_BITS]
                        half = 1 << (ROUND_BITS - 1)
                        up = (rem > half) | ((rem == half) & q[0])
                        dw = q + up
                    # |dw| <= 2**W and 0 <= w < 2**W: the sum fits W + 2 signed bits
                    y_dw = Signal(signed(wb + 2), name=f"upd_dw{lane}")
                    m.d.sync += y_dw.eq(dw)
                    y_w = w_rd.data.word_select(lane, wb)
                    s = Signal(signed(wb + 2), name=f"upd_sum{lane}")
                    m.d.comb += s.eq(y_w + y_dw)
                    clipped = Mux(s < w_lo, w_lo, Mux(s > w_hi, w_hi, s))
                    ok = lane_ok(y_k, lane)
                    new_word.append(Mux(ok, clipped[:wb], y_w))
                m.d.comb += [w_wr.addr.eq(row_base + y_k), w_wr.data.eq(Cat(*new_word)),
                             w_wr.en.eq(y_valid)]
                with m.If(~x_valid & ~y_valid & (word_k == g_n)):
                    m.d.sync += slot.eq(slot + 1)
                    with m.If(slot == n_upd - 1):
                        m.next = "CLEAR"
                    with m.Else():
                        m.next = "SLOT_RD"

            # --- end of sample ------------------------------------------------------------------
            with m.State("CLEAR"):
                m.d.comb += [b_wr.addr.eq(clr_k), b_wr.data.eq(silent_word),
                             b_wr.en.eq((1 << p) - 1)]
                m.d.sync += clr_k.eq(clr_k + 1)
                with m.If(clr_k == g_n - 1):
                    m.d.sync += [clr_k.eq(0), n_events.eq(0)]
                    m.next = "RESULT"
            with m.State("RESULT"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.kind.eq(NCGKind.RESULT),
                             self.o.payload.index.eq(gb_cls),
                             self.o.payload.value.eq(sample_cycles)]
                with m.If(self.o.ready):
                    m.next = "IDLE"

        m.d.comb += self.busy.eq(~self.i.ready)
        return m

    def _host_write(self, m, cmd, mode, rate_regs, eta_win, eta_lose, g_t, g_nt, lanes,
                    w_wr, t_wr, tt_wr, n_wr):
        """Decode one ``WRITE`` command (combinational write enables, register updates)."""
        p = self._params.lanes
        with m.Switch(cmd.space):
            with m.Case(NCGSpace.REG), m.Switch(cmd.index):
                with m.Case(NCGReg.MODE):
                    m.d.sync += mode.eq(cmd.value)
                for reg, sig in rate_regs.items():
                    with m.Case(reg):
                        m.d.sync += sig.eq(cmd.value)
                for reg, sig in ((NCGReg.ETA_WIN, eta_win), (NCGReg.ETA_LOSE, eta_lose),
                                 (NCGReg.G_T, g_t), (NCGReg.G_NT, g_nt)):
                    with m.Case(reg):
                        m.d.sync += sig.eq(cmd.value)
            with m.Case(NCGSpace.WEIGHT):
                m.d.comb += [w_wr.addr.eq(cmd.index), w_wr.data.eq(cmd.value), w_wr.en.eq(1)]
            with m.Case(NCGSpace.THETA):
                m.d.comb += [t_wr.addr.eq(cmd.index), t_wr.data.eq(cmd.value), t_wr.en.eq(1)]
            with m.Case(NCGSpace.THETA_TRAIN):
                m.d.comb += [tt_wr.addr.eq(cmd.index), tt_wr.data.eq(cmd.value),
                             tt_wr.en.eq(1)]
            with m.Case(NCGSpace.NORM):
                m.d.comb += [n_wr.addr.eq(cmd.index), n_wr.data.eq(cmd.value), n_wr.en.eq(1)]
            with m.Case(NCGSpace.LFSR), m.Switch(cmd.index):
                for q in range(p + 1):
                    with m.Case(q):
                        m.d.sync += lanes[q].eq(cmd.value)
