"""Winners of the NCG learning core, collected as the forward pass commits each neuron.

Neurons arrive in index order, so "earlier bin, then larger potential" with the first
arrival kept on ties is :func:`spikesmith.sim.ncg_types.spike_order`. Per committed neuron
(bin ``t``, potential ``V``) the unit updates:

* the global winner (:func:`~spikesmith.sim.ncg_types.first_winner`): the prediction, and
  the neuron R-STDP updates;
* the winner of the neuron's group (:func:`~spikesmith.sim.ncg_types.group_winners`); at
  the group's last neuron it is written to the ``slots`` memory (intra-class WTA), or every
  neuron is (without WTA): (neuron, bin, target of the label) of each neuron the update may
  touch;
* the regulation winner among the target neurons of the label's group, and the first of
  them (:func:`spikesmith.sim.ncg_learning.regulate`);
* the sum of the firing times ``τ`` and the count of the written slots that fired (the mean
  firing time of :func:`spikesmith.sim.ncg_learning.s2stdp_errors`).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib.wiring import In, Out

from spikesmith.sim.ncg import NCGParams
from spikesmith.sim.ncg_types import Method

from . import buses
from .memories import NCGMemory, memory_geometry

__all__ = ["NCGWinners", "spike_time"]


def spike_time(b: Value, params: NCGParams) -> Value:
    """``τ`` of spike bin ``b`` in ``2**-TF`` units: ``b << (TF - log2 K)``, ``2**TF`` for
    ``b = K`` (no spike)."""
    return Mux(b < params.time_bins, b << (params.time_frac - params.log2_bins), params.t_max)


def _better(t_a, v_a, t_b, v_b):
    """Whether (bin, potential) ``a`` comes before ``b`` in spike order."""
    return (t_a < t_b) | ((t_a == t_b) & (v_a > v_b))


class NCGWinners(buses.NCGUnit):
    """Running winners, slot writes and the firing-time sum over one forward pass.

    Parameters
    ----------
    params : NCGParams
        Core parameters (class map, method, intra-class WTA).
        Checked by :class:`~spikesmith.hw.ncg.buses.NCGUnit` (``TypeError``, ``ValueError``).

    Members
    -------
    ctl : In(buses.control(params))
        ``label``.
    start : In(1)
        Clear the firing-time sum and count (the ``END`` command).
    commit : In(1)
        Take the neuron of ``neuron`` (its ``bin`` and ``potential`` final); never with
        ``start``.
    neuron : In(buses.neuron(params))
        Neuron index, group position and class, bin and potential.
    slots_wr : Out(write request)
        Slot writes (in the commit cycle); never for R-STDP.
    winners : Out(buses.winners(params))
        The winners so far (valid from the cycle after the commit).
    """

    def members(self, params: NCGParams) -> dict:
        return {
            "ctl": In(buses.control(params)),
            "start": In(1), "commit": In(1),
            "neuron": In(buses.neuron(params)),
            "slots_wr": Out(memory_geometry(params)[NCGMemory.SLOTS].write_request()),
            "winners": Out(buses.winners(params)),
        }

    def elaborate(self, platform):
        prm = self._params
        cfg = prm.config
        cm = cfg.class_map
        wd_neuron = len(self.winners.index)
        m = Module()
        nrn, win, label = self.neuron, self.winners, self.ctl.label
        j, pos, grp, nt, nv = nrn.index, nrn.position, nrn.group, nrn.bin, nrn.potential
        gb_v = Signal(len(nv), name="gb_v")
        gr_j, gr_t = Signal(wd_neuron, name="gr_j"), Signal(len(nt), name="gr_t")
        gr_v, gr_tgt = Signal(len(nv), name="gr_v"), Signal(name="gr_tgt")
        cr_t, cr_v = Signal(len(nt), name="cr_t"), Signal(len(nv), name="cr_v")

        is_tgt = pos >= cm.n_nontarget
        # group winner including neuron j
        new_gr = (pos == 0) | _better(nt, nv, gr_t, gr_v)
        ng_j, ng_t = Mux(new_gr, j, gr_j), Mux(new_gr, nt, gr_t)
        ng_tgt = Mux(new_gr, is_tgt, gr_tgt)
        with m.If(self.start):
            m.d.sync += [win.tau_sum.eq(0), win.n_fired.eq(0)]
        with m.Elif(self.commit):
            with m.If((j == 0) | _better(nt, nv, win.bin, gb_v)):
                m.d.sync += [win.index.eq(j), win.bin.eq(nt), gb_v.eq(nv), win.cls.eq(grp),
                             win.target.eq(is_tgt)]
            with m.If(new_gr):
                m.d.sync += [gr_j.eq(j), gr_t.eq(nt), gr_v.eq(nv), gr_tgt.eq(is_tgt)]
            in_cr = (grp == label) & is_tgt
            first = pos == cm.n_nontarget
            with m.If(in_cr & (first | _better(nt, nv, cr_t, cr_v))):
                m.d.sync += [win.cr_index.eq(j), cr_t.eq(nt), cr_v.eq(nv)]
            with m.If(in_cr & first):
                m.d.sync += win.cr_first.eq(j)
            if cfg.method is not Method.RSTDP:
                if cfg.class_wta:
                    write = pos == cm.neurons_per_class - 1
                    s_j, s_t, s_tgt, s_addr = ng_j, ng_t, (grp == label) & ng_tgt, grp
                else:
                    write = Const(1, 1)
                    s_j, s_t, s_tgt, s_addr = j, nt, (grp == label) & is_tgt, j
                m.d.comb += [self.slots_wr.addr.eq(s_addr), self.slots_wr.en.eq(write),
                             self.slots_wr.data.eq(Cat(s_j[:wd_neuron], s_t, s_tgt))]
                with m.If(write & (s_t < prm.time_bins)):
                    m.d.sync += [win.tau_sum.eq(win.tau_sum + spike_time(s_t, prm)),
                                 win.n_fired.eq(win.n_fired + 1)]
        return m
