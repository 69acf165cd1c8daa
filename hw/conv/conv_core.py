"""Event-driven convolution core with weight sharing and spike pooling in address space.

The equations are those of ``sim.conv`` (the convolution's synaptic input ``I`` and the OR
pooling) and ``sim.lif`` (the neuron update); this core implements them and is proven equal to
them by ``tests/hw/test_conv_*`` and ``tests/rtl/conv``.

Organisation (``P`` = ``config.lanes`` lanes over output channels, ``G = ceil(C_out / P)``
channel groups, ``E = H_out * W_out`` output positions)::

    weights  Memory  C_in*K*K*G words of P weights   word ((c*K+ky)*K+kx)*G + g
    state    Memory  E*G words of P state_bits lanes  word (oy*W_out+ox)*G + g:
                                                     leak(v[t-1]) + b + (I[t] - b so far)
    order    Memory  E words (read-only)             the neuron pass order (tables.pass_order)

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
    S2  state word arrives; sum = (forwarded or read state) + product, registered
    S3  state write of the registered sum

The state read port is not transparent; S2 takes its operand from the S3 sum or the sum written
one cycle before when either is for the same state word (compares registered one stage early),
so back-to-back updates of one word (a 1x1 kernel, consecutive events) are exact without stalls.

Neuron pass (after an end-of-timestep marker, once the accumulate pipeline is empty; groups
``g`` outer, positions in pass order inner, one state word per cycle)::

    Q0  order read address (position counter)
    N0  order entry arrives; state read address pos*G + g
    N1  saturate to the membrane format (end of sim.lif.charge)
    N2  fire compare and reset subtract (sim.lif.fire)
    N3  reset mux (sim.lif.reset); spike mask
    N4  state write leak(v) + b (b after a sample's last timestep); readback record;
        pooling: OR of the window's spike masks, queued for the serialiser at the window's
        last position when non-zero (without pooling every position is its own window)

Each pooled spike ``(o, py, px)`` is thus emitted once per timestep, by construction of the
pass order (no bitmap needed). The issue stalls while the spike queue could overflow. The
serialiser emits one spike event ``(c, y, x)`` per cycle, then the end-of-timestep marker.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lif import ResetMode

from ..common.bits import at_most_one, at_most_two
from ..common.mem import NO_RW_CHECK
from ..common.streams import index_bits
from ..lif.neuron import after_reset, fires, leaked, reset_subtracted, saturate_membrane
from .config import ConvCoreConfig
from .streams import conv_readback_layout, feature_event_layout, input_event_layout
from .tables import bias_words, pack_weight_words, pass_order
from .tap_generator import TapGenerator

__all__ = ["SPIKE_QUEUE_DEPTH", "ConvCore"]

#: Entries of the spike queue between the neuron pass and the serialiser.
SPIKE_QUEUE_DEPTH = 16
#: Pass items that may push into the queue after the issue check (N0..N4 and Q0).
_PASS_STAGES = 6


def _order_words(cfg: ConvCoreConfig) -> tuple[list[int], dict[str, slice]]:
    """Return the order memory's words and the bit slices of their fields."""
    g_n = cfg.groups
    _, hp, wp = cfg.emit_shape
    widths = {"base": index_bits(cfg.state_words), "y": index_bits(max(1, hp)),
              "x": index_bits(max(1, wp)), "open": 1, "close": 1, "emit": 1}
    fields, lo = {}, 0
    for name, w in widths.items():
        fields[name] = slice(lo, lo + w)
        lo += w
    words = []
    for e in pass_order(cfg):
        vals = {"base": e.pos * g_n, "y": e.y, "x": e.x, "open": int(e.open),
                "close": int(e.close), "emit": int(e.emit)}
        words.append(sum(vals[n] << fields[n].start for n in widths))
    return words, fields


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
    acc_busy: Signal             # S1..S3 hold an update
    pass_busy: Signal            # N0..N4 hold a state word


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
        m.submodules.weights = weights = Memory(
            shape=unsigned(cfg.lanes * cfg.weight_bits), depth=max(2, cfg.weight_words),
            init=pack_weight_words(cfg))
        init = [bias_words(cfg)[a % cfg.groups] for a in range(cfg.state_words)]
        # a read of the word being written is never used: S2 forwards the S3/S4 sum instead,
        # and the pass reads each word four cycles before writing it (hw.common.mem)
        m.submodules.state = state = Memory(
            shape=unsigned(cfg.lanes * cfg.state_bits), depth=max(2, cfg.state_words), init=init,
            attrs=NO_RW_CHECK)
        order_init, fields = _order_words(cfg)
        m.submodules.order = order = Memory(
            shape=unsigned(fields["emit"].stop), depth=max(2, len(order_init)), init=order_init)
        m.submodules.spike_fifo = fifo = SyncFIFO(
            width=cfg.lanes + index_bits(cfg.groups) + len(self.o.payload.y)
            + len(self.o.payload.x) + 1, depth=SPIKE_QUEUE_DEPTH)
        w_rd, s_rd, s_wr, o_rd = (weights.read_port(), state.read_port(), state.write_port(),
                                  order.read_port())

        ctl = self._control(m, taps)
        self._accumulate(m, ctl, taps, w_rd, s_rd, s_wr)
        self._neuron_pass(m, ctl, fifo, o_rd, fields, s_rd, s_wr)
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
            acc_busy=Signal(), pass_busy=Signal(),
        )
        m.d.comb += self.busy.eq(~ctl.accumulating | ctl.acc_busy | ctl.zeroing | taps.busy)
        return ctl

    # --- accumulate ------------------------------------------------------------------------

    def _accumulate(self, m: Module, ctl: _Control, taps, w_rd, s_rd, s_wr) -> None:
        """S0..S3 of the module docstring, the marker intake and the clear."""
        cfg = self._config
        p, wb, sb = cfg.lanes, cfg.weight_bits, cfg.state_bits
        sbits = index_bits(cfg.state_words)
        s1_valid, s2_valid, s3_valid = Signal(), Signal(), Signal()
        s1_addr, s2_addr, s3_addr = Signal(sbits), Signal(sbits), Signal(sbits)
        s1_value = Signal(max(1, cfg.input_bits))
        prod_bits = wb + (cfg.input_bits + 1 if cfg.input_bits > 1 else 0)
        s2_prod = [Signal(signed(prod_bits), name=f"s2_prod{j}") for j in range(p)]
        s2_fw3, s2_fw4 = Signal(), Signal()
        s3_sum = [Signal(signed(sb), name=f"s3_sum{j}") for j in range(p)]
        s4_sum = [Signal(signed(sb), name=f"s4_sum{j}") for j in range(p)]
        m.d.comb += ctl.acc_busy.eq(s1_valid | s2_valid | s3_valid)

        # S0: take updates while accumulating; a marker starts the drain
        take = ctl.accumulating & ~ctl.zeroing & ~self.clear
        m.d.comb += [taps.o.ready.eq(take), w_rd.addr.eq(taps.o.payload.waddr)]
        update = taps.o.valid & take
        m.d.sync += [s1_valid.eq(update & ~taps.o.payload.eot), s1_addr.eq(taps.o.payload.saddr),
                     s1_value.eq(taps.o.payload.value)]
        with m.If(update & taps.o.payload.eot):
            m.d.sync += [ctl.last_ts.eq(taps.o.payload.last), ctl.accumulating.eq(0),
                         ctl.draining.eq(1)]

        # S1: products; forwarding selects for S2
        for j in range(p):
            w_lane = w_rd.data[j * wb:(j + 1) * wb].as_signed()
            if cfg.input_bits > 1:
                m.d.sync += s2_prod[j].eq(w_lane * s1_value)
            else:
                m.d.sync += s2_prod[j].eq(w_lane)
        m.d.sync += [
            s2_valid.eq(s1_valid), s2_addr.eq(s1_addr),
            s2_fw3.eq(s2_valid & (s2_addr == s1_addr)),
            s2_fw4.eq(s3_valid & (s3_addr == s1_addr)),
        ]
        # S2: sum
        m.d.sync += [s3_valid.eq(s2_valid), s3_addr.eq(s2_addr)]
        for j in range(p):
            lane = s_rd.data[j * sb:(j + 1) * sb].as_signed()
            operand = Mux(s2_fw3, s3_sum[j], Mux(s2_fw4, s4_sum[j], lane))
            m.d.sync += [s3_sum[j].eq(operand + s2_prod[j]), s4_sum[j].eq(s3_sum[j])]

        # state ports while accumulating (S1 read, S3 write) or clearing
        all_en = (1 << len(s_wr.en)) - 1
        biases = Array(Const(b, len(s_wr.data)) for b in bias_words(cfg))
        with m.If(ctl.zeroing):
            m.d.comb += [s_wr.addr.eq(ctl.zero_addr), s_wr.data.eq(biases[ctl.zero_g]),
                         s_wr.en.eq(all_en)]
        with m.Elif(ctl.accumulating | ctl.draining):
            m.d.comb += [s_rd.addr.eq(s1_addr), s_wr.addr.eq(s3_addr),
                         s_wr.en.eq(Mux(s3_valid, all_en, 0))]
            for j in range(p):
                m.d.comb += s_wr.data[j * sb:(j + 1) * sb].eq(s3_sum[j])
        self._clear(m, ctl)

    def _clear(self, m: Module, ctl: _Control) -> None:
        """``clear`` while idle: write the bias words to every state word, one per cycle."""
        cfg = self._config
        with m.If(ctl.zeroing):
            m.d.sync += [ctl.zero_addr.eq(ctl.zero_addr + 1),
                         ctl.zero_g.eq(Mux(ctl.zero_g == cfg.groups - 1, 0,
                                              ctl.zero_g + 1))]
            with m.If(ctl.zero_addr == cfg.state_words - 1):
                m.d.sync += ctl.zeroing.eq(0)
        with m.Elif(self.clear & ~self.busy):
            m.d.sync += [ctl.zeroing.eq(1), ctl.zero_addr.eq(0), ctl.zero_g.eq(0)]

    # --- neuron pass -----------------------------------------------------------------------

    def _neuron_pass(self, m: Module, ctl: _Control, fifo, o_rd, fields: dict, s_rd, s_wr) -> None:
        """Q0 and N0..N4 of the module docstring."""
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
        n1, n2, n3, n4 = (Signal(stage, name=f"n{k}") for k in range(1, 5))
        m.d.comb += ctl.pass_busy.eq(n0_valid | n1.valid | n2.valid | n3.valid
                                        | n4.valid)

        # Q0: issue position q0_e of group q0_g (g outer) while the spike queue has room
        issue = ctl.passing & (fifo.level <= SPIKE_QUEUE_DEPTH - _PASS_STAGES)
        with m.If(ctl.draining & ~ctl.acc_busy):
            m.d.sync += [ctl.draining.eq(0), ctl.passing.eq(1), q0_e.eq(0), q0_g.eq(0)]
        m.d.comb += o_rd.addr.eq(q0_e)
        with m.If(issue):
            with m.If(q0_e != n_pos - 1):
                m.d.sync += q0_e.eq(q0_e + 1)
            with m.Elif(q0_g != g_n - 1):
                m.d.sync += [q0_e.eq(0), q0_g.eq(q0_g + 1)]
            with m.Else():
                m.d.sync += [ctl.passing.eq(0), ctl.flushing.eq(1)]
        m.d.sync += [n0_valid.eq(issue), n0_g.eq(q0_g)]

        # N0: the order entry arrives; state read address
        entry = o_rd.data
        n0_addr = entry[fields["base"]] + n0_g
        m.d.sync += [n1.valid.eq(n0_valid), n1.g.eq(n0_g), n1.addr.eq(n0_addr)]
        for name in ("y", "x", "open", "close", "emit"):
            m.d.sync += n1[name].eq(entry[fields[name]])
        with m.If(~(ctl.accumulating | ctl.draining | ctl.zeroing)):
            m.d.comb += s_rd.addr.eq(n0_addr)

        # N1..N3: the neuron update of sim.lif (hw.lif.neuron)
        m.d.sync += [n2.eq(n1), n3.eq(n2), n4.eq(n3)]
        n2_u = [Signal(signed(mb), name=f"n2_u{j}") for j in range(p)]
        n3_u = [Signal(signed(mb), name=f"n3_u{j}") for j in range(p)]
        n3_sub = [Signal(signed(mb), name=f"n3_sub{j}") for j in range(p)]
        n4_v = [Signal(signed(mb), name=f"n4_v{j}") for j in range(p)]
        n2_lanes, n3_fire, n4_spikes = Signal(p), Signal(p), Signal(p)
        tail = cfg.out_shape[0] - (g_n - 1) * p  # real channels in the last group
        m.d.sync += n2_lanes.eq(Mux(n1.g == g_n - 1, (1 << tail) - 1, (1 << p) - 1))
        for j in range(p):
            u = s_rd.data[j * sb:(j + 1) * sb].as_signed()
            m.d.sync += [n2_u[j].eq(saturate_membrane(u, lif)),
                         n3_fire[j].eq(fires(n2_u[j], lif) & n2_lanes[j]), n3_u[j].eq(n2_u[j]),
                         n4_v[j].eq(after_reset(spike=n3_fire[j], u=n3_u[j],
                                                subtracted=n3_sub[j], lif=lif))]
            if lif.reset is ResetMode.SUBTRACT:
                m.d.sync += n3_sub[j].eq(reset_subtracted(n2_u[j], lif))
        m.d.sync += n4_spikes.eq(n3_fire)
        self._write_back(m, ctl, n3, n4, n4_v, n4_spikes, s_wr, fifo)

    def _write_back(self, m: Module, ctl: _Control, n3, n4, n4_v: list, n4_spikes,
                    s_wr, fifo) -> None:
        """N4: state write ``leak(v) + b`` (``b`` after a sample's last timestep), readback,
        pooling OR and the spike queue."""
        cfg = self._config
        p, sb, lif = cfg.lanes, cfg.state_bits, cfg.lif
        bias = [[int(b) for b in cfg.bias[g * p:(g + 1) * p]] for g in range(cfg.groups)]
        n4_bias = [Signal(signed(sb), name=f"n4_bias{j}") for j in range(p)]
        for j in range(p):
            lane = Array(Const(bg[j] if j < len(bg) else 0, signed(sb)) for bg in bias)
            m.d.sync += n4_bias[j].eq(lane[n3.g])
        all_en = (1 << len(s_wr.en)) - 1
        with m.If(~(ctl.accumulating | ctl.draining | ctl.zeroing)):
            m.d.comb += [s_wr.addr.eq(n4.addr), s_wr.en.eq(Mux(n4.valid, all_en, 0))]
            for j in range(p):
                nxt = Mux(ctl.last_ts, 0, leaked(n4_v[j], lif)) + n4_bias[j]
                m.d.comb += s_wr.data[j * sb:(j + 1) * sb].eq(nxt)
        for j in range(p):
            m.d.comb += self.readback.payload.membranes[j].eq(n4_v[j])
        m.d.comb += [self.readback.valid.eq(n4.valid),
                     self.readback.payload.index.eq(n4.addr),
                     self.readback.payload.spikes.eq(n4_spikes)]
        # pooling: OR of the window's masks, emitted at its last position
        window = Signal(p)
        mask = Mux(n4.open, 0, window) | n4_spikes
        with m.If(n4.valid):
            m.d.sync += window.eq(mask)
        m.d.comb += [
            fifo.w_data.eq(Cat(mask, n4.g, n4.y, n4.x, at_most_one(list(mask)))),
            fifo.w_en.eq(n4.valid & n4.close & n4.emit & (mask != 0)),
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
