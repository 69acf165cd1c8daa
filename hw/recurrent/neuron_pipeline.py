"""Neuron pass of the recurrent core: one neuron per cycle through four stages.

The rule is :func:`spikesmith.sim.recurrent.neuron_step` with, in sleep, the noise of
:func:`spikesmith.sim.sleep.noise_step` (:class:`~spikesmith.hw.recurrent.noise.NoiseUnit`);
the neuron's age is updated by ``sim.stdp.age_step``. Stages::

    N1  the neuron's words arrive (y, v, a; drive d; age; noise register):
        y' = y - (y >> k_syn) + d, handed out for g y (gy_x); noise draws; next register out
    N2  registered; the noise sum (0 when awake)
    N3  w = v - (v >> k_m) + noise (the noise gain product here, not in N1's path)
    N4  u = sat(w + (g y' >> k_g)), theta = min(theta0 + a, theta_max); comb: spike, reset,
        adaptation; the record and the write-back words out

``g y'`` is not multiplied here: the core lends the decay unit's multipliers
(``DecayUnit.x_en``), so ``gy_x`` leaves at N1 and ``gy`` (``g * gy_x``) comes back two cycles
later, at N3.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24

from .noise import NoiseUnit, noise_range
from .recurrent_config import CorePart, RecurrentCoreConfig, signed_bits
from .spike_age import spike_age_word

__all__ = ["NeuronPipeline"]


class NeuronPipeline(CorePart):
    """Current, charge (with sleep noise), fire, reset, adapt: one neuron per cycle.

    Parameters
    ----------
    config : RecurrentCoreConfig
        Neuron and sleep constants, widths (``y``, ``v``, ``a``, drive), the build's gain.

    Members
    -------
    valid : In(1)
        N1: neuron ``j``'s words are on the inputs below.
    j : In(range(n_post + 1))
    y, v : In(signed)
        The stored filtered current and membrane (widths ``widths["y"]``, ``widths["v"]``).
    a : In(widths["a"])
        The stored adaptation.
    drive : In(signed(widths["d"]))
        ``d_j`` of this step.
    age : In(age_bits)
        Steps since the neuron's last spike, before this step.
    noise_reg : In(24)
        The neuron's noise ``LFSR24`` register.
    sleeping : In(1)
        A sleep step (noise added; else none).
    theta0, theta_max, v_reset : In(signed(widths["v"]))
    adapt_inc : In(widths["a"])
    noise_gain : In(signed)
        Run-time parameters (``sim.recurrent.NeuronParams``, ``SleepParams.noise_gain``).
    gy_x : Out(signed(widths["y"]))
        N1: ``y'``, for the product ``g y'``.
    gy : In(signed(widths["y"] + gain_bits))
        ``g * gy_x`` of two cycles before.
    noise_next : Out(24)
        N1: the noise register after the draws (the core writes it back in sleep).
    o_valid : Out(1)
        N4: neuron ``o_j``'s results below.
    o_j : Out(range(n_post + 1))
    o_spike : Out(1)
    o_y, o_v : Out(signed)
    o_a : Out(widths["a"])
    o_age_word : Out(age_bits + 1)
        ``{spike, age'}``.
    busy : Out(1)
        A neuron is in N2..N4.
    clear_any : In(1)
        Clear ``any_spike`` (a later ``o_valid`` in the same cycle wins).
    any_spike : Out(1)
        Some neuron spiked since ``clear_any``.

    Raises
    ------
    TypeError
        If ``config`` is not a ``RecurrentCoreConfig``.
    """

    def _members(self, config: RecurrentCoreConfig) -> dict:
        p, w, ab = config.net.neuron, config.widths, config.net.stdp.age_bits
        self._noise = NoiseUnit(config.net.sleep)
        index = range(p.n_post + 1)
        vb = signed(w["v"])
        return {
            "valid": In(1), "j": In(index),
            "y": In(signed(w["y"])), "v": In(vb), "a": In(w["a"]),
            "drive": In(signed(w["d"])), "age": In(ab), "noise_reg": In(LFSR24.width),
            "sleeping": In(1),
            "theta0": In(vb), "theta_max": In(vb), "v_reset": In(vb), "adapt_inc": In(w["a"]),
            "noise_gain": In(signed(self._noise.gain_bits)),
            "gy_x": Out(signed(w["y"])), "gy": In(signed(w["y"] + config.gain_bits)),
            "noise_next": Out(LFSR24.width),
            "o_valid": Out(1), "o_j": Out(index), "o_spike": Out(1),
            "o_y": Out(signed(w["y"])), "o_v": Out(vb), "o_a": Out(w["a"]),
            "o_age_word": Out(ab + 1),
            "busy": Out(1),
            "clear_any": In(1), "any_spike": Out(1),
        }

    def elaborate(self, platform):
        cfg = self._config
        p, lp = cfg.net.neuron, cfg.net.sleep
        yb, vb, abits = cfg.widths["y"], cfg.widths["v"], cfg.widths["a"]
        ab_age = cfg.net.stdp.age_bits
        m = Module()
        m.submodules.noise = noise = self._noise
        m.d.comb += [noise.reg.eq(self.noise_reg), noise.gain.eq(self.noise_gain),
                     self.noise_next.eq(noise.next_reg)]

        # --- N1: y' (to the lent multiplier) ---------------------------------------------------
        y_new = Signal(signed(yb))
        m.d.comb += [y_new.eq(self.y - (self.y >> p.syn_shift) + self.drive),
                     self.gy_x.eq(y_new)]
        n2_valid, n2_j = Signal(), Signal.like(self.j)
        n2_y, n2_v = Signal(signed(yb)), Signal(signed(vb))
        n2_a, n2_age = Signal(abits), Signal(ab_age)
        n2_total = Signal.like(noise.total)    # the gain product at N2: not in N1's path
        m.d.sync += [
            n2_valid.eq(self.valid), n2_j.eq(self.j), n2_y.eq(y_new),
            n2_v.eq(self.v), n2_a.eq(self.a), n2_age.eq(self.age),
            n2_total.eq(Mux(self.sleeping, noise.total, 0)),   # scale(0) = 0
        ]
        # --- N2 -> N3: leak and noise ------------------------------------------------------------
        n_lo, n_hi = noise_range(lp)
        w_bound = max(abs(p.v_min), abs(p.v_max)) * 2 + max(-n_lo, n_hi)
        n3_valid, n3_j = Signal(), Signal.like(self.j)
        n3_w, n3_y = Signal(signed(signed_bits(w_bound))), Signal(signed(yb))
        n3_a, n3_age = Signal(abits), Signal(ab_age)
        m.d.sync += [
            n3_valid.eq(n2_valid), n3_j.eq(n2_j),
            n3_w.eq(n2_v - (n2_v >> p.mem_shift) + noise.scale(n2_total, self.noise_gain)),
            n3_y.eq(n2_y), n3_a.eq(n2_a), n3_age.eq(n2_age),
        ]
        # --- N3 -> N4: charge and threshold -----------------------------------------------------
        gy_bound = (cfg.y_bound * abs(p.gain) >> p.gain_shift) + 1
        u_raw = Signal(signed(signed_bits(w_bound + gy_bound)))
        m.d.comb += u_raw.eq(n3_w + (self.gy >> p.gain_shift))
        n4_u, n4_y = Signal(signed(vb)), Signal(signed(yb))
        n4_a, n4_age = Signal(abits), Signal(ab_age)
        n4_theta = Signal(signed(vb))     # theta0 <= theta <= theta_max, both within v
        theta = self.theta0 + n3_a
        m.d.sync += [
            self.o_valid.eq(n3_valid), self.o_j.eq(n3_j),
            n4_u.eq(Mux(u_raw > p.v_max, p.v_max, Mux(u_raw < p.v_min, p.v_min, u_raw))),
            n4_theta.eq(Mux(theta > self.theta_max, self.theta_max, theta)),
            n4_y.eq(n3_y), n4_a.eq(n3_a), n4_age.eq(n3_age),
        ]
        # --- N4: fire, reset, adapt -------------------------------------------------------------
        spike = self.o_spike
        m.d.comb += [
            spike.eq(n4_u >= n4_theta),
            self.o_v.eq(Mux(spike, self.v_reset, n4_u)),
            self.o_a.eq(n4_a - (n4_a >> p.adapt_shift) + Mux(spike, self.adapt_inc, 0)),
            self.o_y.eq(n4_y),
            self.o_age_word.eq(spike_age_word(spike, n4_age, age_max=cfg.net.stdp.age_max,
                                              age_bits=ab_age)),
            self.busy.eq(n2_valid | n3_valid | self.o_valid),
        ]
        with m.If(self.clear_any):
            m.d.sync += self.any_spike.eq(0)
        with m.If(self.o_valid):
            m.d.sync += self.any_spike.eq(self.any_spike | spike)
        return m
