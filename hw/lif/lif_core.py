"""Event-driven, time-multiplexed LIF layer core.

The neuron equations are those of ``sim.lif`` (:func:`spikesmith.sim.lif.charge`, ``fire``,
``reset``); this core implements them as pipeline stages and is proven equal to them by
``tests/hw`` and ``tests/rtl``.

Organisation (``P`` = ``config.lanes`` lanes, ``G = ceil(n_out / P)`` neuron groups)::

    weights  Memory  n_in * G words of P weights      word index*G + g = W[g*P : g*P+P, index]
    state    Memory  G words of P state_bits lanes    leak(v[t-1]) + (I[t] so far) of group g

There is no separate accumulator memory: the synaptic input accumulates straight onto the
leaked membrane of the previous timestep, in ``state_bits = max(membrane_bits, acc_bits) + 1``
bits, which hold ``leak(v) + I`` exactly (the sum ``sim.lif.charge`` saturates). One shallow
memory of ``P * state_bits`` bits instead of two (``P * acc_bits`` and ``P * membrane_bits``)
halves the block RAMs that shallow, wide state costs on 16-bit-wide iCE40 blocks.

Accumulate phase (per input event, one group per cycle, ``P`` synaptic operations per cycle)::

    S0  weight read address index*G + g
    S1  weight word arrives; lane products w*value (direct current) or w (spikes), shifted
        left by e[t] with a per-timestep input shift table (a ROM read at the timestep
        counter); state read address g
    S2  state word arrives; sum = (forwarded or read state) + product, registered
    S3  state write of the registered sum

An item's read misses the write of the item one ahead of it (at S3) and, unless the read
port is transparent, that of the item two ahead (on the read's own clock edge). Groups issue
in the order 0, 1, .., G-1, 0, .., so items one apart share a group only for ``G`` = 1 and
items two apart only for ``G`` <= 2: for ``G`` <= 2 the state read port is transparent (on
LUT RAM a registered read address, no bypass logic), and for ``G`` = 1 S2 takes its operand
from the S3 sum (a select registered one stage early). Back-to-back updates of the same group
stay exact without stalls, and the only loop is the S3 sum register -> (one mux) ->
state-width add -> the S3 sum register. The datapath is the only logic per lane.

Neuron pass (after an end-of-timestep marker, once the accumulate pipeline is empty; one
neuron, lane j of group g, per cycle, so the neuron logic exists once, not per lane; every
stage ends in registers, so no carry chain feeds another)::

    N0  read the state of group g
    N1  select lane j, saturate to the membrane format (end of sim.lif.charge; an overflow
        test on the top bits, no compare)
    N2  reset subtract u - threshold, one bit wider: its sign is the fire compare
        u >= threshold
    N3  reset mux (sim.lif.fire, sim.lif.reset) into the group's membrane and spike shift
        registers; "any spike" and "at most one spike" so far
    N4  state write leak(v) to lane j only (0 after a sample's last timestep); after lane
        P-1, the group's readback record, and its spike mask queued for the output
        serialiser when non-zero

The serialiser emits the spikes of the timestep in ascending neuron order, then the
end-of-timestep marker (with the ``last`` bit of the marker that closed the timestep).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lif import ResetMode

from ..common.bits import at_most_two
from ..common.streams import (
    current_event_layout,
    index_bits,
    membrane_readback_layout,
    spike_event_layout,
)
from .config import LIFCoreConfig
from .neuron import after_reset, leaked, reset_subtracted, saturate_membrane

__all__ = ["LIFCore", "pack_weight_words"]


def pack_weight_words(config: LIFCoreConfig) -> list[int]:
    """Return the weight memory contents: ``n_in * G`` words of ``P`` weights.

    Word ``index * G + g`` holds ``W[g*P + j, index]`` in bits ``j*weight_bits`` upward (two's
    complement); neurons past ``n_out`` (padding of the last group) have weight 0.
    """
    p, wb, groups = config.lanes, config.weight_bits, config.groups
    mask = (1 << wb) - 1
    w = config.weights
    words = []
    for i in range(config.n_in):
        for g in range(groups):
            word = 0
            for j in range(p):
                n = g * p + j
                if n < config.n_out:
                    word |= (int(w[n, i]) & mask) << (j * wb)
            words.append(word)
    return words


def _times(value, k: int):
    """Return ``value * k`` for a constant ``k >= 1`` as a sum of shifts of ``value``: a
    carry chain per set bit of ``k`` beyond the first, no multiplier (a DSP multiply took
    3.9 ns of the 1-lane ECP5 core's critical path)."""
    terms = [value << b for b in range(k.bit_length()) if k >> b & 1]
    return sum(terms[1:], terms[0])


@dataclass(frozen=True, eq=False, kw_only=True)
class _Registers:
    """The control state and pipeline registers of one elaborated :class:`LIFCore`.

    Built by :func:`_registers`; each stage method of the core reads and drives its own.
    """

    # control
    last_ts: Signal              # the marker closing this timestep had last = 1
    accumulating: Signal
    draining: Signal
    passing: Signal              # neuron pass issue
    flushing: Signal             # waiting for pass pipeline + serialiser, then marker
    zeroing: Signal              # clear: writing v = 0 to every group
    zero_g: Signal
    # accumulate pipeline (S0..S3, and the sum written one cycle before)
    s0_valid: Signal
    s0_addr: Signal
    s0_g: Signal
    s0_value: Signal
    s1_valid: Signal
    s1_g: Signal
    s1_value: Signal
    s2_valid: Signal
    s2_g: Signal
    s2_prod: list[Signal]
    s2_fw3: Signal               # operand from s3_sum (same group)
    s3_valid: Signal
    s3_g: Signal
    s3_sum: list[Signal]
    # neuron pass (N0..N4), one neuron (group g, lane j) per cycle
    n0_valid: Signal
    n0_g: Signal
    n0_j: Signal
    n1_valid: Signal
    n1_g: Signal
    n1_j: Signal
    n2_valid: Signal
    n2_g: Signal
    n2_j: Signal
    n2_real: Signal              # a neuron of the layer, not padding of the last group
    n3_valid: Signal
    n3_g: Signal
    n3_j: Signal
    n3_fire: Signal
    n4_valid: Signal
    n4_g: Signal
    n4_j: Signal
    n4_last: Signal              # lane P-1: the group's spikes and membranes are complete
    n4_spikes: Signal            # the group's spikes so far (shift register, lane j on top)
    n4_any: Signal
    n4_single: Signal            # at most one spike in n4_spikes
    n2_u: Signal
    n3_u: Signal
    n3_sub: Signal
    n4_v: list[Signal]           # the group's membranes so far (shift register)
    # serialiser
    ser_mask: Signal
    ser_base: Signal
    ser_empty: Signal            # ser_mask == 0
    ser_single: Signal           # ser_mask has exactly one bit set
    # per-timestep input shift table (only with LIFParams.input_shifts)
    ts: Signal | None = None     # timestep within the sample being accumulated


def _registers(cfg: LIFCoreConfig) -> _Registers:
    """Create the registers of a core built from ``cfg`` (names and order are those of the
    generated Verilog)."""
    p, g_n = cfg.lanes, cfg.groups
    wb, sb = cfg.weight_bits, cfg.state_bits
    mb = cfg.lif.membrane.width
    gbits = index_bits(g_n)

    # --- control state --------------------------------------------------------------
    last_ts = Signal()
    accumulating = Signal(init=1)
    draining = Signal()
    passing = Signal()
    flushing = Signal()
    zeroing = Signal()
    zero_g = Signal(gbits)

    # accumulate pipeline registers
    s0_valid = Signal()
    s0_addr = Signal(range(max(2, cfg.n_in * g_n)))
    s0_g = Signal(gbits)
    s0_value = Signal(max(1, cfg.input_bits))
    s1_valid, s1_g = Signal(), Signal(gbits)
    s1_value = Signal(max(1, cfg.input_bits))
    s2_valid, s2_g = Signal(), Signal(gbits)
    prod_bits = wb + (cfg.input_bits + 1 if cfg.input_bits > 1 else 0)
    prod_bits += max(cfg.lif.input_shifts, default=0)
    s2_prod = [Signal(signed(prod_bits), name=f"s2_prod{j}") for j in range(p)]
    s2_fw3 = Signal()
    s3_valid, s3_g = Signal(), Signal(gbits)
    s3_sum = [Signal(signed(sb), name=f"s3_sum{j}") for j in range(p)]

    # neuron pass registers
    jbits = index_bits(p)
    n0_valid, n0_g, n0_j = Signal(), Signal(gbits), Signal(jbits)
    n1_valid, n1_g, n1_j = Signal(), Signal(gbits), Signal(jbits)
    n2_valid, n2_g, n2_j, n2_real = Signal(), Signal(gbits), Signal(jbits), Signal()
    n3_valid, n3_g, n3_j, n3_fire = Signal(), Signal(gbits), Signal(jbits), Signal()
    n4_valid, n4_g, n4_j, n4_last = Signal(), Signal(gbits), Signal(jbits), Signal()
    n4_spikes, n4_any, n4_single = Signal(p), Signal(), Signal()
    n2_u, n3_u, n3_sub = Signal(signed(mb)), Signal(signed(mb)), Signal(signed(mb))
    n4_v = [Signal(signed(mb), name=f"n4_v{j}") for j in range(p)]

    # serialiser
    ser_mask = Signal(p)
    ser_base = Signal(gbits)
    ser_empty = Signal(init=1)
    ser_single = Signal()

    return _Registers(
        last_ts=last_ts, accumulating=accumulating, draining=draining, passing=passing,
        flushing=flushing, zeroing=zeroing, zero_g=zero_g,
        s0_valid=s0_valid, s0_addr=s0_addr, s0_g=s0_g, s0_value=s0_value,
        s1_valid=s1_valid, s1_g=s1_g, s1_value=s1_value, s2_valid=s2_valid, s2_g=s2_g,
        s2_prod=s2_prod, s2_fw3=s2_fw3, s3_valid=s3_valid, s3_g=s3_g,
        s3_sum=s3_sum,
        n0_valid=n0_valid, n0_g=n0_g, n0_j=n0_j, n1_valid=n1_valid, n1_g=n1_g, n1_j=n1_j,
        n2_valid=n2_valid, n2_g=n2_g, n2_j=n2_j, n2_real=n2_real, n3_valid=n3_valid,
        n3_g=n3_g, n3_j=n3_j, n3_fire=n3_fire, n4_valid=n4_valid, n4_g=n4_g, n4_j=n4_j,
        n4_last=n4_last, n4_spikes=n4_spikes, n4_any=n4_any, n4_single=n4_single,
        n2_u=n2_u, n3_u=n3_u, n3_sub=n3_sub, n4_v=n4_v,
        ser_mask=ser_mask, ser_base=ser_base, ser_empty=ser_empty, ser_single=ser_single,
        ts=Signal(range(max(2, len(cfg.lif.input_shifts)))) if cfg.lif.input_shifts else None)


class LIFCore(wiring.Component):
    """One layer of IF/LIF neurons with dense synapses, time-multiplexed over ``P`` lanes.

    Parameters
    ----------
    config : LIFCoreConfig
        Weights (initial contents of the weight memory), widths, neuron parameters, lanes.

    Members
    -------
    i : In(stream.Signature(event))
        Input events and end-of-timestep markers (:mod:`spikesmith.hw.common.streams`): a spike
        event layout for ``input_bits == 1``, a current event layout for ``input_bits == 8``.
    o : Out(stream.Signature(spike_event_layout(n_out)))
        Output spikes of each timestep in ascending neuron order, then the end-of-timestep marker.
    readback : Out(stream.Signature(membrane_readback_layout(...), always_ready=True))
        One record per group per timestep (membranes after reset and spikes); it never stalls
        the core, so it may be left unconnected.
    clear : In(1)
        Pulse while the core is idle (``busy`` low, between samples) to make the next timestep
        start from ``v = 0``: the core then writes 0 to its ``G`` state words (``i.ready`` low
        for ``G`` cycles). Samples ended by a ``last`` marker need no ``clear``.
    busy : Out(1)
        High while events or a neuron pass are in flight.

    Raises
    ------
    TypeError
        If ``config`` is not a ``LIFCoreConfig``.
    """

    def __init__(self, config: LIFCoreConfig):
        if not isinstance(config, LIFCoreConfig):
            raise TypeError(f"config must be a LIFCoreConfig, not {config!r}")
        self._config = config
        mb = config.lif.membrane.width
        if config.input_bits == 1:
            in_layout = spike_event_layout(config.n_in)
        else:
            in_layout = current_event_layout(config.n_in, config.input_bits)
        super().__init__({
            "i": In(stream.Signature(in_layout)),
            "o": Out(stream.Signature(spike_event_layout(config.n_out))),
            "readback": Out(stream.Signature(
                membrane_readback_layout(config.n_out, membrane_bits=mb, lanes=config.lanes),
                always_ready=True)),
            "clear": In(1),
            "busy": Out(1),
        })

    @property
    def config(self) -> LIFCoreConfig:
        """The configuration the core was built from."""
        return self._config

    @property
    def groups(self) -> int:
        """Neuron groups ``G = ceil(n_out / P)``: cycles per input event
        (``LIFCoreConfig.groups``)."""
        return self._config.groups

    @property
    def state_bits(self) -> int:
        """Bits of one lane of the state memory (``LIFCoreConfig.state_bits``)."""
        return self._config.state_bits

    def elaborate(self, platform):
        """Build the core: memories, registers, then one method per pipeline stage, in the
        order of the module docstring (statement order is that of the generated Verilog)."""
        m = Module()
        w_rd, s_rd, s_wr, fifo = self._memories(m)
        r = _registers(self._config)
        in_flight = r.s0_valid | r.s1_valid | r.s2_valid | r.s3_valid
        m.d.comb += self.busy.eq(~r.accumulating | in_flight | r.zeroing)
        self._intake(m, r, w_rd)
        self._products(m, r, w_rd)
        self._accumulate(m, r, s_rd)
        self._state_ports(m, r, s_rd, s_wr)
        self._clear_state(m, r, in_flight)
        self._pass_issue(m, r, in_flight)
        self._charge(m, r, s_rd)
        self._fire(m, r)
        self._reset(m, r)
        self._record(m, r, fifo)
        self._serialiser(m, r, fifo)
        return m

    def _memories(self, m: Module) -> tuple:
        """Add the weight and state memories and the spike FIFO; return the weight read port,
        the state read and write ports and the FIFO."""
        cfg = self._config
        p, g_n = cfg.lanes, self.groups
        wb, sb = cfg.weight_bits, self.state_bits
        gbits = index_bits(g_n)
        m.submodules.weights = weights = Memory(
            shape=unsigned(p * wb), depth=cfg.weight_words, init=pack_weight_words(cfg),
            attrs={"rom_style": "block"} if cfg.weights_in_block else None)
        m.submodules.state = state = Memory(shape=unsigned(p * sb), depth=max(2, g_n), init=[])
        w_rd = weights.read_port()
        s_wr = state.write_port(granularity=sb)  # one enable per lane: the pass writes one
        # G <= 2: an item's read sees the write of the item two ahead (same clock edge)
        s_rd = state.read_port(transparent_for=(s_wr,) if g_n <= 2 else ())
        m.submodules.spike_fifo = fifo = SyncFIFO(width=p + gbits + 1, depth=g_n)
        return w_rd, s_rd, s_wr, fifo

    def _intake(self, m: Module, r: _Registers, w_rd) -> None:
        """S0: take an input event (its weight read address ``index * G``, then one group per
        cycle) or an end-of-timestep marker (start the drain)."""
        cfg, g_n = self._config, self.groups
        issuing_last = r.s0_valid & (r.s0_g == g_n - 1)
        m.d.comb += self.i.ready.eq(r.accumulating & ~r.zeroing & ~self.clear
                                    & (~r.s0_valid | issuing_last))
        m.d.comb += w_rd.addr.eq(r.s0_addr)
        with m.If(r.s0_valid):
            m.d.sync += [r.s0_addr.eq(r.s0_addr + 1), r.s0_g.eq(r.s0_g + 1)]
            with m.If(issuing_last):
                m.d.sync += r.s0_valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.payload.eot):
                m.d.sync += [r.last_ts.eq(self.i.payload.last), r.accumulating.eq(0),
                             r.draining.eq(1)]
            with m.Else():
                m.d.sync += [
                    r.s0_valid.eq(1),
                    r.s0_addr.eq(_times(self.i.payload.index, g_n)),
                    r.s0_g.eq(0),
                ]
                if cfg.input_bits > 1:
                    m.d.sync += r.s0_value.eq(self.i.payload.value)

    def _products(self, m: Module, r: _Registers, w_rd) -> None:
        """S1: the weight word arrives; lane products ``w * value`` (direct current) or ``w``
        (spikes), the synaptic input of ``sim.lif.charge``; the forwarding selects for S2."""
        cfg, p, wb = self._config, self._config.lanes, self._config.weight_bits
        m.d.sync += [r.s1_valid.eq(r.s0_valid), r.s1_g.eq(r.s0_g), r.s1_value.eq(r.s0_value)]
        shift = self._input_shift(m, r)
        for j in range(p):
            w_lane = w_rd.data[j * wb:(j + 1) * wb].as_signed()
            prod = w_lane * r.s1_value if cfg.input_bits > 1 else w_lane
            m.d.sync += r.s2_prod[j].eq(prod if shift is None else prod << shift)
        m.d.sync += [r.s2_valid.eq(r.s1_valid), r.s2_g.eq(r.s1_g)]
        # the item now at S2 is at S3 (not yet written) when this one reaches S2; items one
        # apart share a group only for G = 1 (the transparent read covers those two apart)
        if self.groups == 1:
            m.d.sync += r.s2_fw3.eq(r.s2_valid)

    def _input_shift(self, m: Module, r: _Registers) -> Signal | None:
        """The ROM of the per-timestep input shift table ``e[t]`` read at the timestep being
        accumulated (``sim.lif.charge``: ``I[t] << e[t]``, applied to every product, which
        sums to the same), and the timestep counter: it advances when a timestep's neuron
        pass ends and returns to 0 after a sample's last timestep or a ``clear``. ``None``
        without a table (the core is then the plain one)."""
        table = self._config.lif.input_shifts
        if not table:
            return None
        shift = Signal(range(max(table) + 1))
        with m.Switch(r.ts):
            for t, e in enumerate(table):
                with m.Case(t):
                    m.d.comb += shift.eq(e)
        return shift

    def _accumulate(self, m: Module, r: _Registers, s_rd) -> None:
        """S2: the state word arrives; ``sum = (forwarded or read state) + product`` is
        registered for the S3 write (the unsaturated sum of ``sim.lif.charge``)."""
        p, sb = self._config.lanes, self.state_bits
        m.d.sync += [r.s3_valid.eq(r.s2_valid), r.s3_g.eq(r.s2_g)]
        for j in range(p):
            lane = s_rd.data[j * sb:(j + 1) * sb].as_signed()
            operand = Mux(r.s2_fw3, r.s3_sum[j], lane) if self.groups == 1 else lane
            m.d.sync += r.s3_sum[j].eq(operand + r.s2_prod[j])

    def _state_ports(self, m: Module, r: _Registers, s_rd, s_wr) -> None:
        """The state memory's ports: the clear's zeros; S1 read and S3 write while
        accumulating; N0 read and N4 write of ``leak(v)`` (the leak of ``sim.lif.charge``,
        0 after a sample's last timestep) in the neuron pass."""
        p, sb, lif = self._config.lanes, self.state_bits, self._config.lif
        all_en = (1 << len(s_wr.en)) - 1
        with m.If(r.zeroing):
            m.d.comb += [s_wr.addr.eq(r.zero_g), s_wr.data.eq(0), s_wr.en.eq(all_en)]
        with m.Elif(r.accumulating | r.draining):
            m.d.comb += s_rd.addr.eq(r.s1_g)
            m.d.comb += [s_wr.addr.eq(r.s3_g), s_wr.en.eq(Mux(r.s3_valid, all_en, 0))]
            for j in range(p):
                m.d.comb += s_wr.data[j * sb:(j + 1) * sb].eq(r.s3_sum[j])
        with m.Else():
            m.d.comb += s_rd.addr.eq(r.n0_g)
            m.d.comb += [s_wr.addr.eq(r.n4_g), s_wr.en.eq(Mux(r.n4_valid, 1 << r.n4_j, 0))]
            # the next timestep starts from leak(v); a sample's last one leaves v = 0; the
            # value goes to every lane, the enable picks the neuron's
            v_next = Mux(r.last_ts, 0, leaked(r.n4_v[-1], lif))
            for j in range(p):
                m.d.comb += s_wr.data[j * sb:(j + 1) * sb].eq(v_next)

    def _clear_state(self, m: Module, r: _Registers, in_flight) -> None:
        """``clear`` while idle: write ``v = 0`` to every group, one per cycle."""
        g_n = self.groups
        with m.If(r.zeroing):
            m.d.sync += r.zero_g.eq(r.zero_g + 1)
            with m.If(r.zero_g == g_n - 1):
                m.d.sync += r.zeroing.eq(0)
        with m.Elif(self.clear & r.accumulating & ~in_flight):
            m.d.sync += [r.zeroing.eq(1), r.zero_g.eq(0)]
            if r.ts is not None:
                m.d.sync += r.ts.eq(0)

    def _pass_issue(self, m: Module, r: _Registers, in_flight) -> None:
        """Drain the accumulate pipeline, then N0: issue the neuron pass, one group per
        cycle, and start the flush when the last group is issued."""
        g_n, p = self.groups, self._config.lanes
        with m.If(r.draining & ~in_flight):
            m.d.sync += [r.draining.eq(0), r.passing.eq(1), r.n0_valid.eq(1), r.n0_g.eq(0),
                         r.n0_j.eq(0)]
        with m.If(r.passing):
            lane_last = r.n0_j == p - 1
            with m.If(lane_last & (r.n0_g == g_n - 1)):
                m.d.sync += [r.passing.eq(0), r.n0_valid.eq(0), r.flushing.eq(1)]
            with m.Elif(lane_last):
                m.d.sync += [r.n0_g.eq(r.n0_g + 1), r.n0_j.eq(0)]
            with m.Else():
                m.d.sync += r.n0_j.eq(r.n0_j + 1)

    def _charge(self, m: Module, r: _Registers, s_rd) -> None:
        """N1: the group's state word arrives; lane ``j``'s ``leak(v[t-1]) + I[t]`` is
        selected and saturated to the membrane format (the end of ``sim.lif.charge``); whether
        ``(g, j)`` is a neuron of the layer."""
        cfg, p, g_n = self._config, self._config.lanes, self.groups
        sb, lif = self.state_bits, self._config.lif
        m.d.sync += [r.n1_valid.eq(r.n0_valid), r.n1_g.eq(r.n0_g), r.n1_j.eq(r.n0_j)]
        m.d.sync += [r.n2_valid.eq(r.n1_valid), r.n2_g.eq(r.n1_g), r.n2_j.eq(r.n1_j)]
        u = s_rd.data.word_select(r.n1_j, sb) if p > 1 else s_rd.data
        m.d.sync += r.n2_u.eq(saturate_membrane(u.as_signed(), lif))
        tail = cfg.n_out - (g_n - 1) * p  # real neurons in the last group
        real = 1 if tail == p else ~((r.n1_g == g_n - 1) & (r.n1_j >= tail))
        m.d.sync += r.n2_real.eq(real)

    def _fire(self, m: Module, r: _Registers) -> None:
        """N2: the fire compare ``u >= threshold`` (``sim.lif.fire``) as the sign of the reset
        subtract ``u - threshold`` (one carry chain, exact one bit wider)."""
        lif = self._config.lif
        m.d.sync += [r.n3_valid.eq(r.n2_valid), r.n3_g.eq(r.n2_g), r.n3_j.eq(r.n2_j)]
        diff = reset_subtracted(r.n2_u, lif)
        m.d.sync += [r.n3_fire.eq(~diff[-1] & r.n2_real), r.n3_u.eq(r.n2_u)]
        if lif.reset is ResetMode.SUBTRACT:
            m.d.sync += r.n3_sub.eq(diff)

    def _reset(self, m: Module, r: _Registers) -> None:
        """N3: the reset mux (``sim.lif.reset``) shifts the neuron's membrane and spike into
        the group's registers; "any spike" and "at most one spike" so far, for the queue."""
        p, lif = self._config.lanes, self._config.lif
        first = r.n3_j == 0
        m.d.sync += [r.n4_valid.eq(r.n3_valid), r.n4_g.eq(r.n3_g), r.n4_j.eq(r.n3_j),
                     r.n4_last.eq(r.n3_j == p - 1)]
        with m.If(r.n3_valid):
            v = after_reset(spike=r.n3_fire, u=r.n3_u, subtracted=r.n3_sub, lif=lif)
            m.d.sync += [
                r.n4_spikes.eq(Cat(r.n4_spikes[1:], r.n3_fire) if p > 1 else r.n3_fire),
                r.n4_v[-1].eq(v),
                r.n4_any.eq(r.n3_fire | (r.n4_any & ~first)),
                r.n4_single.eq(first | (r.n4_single & ~(r.n4_any & r.n3_fire))),
            ]
            m.d.sync += [r.n4_v[j].eq(r.n4_v[j + 1]) for j in range(p - 1)]

    def _record(self, m: Module, r: _Registers, fifo) -> None:
        """N4, once the group's last lane is there: its readback record, and its spike mask
        queued for the serialiser when non-zero (the state write-back of each neuron is in
        :meth:`_state_ports`)."""
        p = self._config.lanes
        done = r.n4_valid & r.n4_last
        for j in range(p):
            m.d.comb += self.readback.payload.membranes[j].eq(r.n4_v[j])
        m.d.comb += [
            self.readback.valid.eq(done),
            self.readback.payload.index.eq(r.n4_g * p),
            self.readback.payload.spikes.eq(r.n4_spikes),
            fifo.w_data.eq(Cat(r.n4_spikes, r.n4_g, r.n4_single)),
            fifo.w_en.eq(done & r.n4_any),
        ]

    def _serialiser(self, m: Module, r: _Registers, fifo) -> None:
        """The output serialiser: one spike per cycle in ascending neuron order, then the
        end-of-timestep marker once the pass pipeline and the queue are empty."""
        p, gbits = self._config.lanes, index_bits(self.groups)
        # ``ser_empty`` and ``ser_single`` are registered, so the next mask is due (FIFO read)
        # on ``ser_empty | (ser_single & o.ready)``: ``o.ready`` passes through one LUT
        # before the FIFO, and the priority encoder stays off that path.
        low = Signal(range(max(2, p)))
        low_bit = Signal(p)
        for j in reversed(range(p)):
            with m.If(r.ser_mask[j]):
                m.d.comb += [low.eq(j), low_bit.eq(1 << j)]
        pass_empty = (~r.passing & ~r.n0_valid & ~r.n1_valid & ~r.n2_valid & ~r.n3_valid
                      & ~r.n4_valid)
        send_marker = r.flushing & pass_empty & ~fifo.r_rdy & r.ser_empty
        with m.If(~r.ser_empty):
            m.d.comb += [
                self.o.valid.eq(1),
                self.o.payload.index.eq(r.ser_base * p + low),
            ]
        with m.Elif(send_marker):
            m.d.comb += [
                self.o.valid.eq(1),
                self.o.payload.eot.eq(1),
                self.o.payload.last.eq(r.last_ts),
            ]
        with m.If(r.ser_empty | (r.ser_single & self.o.ready)):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(fifo.r_rdy):
                m.d.sync += [
                    r.ser_mask.eq(fifo.r_data[:p]),
                    r.ser_base.eq(fifo.r_data[p:p + gbits]),
                    r.ser_empty.eq(0),
                    r.ser_single.eq(fifo.r_data[-1]),
                ]
            with m.Else():
                m.d.sync += [r.ser_mask.eq(0), r.ser_empty.eq(1), r.ser_single.eq(0)]
        with m.Elif(self.o.ready):
            # two or more spikes left: send the lowest
            m.d.sync += [r.ser_mask.eq(r.ser_mask & ~low_bit),
                         r.ser_single.eq(at_most_two(list(r.ser_mask)))]

        with m.If(send_marker & self.o.ready):
            m.d.sync += [r.flushing.eq(0), r.accumulating.eq(1)]
            if r.ts is not None:
                end = r.last_ts | (r.ts == len(self._config.lif.input_shifts) - 1)
                m.d.sync += r.ts.eq(Mux(end, 0, r.ts + 1))
