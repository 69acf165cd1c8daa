"""Event-driven, time-multiplexed LIF layer core.

The neuron equations are those of ``sim.lif`` (:func:`spikeforge.sim.lif.charge`, ``fire``,
``reset``); this core implements them as pipeline stages and is proven equal to them by
``tests/hw`` and ``tests/rtl``.

Organisation (``P`` = ``config.lanes`` lanes, ``G = ceil(n_out / P)`` neuron groups)::

    weights      Memory  n_in * G words of P weights   word index*G + g = W[g*P : g*P+P, index]
    accumulators Memory  G words of P acc_bits lanes   I[t] of group g
    membranes    Memory  G words of P membrane lanes   v[t-1] of group g

Accumulate phase (per input event, one group per cycle, ``P`` synaptic operations per cycle)::

    S0  weight read address index*G + g
    S1  weight word arrives; lane products w*value (direct current) or w (spikes);
        accumulator read address g
    S2  accumulator word arrives; I += product; accumulator write

The accumulator read of an item happens on the same clock edge as the write of the item ahead
of it, and the read port is transparent to the write port, so back-to-back updates of the same
group (``G`` = 1, or consecutive events) see each other's results without stalls.

Neuron pass (after an end-of-timestep marker, once the accumulate pipeline is empty; one group
per cycle)::

    N0  read I and v of group g
    N1  leak and add (sim.lif.charge before saturation); accumulator of g cleared to 0
    N2  saturate to the membrane format (end of sim.lif.charge)
    N3  fire and reset (sim.lif.fire, sim.lif.reset); membrane write; readback record;
        non-zero spike masks queue for the output serialiser

The serialiser emits the spikes of the timestep in ascending neuron order, then the
end-of-timestep marker (with the ``last`` bit of the marker that closed the timestep).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from spikeforge.compiler.cores import LIFCoreConfig
from spikeforge.sim.lif import NeuronModel, ResetMode

from .streams import (
    current_event_layout,
    index_bits,
    membrane_readback_layout,
    spike_event_layout,
)

__all__ = ["LIFCore", "pack_weight_words"]


def pack_weight_words(config: LIFCoreConfig) -> list[int]:
    """Return the weight memory contents: ``n_in * G`` words of ``P`` weights.

    Word ``index * G + g`` holds ``W[g*P + j, index]`` in bits ``j*weight_bits`` upward (two's
    complement); neurons past ``n_out`` (padding of the last group) have weight 0.
    """
    p, wb = config.lanes, config.weight_bits
    groups = -(-config.n_out // p)
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


class LIFCore(wiring.Component):
    """One layer of IF/LIF neurons with dense synapses, time-multiplexed over ``P`` lanes.

    Parameters
    ----------
    config : LIFCoreConfig
        Weights (initial contents of the weight memory), widths, neuron parameters, lanes.

    Members
    -------
    i : In(stream.Signature(event))
        Input events and end-of-timestep markers (:mod:`spikeforge.hw.streams`): a spike
        event layout for ``input_bits == 1``, a current event layout for ``input_bits == 8``.
    o : Out(stream.Signature(spike_event_layout(n_out)))
        Output spikes of each timestep in ascending neuron order, then the end-of-timestep marker.
    readback : Out(stream.Signature(membrane_readback_layout(...), always_ready=True))
        One record per group per timestep (membranes after reset and spikes); it never stalls
        the core, so it may be left unconnected.
    clear : In(1)
        Pulse while the core is idle (between samples) to make the next timestep start from
        ``v = 0``. Samples ended by a ``last`` marker need no ``clear``.
    busy : Out(1)
        High while events or a neuron pass are in flight.

    Raises
    ------
    TypeError
        If ``config`` is not a ``LIFCoreConfig``.
    ValueError
        On widths the datapath cannot hold.
    """

    def __init__(self, config: LIFCoreConfig):
        if not isinstance(config, LIFCoreConfig):
            raise TypeError(f"config must be a LIFCoreConfig, not {config!r}")
        if not 2 <= config.weight_bits <= 32:
            raise ValueError(f"weight_bits must be in 2..32, not {config.weight_bits!r}")
        if not 2 <= config.acc_bits <= 48:
            raise ValueError(f"acc_bits must be in 2..48, not {config.acc_bits!r}")
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
        """Neuron groups ``G = ceil(n_out / P)``: cycles per input event."""
        return -(-self._config.n_out // self._config.lanes)

    def elaborate(self, platform):
        cfg = self._config
        p, g_n = cfg.lanes, self.groups
        wb, ab = cfg.weight_bits, cfg.acc_bits
        lif = cfg.lif
        mb = lif.membrane.width
        m = Module()

        # --- memories -------------------------------------------------------------------
        m.submodules.weights = weights = Memory(
            shape=unsigned(p * wb), depth=max(2, cfg.n_in * g_n), init=pack_weight_words(cfg))
        m.submodules.acc = acc = Memory(shape=unsigned(p * ab), depth=max(2, g_n), init=[])
        m.submodules.mem = mem = Memory(shape=unsigned(p * mb), depth=max(2, g_n), init=[])
        w_rd = weights.read_port()
        a_wr = acc.write_port()
        a_rd = acc.read_port(transparent_for=(a_wr,))
        v_wr = mem.write_port()
        v_rd = mem.read_port()
        m.submodules.spike_fifo = fifo = SyncFIFO(width=p + index_bits(g_n), depth=g_n)

        gbits = index_bits(g_n)
        # --- control state --------------------------------------------------------------
        fresh = Signal(init=1)       # next neuron pass starts from v = 0
        last_ts = Signal()           # the marker closing this timestep had last = 1
        accumulating = Signal(init=1)
        draining = Signal()
        passing = Signal()           # neuron pass issue
        flushing = Signal()          # waiting for pass pipeline + serialiser, then marker

        # accumulate pipeline registers
        s0_valid = Signal()
        s0_addr = Signal(range(max(2, cfg.n_in * g_n)))
        s0_g = Signal(gbits)
        s0_value = Signal(max(1, cfg.input_bits))
        s1_valid, s1_g = Signal(), Signal(gbits)
        s1_value = Signal(max(1, cfg.input_bits))
        s2_valid, s2_g = Signal(), Signal(gbits)
        prod_bits = wb + (cfg.input_bits + 1 if cfg.input_bits > 1 else 0)
        s2_prod = [Signal(signed(prod_bits), name=f"s2_prod{j}") for j in range(p)]

        # neuron pass registers
        n0_valid, n0_g = Signal(), Signal(gbits)
        n1_valid, n1_g = Signal(), Signal(gbits)
        n2_valid, n2_g = Signal(), Signal(gbits)
        n3_valid, n3_g = Signal(), Signal(gbits)
        u_raw_bits = max(mb + 1, ab) + 1
        n2_uraw = [Signal(signed(u_raw_bits), name=f"n2_uraw{j}") for j in range(p)]
        n3_u = [Signal(signed(mb), name=f"n3_u{j}") for j in range(p)]

        # serialiser
        ser_mask = Signal(p)
        ser_base = Signal(gbits)

        m.d.comb += self.busy.eq(~accumulating | s0_valid | s1_valid | s2_valid)

        # --- accumulate: S0 (issue) --------------------------------------------------------
        issuing_last = s0_valid & (s0_g == g_n - 1)
        m.d.comb += self.i.ready.eq(accumulating & (~s0_valid | issuing_last))
        m.d.comb += w_rd.addr.eq(s0_addr)
        with m.If(s0_valid):
            m.d.sync += [s0_addr.eq(s0_addr + 1), s0_g.eq(s0_g + 1)]
            with m.If(issuing_last):
                m.d.sync += s0_valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            with m.If(self.i.payload.eot):
                m.d.sync += [last_ts.eq(self.i.payload.last), accumulating.eq(0),
                             draining.eq(1)]
            with m.Else():
                m.d.sync += [
                    s0_valid.eq(1),
                    s0_addr.eq(self.i.payload.index * g_n),
                    s0_g.eq(0),
                ]
                if cfg.input_bits > 1:
                    m.d.sync += s0_value.eq(self.i.payload.value)

        # --- accumulate: S1 (weights arrive, products) ------------------------------------
        m.d.sync += [s1_valid.eq(s0_valid), s1_g.eq(s0_g), s1_value.eq(s0_value)]
        for j in range(p):
            w_lane = w_rd.data[j * wb:(j + 1) * wb].as_signed()
            if cfg.input_bits > 1:
                m.d.sync += s2_prod[j].eq(w_lane * s1_value)
            else:
                m.d.sync += s2_prod[j].eq(w_lane)
        m.d.sync += [s2_valid.eq(s1_valid), s2_g.eq(s1_g)]

        # --- accumulator ports: S1/S2 in the accumulate phase, N0/N1 in the neuron pass ------
        with m.If(accumulating | draining):
            m.d.comb += a_rd.addr.eq(s1_g)
            m.d.comb += [a_wr.addr.eq(s2_g), a_wr.en.eq(Mux(s2_valid, (1 << len(a_wr.en)) - 1,
                                                               0))]
            for j in range(p):
                lane = a_rd.data[j * ab:(j + 1) * ab].as_signed()
                m.d.comb += a_wr.data[j * ab:(j + 1) * ab].eq(lane + s2_prod[j])
        with m.Else():
            m.d.comb += a_rd.addr.eq(n0_g)
            m.d.comb += [a_wr.addr.eq(n1_g), a_wr.data.eq(0),
                         a_wr.en.eq(Mux(n1_valid, (1 << len(a_wr.en)) - 1, 0))]

        # --- drain, then neuron pass issue (N0) -----------------------------------------------
        with m.If(draining & ~s0_valid & ~s1_valid & ~s2_valid):
            m.d.sync += [draining.eq(0), passing.eq(1), n0_valid.eq(1), n0_g.eq(0)]
        with m.If(passing):
            with m.If(n0_g == g_n - 1):
                m.d.sync += [passing.eq(0), n0_valid.eq(0), flushing.eq(1)]
            with m.Else():
                m.d.sync += n0_g.eq(n0_g + 1)
        m.d.comb += v_rd.addr.eq(n0_g)

        # --- N1: leak + input (sim.lif.charge before saturation) ------------------------------
        m.d.sync += [n1_valid.eq(n0_valid), n1_g.eq(n0_g)]
        m.d.sync += [n2_valid.eq(n1_valid), n2_g.eq(n1_g)]
        for j in range(p):
            v_old = Mux(fresh, 0, v_rd.data[j * mb:(j + 1) * mb].as_signed())
            i_lane = a_rd.data[j * ab:(j + 1) * ab].as_signed()
            leaky = lif.model is NeuronModel.LIF
            leaked = v_old - (v_old >> lif.leak_shift) if leaky else v_old
            m.d.sync += n2_uraw[j].eq(leaked + i_lane)

        # --- N2: saturate to the membrane format ------------------------------------------
        m.d.sync += [n3_valid.eq(n2_valid), n3_g.eq(n2_g)]
        lo, hi = lif.membrane.min_value, lif.membrane.max_value
        for j in range(p):
            u = n2_uraw[j]
            m.d.sync += n3_u[j].eq(Mux(u > hi, hi, Mux(u < lo, lo, u)))

        # --- N3: fire, reset, write back, readback, spike queue -----------------------------
        spikes = Signal(p)
        v_new = [Signal(signed(mb), name=f"n3_v{j}") for j in range(p)]
        for j in range(p):
            fired = (n3_u[j] >= lif.threshold) & ((n3_g * p + j) < cfg.n_out)
            m.d.comb += spikes[j].eq(fired)
            if lif.reset is ResetMode.ZERO:
                m.d.comb += v_new[j].eq(Mux(fired, 0, n3_u[j]))
            else:
                m.d.comb += v_new[j].eq(Mux(fired, n3_u[j] - lif.threshold, n3_u[j]))
            m.d.comb += v_wr.data[j * mb:(j + 1) * mb].eq(v_new[j])
            m.d.comb += self.readback.payload.membranes[j].eq(v_new[j])
        m.d.comb += [
            v_wr.addr.eq(n3_g),
            v_wr.en.eq(Mux(n3_valid, (1 << len(v_wr.en)) - 1, 0)),
            self.readback.valid.eq(n3_valid),
            self.readback.payload.index.eq(n3_g * p),
            self.readback.payload.spikes.eq(spikes),
            fifo.w_data.eq(spikes | (n3_g << p)),
            fifo.w_en.eq(n3_valid & (spikes != 0)),
        ]

        # --- serialiser: one spike per cycle, then the end-of-timestep marker --------------
        low = Signal(range(max(2, p)))
        for j in reversed(range(p)):
            with m.If(ser_mask[j]):
                m.d.comb += low.eq(j)
        low_bit = Signal(p)
        m.d.comb += low_bit.eq(ser_mask & -ser_mask)
        pass_empty = ~passing & ~n0_valid & ~n1_valid & ~n2_valid & ~n3_valid
        send_marker = flushing & pass_empty & ~fifo.r_rdy & (ser_mask == 0)
        with m.If(ser_mask != 0):
            m.d.comb += [
                self.o.valid.eq(1),
                self.o.payload.index.eq(ser_base * p + low),
            ]
        with m.Elif(send_marker):
            m.d.comb += [
                self.o.valid.eq(1),
                self.o.payload.eot.eq(1),
                self.o.payload.last.eq(last_ts),
            ]
        sent_one = (ser_mask != 0) & self.o.ready
        remaining = Mux(sent_one, ser_mask & ~low_bit, ser_mask)
        with m.If(remaining == 0):
            m.d.comb += fifo.r_en.eq(1)
            with m.If(fifo.r_rdy):
                m.d.sync += [ser_mask.eq(fifo.r_data[:p]), ser_base.eq(fifo.r_data[p:])]
            with m.Else():
                m.d.sync += ser_mask.eq(0)
        with m.Else():
            m.d.sync += ser_mask.eq(remaining)

        with m.If(send_marker & self.o.ready):
            m.d.sync += [flushing.eq(0), accumulating.eq(1), fresh.eq(last_ts)]
        with m.If(self.clear):
            m.d.sync += fresh.eq(1)
        return m
