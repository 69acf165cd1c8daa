"""Event-driven convolution core with weight sharing and spike pooling in address space.

The equations are those of ``sim.conv`` (the convolution's synaptic input ``I`` and the OR
pooling) and ``sim.lif`` (the neuron update); this core implements them and is proven equal to
them by ``tests/hw/test_conv_*`` and ``tests/rtl/conv``.

Organisation (``P`` = ``config.lanes`` lanes over output channels, ``G = ceil(C_out / P)``
channel groups, ``E = H_out * W_out`` output positions)::

    weights  SplitMemory  C_in*K*K*G words of P weights   word ((c*K+ky)*K+kx)*G + g
    state    SplitMemory  E*G words of P state_bits lanes  word (oy*W_out+ox)*G + g:
                                                          leak(v[t-1]) + b + (I[t] - b so far)
    order    PassCounter  the neuron pass order (tables.pass_order), from counters

Both memories are :class:`~spikesmith.hw.common.mem.SplitMemory`: block RAM for the words and
bits that fill whole blocks, LUT RAM for the rest where the target has it (one read cycle
either way).

As in the dense core (:mod:`spikesmith.hw.lif.lif_core`) the synaptic input accumulates straight
onto the leaked membrane of the previous timestep, in ``state_bits = max(membrane_bits,
acc_bits) + 1`` bits that hold ``leak(v) + I`` exactly (the sum ``sim.lif.charge``
saturates); the bias is part of ``I`` and is written with the leaked membrane by the neuron
pass (and is the memory's initial contents), so each state word is one per-neuron accumulator
that the pass reads once, saturates, fires, resets and re-initialises.

Accumulate phase: :class:`~.tap_generator.TapGenerator` turns each input event into one update
(weight word, state word) per cycle, ``P`` synaptic operations each::

    S0  update from the generator: weight read address
    S1  weight word arrives; lane products w * value (direct current) or w (spikes);
        state read address
    S2  state word arrives and is registered (state_q)
    S3  sum = (forwarded or read state) + product, registered
    S4  state write of the registered sum

The state read port is not transparent and its data is registered once more (the read data of
a deep memory comes through the block RAMs' output multiplexer; this keeps it off every logic
path), so an update misses the writes of the three updates ahead of it: S3 takes its operand
from the newest of their sums when one is for the same state word (compares registered at
S2), so back-to-back updates of one word (a 1x1 kernel, consecutive events) are exact without
stalls.

Neuron pass (after an end-of-timestep marker, once the accumulate pipeline is empty; groups
``g`` outer, positions in pass order inner, one state word per cycle)::

    Q0  the pass counter's entry is registered (position counter steps)
    N0  its state word pos*G + g registered
    N1  state read address
    N2  state word arrives and is registered (state_q)
    N3  saturate to the membrane format (end of sim.lif.charge)
    N4  fire compare and reset subtract (sim.lif.fire)
    N5  reset mux (sim.lif.reset); spike mask
    N6  readback record; pooling: OR of the window's spike masks, queued for the serialiser at
        the window's last position when non-zero (without pooling every position is its own
        window); leak(v) + b registered (b after a sample's last timestep)

With per-channel thresholds (``LIFParams.channel_thresholds``) N3 also registers the lanes'
thresholds of the group from a table (``tables.threshold_table``) for the compare and the
subtraction at N4. With an input shift table (``LIFParams.input_shifts``) a timestep counter
(advanced by each end-of-timestep marker, back to 0 after a sample's last timestep or a
``clear``) selects ``e[t]``: S1 shifts each lane product left by it and N6 the bias it writes
for the next timestep (the bias is part of ``I``, ``sim.lif``); the initial state words and
the clear write ``b << e[0]``. Without these tables none of this logic is elaborated.
    N7  state write

Each pooled spike ``(o, py, px)`` is thus emitted once per timestep, by construction of the
pass order (no bitmap needed). The issue stalls while the spike queue could overflow. The
serialiser emits one spike event ``(c, y, x)`` per cycle, then the end-of-timestep marker.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lif import ResetMode

from ..common.bits import at_most_one, at_most_two
from ..common.mem import NO_RW_CHECK, SplitMemory
from ..common.streams import index_bits
from ..lif.neuron import after_reset, fires, leaked, reset_subtracted, saturate_membrane
from .config import ConvCoreConfig
from .pass_counter import PassCounter
from .streams import conv_readback_layout, feature_event_layout, input_event_layout
from .tables import bias_words, pack_weight_words, pass_order, threshold_table
from .tap_generator import TapGenerator

__all__ = ["ACCUMULATE_LATENCY", "PASS_LATENCY", "SPIKE_QUEUE_DEPTH", "ConvCore"]

#: Entries of the spike queue between the neuron pass and the serialiser.
SPIKE_QUEUE_DEPTH = 16
#: Cycles from a neuron-pass issue (Q0) to the stage that writes the spike queue (N6).
PASS_LATENCY = 7
#: Cycles an update stays in the accumulate pipeline after the generator hands it over
#: (S1..S4).
ACCUMULATE_LATENCY = 4


@dataclass(frozen=True, eq=False, kw_only=True)
class _ReadPort:
    """The read port of a :class:`~spikesmith.hw.common.mem.SplitMemory`."""

    addr: Signal
    data: Signal


@dataclass(frozen=True, eq=False, kw_only=True)
class _WritePort:
    """The write port of a :class:`~spikesmith.hw.common.mem.SplitMemory` (one enable bit)."""

    addr: Signal
    data: Signal
    en: Signal


@dataclass(frozen=True, eq=False, kw_only=True)
class _Control:
    """The phase registers of one elaborated :class:`ConvCore` and two in-flight flags."""

    accumulating: Signal         # taking updates from the tap generator
    draining: Signal             # marker taken, accumulate pipeline emptying
    passing: Signal              # neuron pass issue
    flushing: Signal             # waiting for the pass pipeline and serialiser, then marker
    last_ts: Signal              # the marker closing this timestep had last = 1
    zeroing: Signal              # clear: writing the bias words to every state word
    zero_addr: Signal
    zero_g: Signal
    acc_busy: Signal             # S1..S4 hold an update
    pass_busy: Signal            # N0..N7 hold a state word
    write_busy: Signal           # N7 holds a state word
    #: Timestep within the sample (only with an input shift table, ``LIFParams.input_shifts``):
    #: the one accumulating, and during its neuron pass already the next one.
    ts: Signal | None = None


class ConvCore(wiring.Component):
    """One convolution layer of IF/LIF neurons, event-driven, ``P`` lanes over output channels.

    Parameters
    ----------
    config : ConvCoreConfig
        Weights and bias (initial memory contents), shapes, kernel, stride, padding, pooling,
        widths, neuron parameters, lanes.

    Members
    -------
    i : In(stream.Signature(feature_event_layout(in_shape)))
        Input events ``(c, y, x)`` (with ``value`` for direct current) and end-of-timestep
        markers (:mod:`.streams`).
    o : Out(stream.Signature(feature_event_layout(emit_shape)))
        The timestep's output spikes ``(o, oy, ox)``, or ``(o, py, px)`` with pooling, each
        once, then the end-of-timestep marker (with the closing marker's ``last``).
    readback : Out(stream.Signature(conv_readback_layout(...), always_ready=True))
        One record per state word per timestep (membranes after reset, and spikes), in pass
        order; it never stalls the core, so it may be left unconnected.
    clear : In(1)
        Pulse while the core is idle (``busy`` low, between samples) to restart from ``v = 0``:
        the core then writes the bias words to its ``E*G`` state words. Samples ended by a
        ``last`` marker need no ``clear``.
    busy : Out(1)
        High while events or a neuron pass are in flight.

    Raises
    ------
    TypeError
        If ``config`` is not a ``ConvCoreConfig``.
    """

    def __init__(self, config: ConvCoreConfig):
        if not isinstance(config, ConvCoreConfig):
            raise TypeError(f"config must be a ConvCoreConfig, not {config!r}")
        self._config = config
        super().__init__({
            "i": In(stream.Signature(input_event_layout(in_shape=config.in_shape,
                                                        input_bits=config.input_bits))),
            "o": Out(stream.Signature(feature_event_layout(config.emit_shape))),
            "readback": Out(stream.Signature(conv_readback_layout(
                state_words=config.state_words, membrane_bits=config.lif.membrane.width,
                lanes=config.lanes), always_ready=True)),
            "clear": In(1),
            "busy": Out(1),
        })

    @property
    def config(self) -> ConvCoreConfig:
        """The configuration the core was built from."""
        return self._config

    def elaborate(self, platform):
        """Build the core: generator, memories, then one method per phase."""
        m = Module()
        cfg = self._config
        m.submodules.taps = taps = TapGenerator(cfg)
        wiring.connect(m, wiring.flipped(self.i), taps.i)
        # both memories: block RAM for whole rows of blocks, the last words in LUT RAM where the
        # target has it (hw.common.mem.SplitMemory)
        m.submodules.weights = weights = SplitMemory(
            width=cfg.lanes * cfg.weight_bits, depth=cfg.weight_words,
            init=pack_weight_words(cfg), writable=False)
        first = bias_words(cfg, shift=cfg.lif.input_shift(0))
        init = [first[a % cfg.groups] for a in range(cfg.state_words)]
        # a read of the word being written is never used: S2 forwards the S3/S4 sum instead,
        # and the pass reads each word four cycles before writing it (hw.common.mem)
        m.submodules.state = state = SplitMemory(
            width=cfg.lanes * cfg.state_bits, depth=cfg.state_words, init=init,
            attrs=NO_RW_CHECK)
        m.submodules.order = order = PassCounter(cfg)
        m.submodules.spike_fifo = fifo = SyncFIFO(
            width=cfg.lanes + index_bits(cfg.groups) + len(self.o.payload.y)
            + len(self.o.payload.x) + 1, depth=SPIKE_QUEUE_DEPTH)
        w_rd = _ReadPort(addr=weights.r_addr, data=weights.r_data)
        s_rd = _ReadPort(addr=state.r_addr, data=state.r_data)
        s_wr = _WritePort(addr=state.w_addr, data=state.w_data, en=state.w_en)

        # every read of the state memory is registered once more before use (Fmax: the read
        # data of a deep memory comes through the block RAMs' output multiplexer)
        state_q = Signal(len(s_rd.data))
        m.d.sync += state_q.eq(s_rd.data)
        ctl = self._control(m, taps)
        self._accumulate(m, ctl, taps, w_rd, s_rd, s_wr, state_q)
        self._neuron_pass(m, ctl, fifo, order, s_rd, s_wr, state_q)
        self._serialiser(m, ctl, fifo)
        return m

    # --- control --------------------------------------------------------------------------

    def _control(self, m: Module, taps) -> _Control:
        """Create the phase registers: accumulating -> draining -> passing -> flushing."""
        ctl = _Control(
            accumulating=Signal(init=1), draining=Signal(), passing=Signal(), flushing=Signal(),
            last_ts=Signal(), zeroing=Signal(),
            zero_addr=Signal(index_bits(self._config.state_words)),
            zero_g=Signal(index_bits(self._config.groups)),
            acc_busy=Signal(), pass_busy=Signal(), write_busy=Signal(),
            ts=Signal(range(max(2, len(self._config.lif.input_shifts))))
            if self._config.lif.input_shifts else None,
        )
        m.d.comb += self.busy.eq(~ctl.accumulating | ctl.acc_busy | ctl.zeroing | taps.busy)
        return ctl

    # --- accumulate ------------------------------------------------------------------------

    def _accumulate(self, m: Module, ctl: _Control, taps, w_rd, s_rd, s_wr,
                    state_q) -> None:
        """S0..S4 of the module docstring, the marker intake and the clear."""
        cfg = self._config
        p, wb, sb = cfg.lanes, cfg.weight_bits, cfg.state_bits
        sbits = index_bits(cfg.state_words)
        # S1..S5 (S5 only remembers the item written one cycle before, for the forwarding)
        valid = {k: Signal(name=f"s{k}_valid") for k in range(1, 6)}
        addr = {k: Signal(sbits, name=f"s{k}_addr") for k in range(1, 6)}
        s1_value = Signal(max(1, cfg.input_bits))
        prod_bits = wb + (cfg.input_bits + 1 if cfg.input_bits > 1 else 0)
        prod_bits += max(cfg.lif.input_shifts, default=0)
        s2_prod = [Signal(signed(prod_bits), name=f"s2_prod{j}") for j in range(p)]
        s3_prod = [Signal(signed(prod_bits), name=f"s3_prod{j}") for j in range(p)]
        fw = {k: Signal(name=f"s3_fw{k}") for k in (4, 5, 6)}  # operand from the S<k> sum
        sums = {k: [Signal(signed(sb), name=f"s{k}_sum{j}") for j in range(p)]
                for k in (4, 5, 6)}
        m.d.comb += ctl.acc_busy.eq(valid[1] | valid[2] | valid[3] | valid[4])

        # S0: take updates while accumulating; a marker starts the drain
        take = ctl.accumulating & ~ctl.zeroing & ~self.clear
        m.d.comb += [taps.o.ready.eq(take), w_rd.addr.eq(taps.o.payload.waddr)]
        update = taps.o.valid & take
        m.d.sync += [valid[1].eq(update & ~taps.o.payload.eot), addr[1].eq(taps.o.payload.saddr),
                     s1_value.eq(taps.o.payload.value)]
        with m.If(update & taps.o.payload.eot):
            m.d.sync += [ctl.last_ts.eq(taps.o.payload.last), ctl.accumulating.eq(0),
                         ctl.draining.eq(1)]
            if ctl.ts is not None:
                end = taps.o.payload.last | (ctl.ts == len(cfg.lif.input_shifts) - 1)
                m.d.sync += ctl.ts.eq(Mux(end, 0, ctl.ts + 1))
        for k in range(2, 6):
            m.d.sync += [valid[k].eq(valid[k - 1]), addr[k].eq(addr[k - 1])]

        # S1: products (the state read is addressed in the state ports below), shifted left by
        # the timestep's input shift e[t] when there is a table (sim.lif)
        shift = self._input_shift(ctl)
        for j in range(p):
            w_lane = w_rd.data[j * wb:(j + 1) * wb].as_signed()
            prod = w_lane * s1_value if cfg.input_bits > 1 else w_lane
            m.d.sync += s2_prod[j].eq(prod if shift is None else prod << shift)
        # S2: the state word is registered (state_q); the items one, two and three ahead (at
        # S3, S4, S5 now) wrote after this item's read: forward the newest of their sums
        m.d.sync += [s3_prod[j].eq(s2_prod[j]) for j in range(p)]
        m.d.sync += [fw[k + 1].eq(valid[k] & (addr[k] == addr[2])) for k in (3, 4, 5)]
        # S3: sum
        for j in range(p):
            lane = state_q[j * sb:(j + 1) * sb].as_signed()
            operand = Mux(fw[4], sums[4][j], Mux(fw[5], sums[5][j], Mux(fw[6], sums[6][j], lane)))
            m.d.sync += [sums[4][j].eq(operand + s3_prod[j]), sums[5][j].eq(sums[4][j]),
                         sums[6][j].eq(sums[5][j])]
        s1_addr, s4_valid, s4_addr, s4_sum = addr[1], valid[4], addr[4], sums[4]

        # state ports while accumulating (S1 read, S4 write) or clearing
        all_en = (1 << len(s_wr.en)) - 1
        biases = Array(Const(b, len(s_wr.data))
                       for b in bias_words(cfg, shift=cfg.lif.input_shift(0)))
        with m.If(ctl.zeroing):
            m.d.comb += [s_wr.addr.eq(ctl.zero_addr), s_wr.data.eq(biases[ctl.zero_g]),
                         s_wr.en.eq(all_en)]
        with m.Elif(ctl.accumulating | ctl.draining):
            m.d.comb += [s_rd.addr.eq(s1_addr), s_wr.addr.eq(s4_addr),
                         s_wr.en.eq(Mux(s4_valid, all_en, 0))]
            for j in range(p):
                m.d.comb += s_wr.data[j * sb:(j + 1) * sb].eq(s4_sum[j])
        self._clear(m, ctl)

    def _clear(self, m: Module, ctl: _Control) -> None:
        """``clear`` while idle: write the bias words to every state word, one per cycle."""
        cfg = self._config
        with m.If(ctl.zeroing):
            next_g = Mux(ctl.zero_g == cfg.groups - 1, 0, ctl.zero_g + 1)
            m.d.sync += [ctl.zero_addr.eq(ctl.zero_addr + 1), ctl.zero_g.eq(next_g)]
            with m.If(ctl.zero_addr == cfg.state_words - 1):
                m.d.sync += ctl.zeroing.eq(0)
        with m.Elif(self.clear & ~self.busy):
            m.d.sync += [ctl.zeroing.eq(1), ctl.zero_addr.eq(0), ctl.zero_g.eq(0)]
            if ctl.ts is not None:
                m.d.sync += ctl.ts.eq(0)

    def _input_shift(self, ctl: _Control):
        """Return ``e[ts]`` of the input shift table (a small ROM on the timestep counter), or
        ``None`` without a table (nothing elaborated)."""
        table = self._config.lif.input_shifts
        if ctl.ts is None:
            return None
        return Array(Const(e, unsigned(max(1, max(table).bit_length()))) for e in table)[ctl.ts]

    # --- neuron pass -----------------------------------------------------------------------

    def _neuron_pass(self, m: Module, ctl: _Control, fifo, order: PassCounter, s_rd, s_wr,
                     state_q) -> None:
        """Q0 and N0..N7 of the module docstring."""
        cfg = self._config
        p, sb, lif, g_n = cfg.lanes, cfg.state_bits, cfg.lif, cfg.groups
        mb = lif.membrane.width
        n_pos = len(pass_order(cfg))
        gbits, sbits = index_bits(g_n), index_bits(cfg.state_words)
        ybits, xbits = len(self.o.payload.y), len(self.o.payload.x)

        stage = data.StructLayout({
            "valid": 1, "g": gbits, "addr": sbits, "y": ybits, "x": xbits, "open": 1,
            "close": 1, "emit": 1})

        q0_e, q0_g = Signal(index_bits(n_pos)), Signal(gbits)
        n0_valid, n0_g = Signal(), Signal(gbits)
        n1, n2, n3, n4, n5, n6 = (Signal(stage, name=f"n{k}") for k in range(1, 7))
        m.d.comb += ctl.pass_busy.eq(n0_valid | n1.valid | n2.valid | n3.valid | n4.valid
                                     | n5.valid | n6.valid | ctl.write_busy)

        # Q0: issue position q0_e of group q0_g (g outer) while the spike queue has room
        issue = ctl.passing & (fifo.level <= SPIKE_QUEUE_DEPTH - PASS_LATENCY - 1)
        start = ctl.draining & ~ctl.acc_busy
        with m.If(start):
            m.d.sync += [ctl.draining.eq(0), ctl.passing.eq(1), q0_e.eq(0), q0_g.eq(0)]
        m.d.comb += [order.restart.eq(start), order.advance.eq(issue)]
        with m.If(issue):
            with m.If(q0_e != n_pos - 1):
                m.d.sync += q0_e.eq(q0_e + 1)
            with m.Elif(q0_g != g_n - 1):
                m.d.sync += [q0_e.eq(0), q0_g.eq(q0_g + 1)]
            with m.Else():
                m.d.sync += [ctl.passing.eq(0), ctl.flushing.eq(1)]
        m.d.sync += [n0_valid.eq(issue), n0_g.eq(q0_g)]

        # N0: the order entry (registered at Q0) arrives; state read address
        n0_entry = Signal(stage)
        m.d.sync += [n0_entry[name].eq(getattr(order, name))
                     for name in ("y", "x", "open", "close", "emit")]
        n0_base = Signal.like(order.base)
        m.d.sync += n0_base.eq(order.base)
        m.d.sync += [n1.valid.eq(n0_valid), n1.g.eq(n0_g), n1.addr.eq(n0_base + n0_g)]
        for name in ("y", "x", "open", "close", "emit"):
            m.d.sync += n1[name].eq(n0_entry[name])
        with m.If(~(ctl.accumulating | ctl.draining | ctl.zeroing)):
            m.d.comb += s_rd.addr.eq(n1.addr)  # registered: the order entry is slow to arrive

        # N1: state read; N2: the word is registered (state_q); N3..N5: the neuron update of
        # sim.lif (hw.lif.neuron)
        m.d.sync += [n2.eq(n1), n3.eq(n2), n4.eq(n3), n5.eq(n4), n6.eq(n5)]
        n4_u = [Signal(signed(mb), name=f"n4_u{j}") for j in range(p)]
        n5_u = [Signal(signed(mb), name=f"n5_u{j}") for j in range(p)]
        n5_sub = [Signal(signed(mb), name=f"n5_sub{j}") for j in range(p)]
        n6_v = [Signal(signed(mb), name=f"n6_v{j}") for j in range(p)]
        n4_lanes, n5_fire, n6_spikes = Signal(p), Signal(p), Signal(p)
        tail = cfg.out_shape[0] - (g_n - 1) * p  # real channels in the last group
        m.d.sync += n4_lanes.eq(Mux(n3.g == g_n - 1, (1 << tail) - 1, (1 << p) - 1))
        theta = self._lane_thresholds(m, n3.g)
        for j in range(p):
            u = state_q[j * sb:(j + 1) * sb].as_signed()
            fire = fires(n4_u[j], lif) if theta is None else n4_u[j] >= theta[j]
            m.d.sync += [n4_u[j].eq(saturate_membrane(u, lif)),
                         n5_fire[j].eq(fire & n4_lanes[j]), n5_u[j].eq(n4_u[j]),
                         n6_v[j].eq(after_reset(spike=n5_fire[j], u=n5_u[j],
                                                subtracted=n5_sub[j], lif=lif))]
            if lif.reset is ResetMode.SUBTRACT:
                sub = reset_subtracted(n4_u[j], lif) if theta is None else n4_u[j] - theta[j]
                m.d.sync += n5_sub[j].eq(sub)
        m.d.sync += n6_spikes.eq(n5_fire)
        self._write_back(m, ctl, n5, n6, n6_v, n6_spikes, s_wr, fifo)

    def _lane_thresholds(self, m: Module, group) -> list[Signal] | None:
        """With per-channel thresholds (``LIFParams.channel_thresholds``): the ``P`` lane
        thresholds of channel group ``group`` (at N3) registered for N4, read from a table per
        lane (``tables.threshold_table``); ``None`` without (the constant threshold)."""
        cfg = self._config
        if not cfg.lif.channel_thresholds:
            return None
        mb, table = cfg.lif.membrane.width, threshold_table(cfg)
        out = [Signal(signed(mb), name=f"n4_theta{j}") for j in range(cfg.lanes)]
        for j, sig in enumerate(out):
            m.d.sync += sig.eq(Array(Const(row[j], signed(mb)) for row in table)[group])
        return out

    def _write_back(self, m: Module, ctl: _Control, n5, n6, n6_v: list, n6_spikes,
                    s_wr, fifo) -> None:
        """N6: readback, pooling OR and the spike queue; N7: state write ``leak(v) + b``
        (``b`` after a sample's last timestep)."""
        cfg = self._config
        p, sb, lif = cfg.lanes, cfg.state_bits, cfg.lif
        bias = [[int(b) for b in cfg.bias[g * p:(g + 1) * p]] for g in range(cfg.groups)]
        n6_bias = [Signal(signed(sb), name=f"n6_bias{j}") for j in range(p)]
        shift = self._input_shift(ctl)  # ts is the next timestep's during the pass
        for j in range(p):
            lane = Array(Const(bg[j] if j < len(bg) else 0, signed(sb)) for bg in bias)
            m.d.sync += n6_bias[j].eq(lane[n5.g] if shift is None else lane[n5.g] << shift)
        # N7: the state write of the word registered at N6 (no adder before the memory)
        n7_valid, n7_addr = Signal(), Signal(len(n6.addr))
        n7_next = Signal(len(s_wr.data))
        m.d.sync += [n7_valid.eq(n6.valid), n7_addr.eq(n6.addr)]
        for j in range(p):
            nxt = Mux(ctl.last_ts, 0, leaked(n6_v[j], lif)) + n6_bias[j]
            m.d.sync += n7_next[j * sb:(j + 1) * sb].eq(nxt)
        m.d.comb += ctl.write_busy.eq(n7_valid)
        all_en = (1 << len(s_wr.en)) - 1
        with m.If(~(ctl.accumulating | ctl.draining | ctl.zeroing)):
            m.d.comb += [s_wr.addr.eq(n7_addr), s_wr.en.eq(Mux(n7_valid, all_en, 0)),
                         s_wr.data.eq(n7_next)]
        for j in range(p):
            m.d.comb += self.readback.payload.membranes[j].eq(n6_v[j])
        m.d.comb += [self.readback.valid.eq(n6.valid),
                     self.readback.payload.index.eq(n6.addr),
                     self.readback.payload.spikes.eq(n6_spikes)]
        # pooling: OR of the window's masks, emitted at its last position
        window = Signal(p)
        mask = Mux(n6.open, 0, window) | n6_spikes
        with m.If(n6.valid):
            m.d.sync += window.eq(mask)
        m.d.comb += [
            fifo.w_data.eq(Cat(mask, n6.g, n6.y, n6.x, at_most_one(list(mask)))),
            fifo.w_en.eq(n6.valid & n6.close & n6.emit & (mask != 0)),
        ]

    # --- serialiser ------------------------------------------------------------------------

    def _serialiser(self, m: Module, ctl: _Control, fifo) -> None:
        """One spike event ``(g*P + lane, y, x)`` per cycle in lane order, then the marker
        once the pass and the queue are empty."""
        cfg = self._config
        p, gbits = cfg.lanes, index_bits(cfg.groups)
        ybits, xbits = len(self.o.payload.y), len(self.o.payload.x)
        mask, base = Signal(p), Signal(gbits)
        y, x = Signal(ybits), Signal(xbits)
        empty, single = Signal(init=1), Signal()
        low = Signal(range(max(2, p)))
        low_bit = Signal(p)
        for j in reversed(range(p)):
            with m.If(mask[j]):
                m.d.comb += [low.eq(j), low_bit.eq(1 << j)]
        send_marker = ctl.flushing & ~ctl.pass_busy & ~fifo.r_rdy & empty
        with m.If(~empty):
            m.d.comb += [self.o.valid.eq(1), self.o.payload.c.eq(base * p + low),
                         self.o.payload.y.eq(y), self.o.payload.x.eq(x)]
        with m.Elif(send_marker):
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eot.eq(1),
                         self.o.payload.last.eq(ctl.last_ts)]
        with m.If(empty | (single & self.o.ready)):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(fifo.r_rdy):
                d = fifo.r_data
                m.d.sync += [mask.eq(d[:p]), base.eq(d[p:p + gbits]),
                             y.eq(d[p + gbits:p + gbits + ybits]),
                             x.eq(d[p + gbits + ybits:p + gbits + ybits + xbits]),
                             empty.eq(0), single.eq(d[-1])]
            with m.Else():
                m.d.sync += [mask.eq(0), empty.eq(1), single.eq(0)]
        with m.Elif(self.o.ready):
            m.d.sync += [mask.eq(mask & ~low_bit), single.eq(at_most_two(list(mask)))]
        with m.If(send_marker & self.o.ready):
            m.d.sync += [ctl.flushing.eq(0), ctl.accumulating.eq(1)]
