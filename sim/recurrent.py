"""Recurrent excitatory/inhibitory LIF population: the one definition of its neuron equations.

Ref: Massey, Hubin, Nichele, Sæbø, "Sleep-Based Homeostatic Regularization for Stabilizing
STDP in Recurrent SNNs", arXiv 2601.08447 (2026), authors' code ``SNN_sleepy`` (branch
``Sleep_Article_1``); engineering summary in ``reference/algorithms.md`` §3.

Populations and indices. ``n_input`` rate-coded inputs ``X``, ``n_exc`` excitatory neurons
``E`` and ``n_inh`` inhibitory neurons ``I``. Presynaptic index ``i`` runs over ``X, E, I`` in
that order (``n_pre = n_input + n_exc + n_inh``); postsynaptic index ``j`` over ``E, I``
(``n_post = n_exc + n_inh``). Weights are stored as non-negative *magnitudes* ``m[i, j]`` in
units of ``2**-weight_frac`` (one matrix ``(n_pre, n_post)``, zero where no synapse exists);
the sign belongs to the presynaptic population (``+1`` for ``X`` and ``E``, ``-1`` for ``I``),
so an excitatory weight can never turn inhibitory.

Units. Membrane ``v`` and adaptation ``a`` are in ``2**-8`` mV relative to rest (rest is
``v = 0``). The filtered current ``y`` is ``tau_syn`` times the synaptic current, in weight
LSBs. One timestep ``t`` (1 ms), in pipeline order (see :func:`synaptic_drive`,
:func:`current_step`, :func:`charge`, :func:`fire`, :func:`reset`, :func:`adapt`)::

    d[t] = sum_i sign_i * m[i, j] * p_i[t]          p = (x[t], s_E[t-1], s_I[t-1])
    y[t] = y[t-1] - (y[t-1] >> k_syn) + d[t]
    u[t] = sat( v[t-1] - (v[t-1] >> k_m) + ((g * y[t]) >> k_g) + n[t] )
    theta[t] = min(theta0 + a[t-1], theta_max)
    s[t] = u[t] >= theta[t]
    v[t] = v_reset where s[t] else u[t]
    a[t] = a[t-1] - (a[t-1] >> k_a) + delta_a * s[t]

* ``>>`` is the arithmetic shift of :func:`sim.fixed.shift_right` (floor, also for negatives).
* Input spikes of step ``t`` reach the population in step ``t``; recurrent spikes of step
  ``t - 1`` reach it in step ``t`` (one step of synaptic delay).
* ``sat`` clamps ``u`` to ``[v_min, v_max]``; ``n[t]`` is the sleep noise of
  :func:`sim.sleep.noise_step` (zero while awake).
* The float model's ``tau_m = tau_syn = 30`` and ``tau_a = 100`` become shift leaks
  ``k_m = k_syn = 5`` (tau 32) and ``k_a = 7`` (tau 128). With ``g = R = 30`` and
  ``k_g = 18`` the charge term is ``R * I_syn / tau_m`` in membrane LSBs:
  ``I_syn = y / 2**k_syn`` weight LSBs, ``2**-weight_frac`` per LSB, ``2**8`` membrane LSBs per
  mV, so ``k_g = k_syn + k_m + weight_frac - 8``.

Rate coding (:func:`rate_encode`): each input ``i`` owns a ``sim.lfsr.LFSR24`` register; every
wake step each register makes one 8-bit draw ``r`` (advance 8 steps, take the low 8 bits, as
:func:`sim.lfsr.lfsr_draws`) and ``x_i[t] = pixel_i > r``. The registers do not advance
during sleep.

Connectivity (:func:`make_connectivity`): each possible synapse of group ``G`` exists with
probability ``density_G``, drawn host-side from ``numpy.random.default_rng(seed)``; the seed
is recorded in :class:`Connectivity`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .lfsr import LFSR24, lfsr_advance

__all__ = [
    "Connectivity",
    "GroupSpec",
    "NeuronParams",
    "NeuronState",
    "SynapseGroup",
    "adapt",
    "charge",
    "current_step",
    "fire",
    "make_connectivity",
    "neuron_step",
    "rate_encode",
    "regroup",
    "reset",
    "synaptic_drive",
    "threshold",
]


class SynapseGroup(enum.Enum):
    """A block of the weight matrix, named presynaptic-population then postsynaptic."""

    #: Rate-coded input to excitatory neurons.
    XE = "xe"
    #: Excitatory to excitatory (recurrent).
    EE = "ee"
    #: Excitatory to inhibitory.
    EI = "ei"
    #: Inhibitory to excitatory.
    IE = "ie"
    #: Inhibitory to inhibitory.
    II = "ii"


@dataclass(frozen=True)
class GroupSpec:
    """Connectivity, initial value, bounds and sleep target of one synapse group.

    Parameters
    ----------
    density : float
        Probability that each possible synapse exists, ``0 <= density <= 1``.
    init : int
        Initial magnitude of every existing synapse, weight LSBs.
    lo, hi : int
        Magnitude bounds ``0 <= lo <= init <= hi``, weight LSBs; STDP saturates at them.
    target : int
        Sleep homeostatic target magnitude ``w_t >= 1``, weight LSBs.
    """

    density: float
    init: int
    lo: int
    hi: int
    target: int

    def __post_init__(self) -> None:
        if not 0.0 <= self.density <= 1.0:
            raise ValueError(f"density must be in [0, 1], not {self.density!r}")
        for name in ("init", "lo", "hi", "target"):
            if not isinstance(getattr(self, name), int):
                raise TypeError(f"{name} must be an int, not {getattr(self, name)!r}")
        if not 0 <= self.lo <= self.init <= self.hi:
            raise ValueError(
                f"bounds must satisfy 0 <= lo <= init <= hi, not lo={self.lo!r} "
                f"init={self.init!r} hi={self.hi!r}"
            )
        if self.target < 1:
            raise ValueError(f"target must be >= 1, not {self.target!r}")


def _q16(x: float) -> int:
    return round(x * (1 << 16))


def _default_groups() -> dict[SynapseGroup, GroupSpec]:
    # Densities and initial magnitudes from MNIST_FAMILY_EXPERIMENT (algorithms.md §3.1),
    # except X->E: with the paper's 0.15 the integer model, started from rest for every image,
    # fires 0.25 spikes per excitatory neuron per image; 0.45 gives about 2.4. And E->I: with
    # the paper's 0.3 the inhibitory neurons fire 0.02 spikes per image (no inhibition at all);
    # 1.5 gives about 2 (docs/sleep.md).
    # Bound 25 = the authors' max_weight_exc; the paper has no I->I synapses.
    hi = _q16(25.0)
    t = _q16(0.2)
    return {
        SynapseGroup.XE: GroupSpec(0.10, _q16(0.45), 0, hi, t),
        SynapseGroup.EE: GroupSpec(0.15, _q16(0.3), 0, hi, t),
        SynapseGroup.EI: GroupSpec(0.20, _q16(1.5), 0, hi, t),
        SynapseGroup.IE: GroupSpec(0.25, _q16(0.3), 0, hi, t),
        SynapseGroup.II: GroupSpec(0.0, _q16(0.3), 0, hi, t),
    }


@dataclass(frozen=True)
class NeuronParams:
    """Integer parameters of the E/I population (module docstring gives the equations).

    Parameters
    ----------
    n_input, n_exc, n_inh : int
        Population sizes, each ``>= 1``.
    weight_frac : int
        Fractional bits of a weight magnitude (``2**-weight_frac`` per LSB).
    syn_shift, mem_shift, adapt_shift : int
        ``k_syn``, ``k_m``, ``k_a`` of the shift leaks (``1..31``).
    gain, gain_shift : int
        ``g`` and ``k_g`` of the charge term ``(g * y) >> k_g``.
    theta0, theta_max : int
        Resting threshold and the threshold clip, membrane LSBs above rest.
    v_reset, v_min, v_max : int
        Reset value and saturation bounds of the membrane, membrane LSBs.
    adapt_inc : int
        ``delta_a``, threshold increase per spike, membrane LSBs.
    groups : dict[SynapseGroup, GroupSpec]
        One spec per group (all five must be present).
    """

    n_input: int = 225
    n_exc: int = 200
    n_inh: int = 50
    weight_frac: int = 16
    syn_shift: int = 5
    mem_shift: int = 5
    adapt_shift: int = 7
    gain: int = 30
    gain_shift: int = 18
    theta0: int = 15 * 256
    theta_max: int = 70 * 256
    v_reset: int = -10 * 256
    v_min: int = -30 * 256
    v_max: int = 110 * 256
    adapt_inc: int = 3 * 256
    groups: dict[SynapseGroup, GroupSpec] = field(default_factory=_default_groups)

    def __post_init__(self) -> None:
        for name in ("n_input", "n_exc", "n_inh"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        for name in ("syn_shift", "mem_shift", "adapt_shift"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 31:
                raise ValueError(f"{name} must be an integer in 1..31, not {value!r}")
        if not self.v_min <= self.v_reset < self.theta0 <= self.theta_max <= self.v_max:
            raise ValueError(
                "membrane constants must satisfy v_min <= v_reset < theta0 <= theta_max <= "
                f"v_max, not {self.v_min}, {self.v_reset}, {self.theta0}, {self.theta_max}, "
                f"{self.v_max}"
            )
        if set(self.groups) != set(SynapseGroup):
            given = sorted(g.name for g in self.groups)
            raise ValueError(f"groups must give a GroupSpec for every SynapseGroup, not {given!r}")

    @property
    def n_pre(self) -> int:
        """Presynaptic count ``n_input + n_exc + n_inh``."""
        return self.n_input + self.n_exc + self.n_inh

    @property
    def n_post(self) -> int:
        """Postsynaptic count ``n_exc + n_inh``."""
        return self.n_exc + self.n_inh

    def block(self, g: SynapseGroup) -> tuple[slice, slice]:
        """Return the (pre, post) slices of group ``g`` in the weight matrix."""
        x, e, i = self.n_input, self.n_exc, self.n_inh
        pre = {"x": slice(0, x), "e": slice(x, x + e), "i": slice(x + e, x + e + i)}
        post = {"e": slice(0, e), "i": slice(e, e + i)}
        return pre[g.value[0]], post[g.value[1]]

    def sign(self) -> np.ndarray:
        """Return the presynaptic sign vector (``+1`` for X and E, ``-1`` for I), ``int64``."""
        s = np.ones(self.n_pre, dtype=np.int64)
        s[self.n_input + self.n_exc :] = -1
        return s


@dataclass(frozen=True, eq=False)
class Connectivity:
    """Which synapses exist, their group, bounds and targets (all ``(n_pre, n_post)``).

    Attributes
    ----------
    seed : int
        Seed of ``numpy.random.default_rng`` that drew the masks.
    mask : np.ndarray
        ``int64`` 1 where a synapse exists, 0 elsewhere.
    group : np.ndarray
        ``int8`` index of the synapse's group in ``list(SynapseGroup)``, ``-1`` where none.
    lo, hi : np.ndarray
        ``int64`` magnitude bounds (0 where no synapse exists).
    target : np.ndarray
        ``int64`` sleep target magnitude (1 where no synapse exists).
    init : np.ndarray
        ``int64`` initial magnitudes (0 where no synapse exists).
    """

    seed: int
    mask: np.ndarray
    group: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    target: np.ndarray
    init: np.ndarray


def make_connectivity(p: NeuronParams, *, seed: int) -> Connectivity:
    """Draw the sparse connectivity of ``p`` from ``numpy.random.default_rng(seed)``.

    Groups are drawn in ``SynapseGroup`` order, each as one ``rng.random(block_shape)`` array
    compared with ``< density``.

    Raises
    ------
    ValueError
        If ``seed`` is negative.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, not {seed!r}")
    rng = np.random.default_rng(seed)
    shape = (p.n_pre, p.n_post)
    mask = np.zeros(shape, dtype=np.int64)
    group = np.full(shape, -1, dtype=np.int8)
    lo = np.zeros(shape, dtype=np.int64)
    hi = np.zeros(shape, dtype=np.int64)
    target = np.ones(shape, dtype=np.int64)
    for gi, g in enumerate(SynapseGroup):
        spec = p.groups[g]
        rows, cols = p.block(g)
        exists = rng.random((rows.stop - rows.start, cols.stop - cols.start)) < spec.density
        mask[rows, cols] = exists
        group[rows, cols] = np.where(exists, gi, -1)
        lo[rows, cols] = np.where(exists, spec.lo, 0)
        hi[rows, cols] = np.where(exists, spec.hi, 0)
        target[rows, cols] = np.where(exists, spec.target, 1)
    init = np.zeros(shape, dtype=np.int64)
    for g in SynapseGroup:
        rows, cols = p.block(g)
        init[rows, cols] = mask[rows, cols] * p.groups[g].init
    return Connectivity(seed, mask, group, lo, hi, target, init)


def regroup(conn: Connectivity, p: NeuronParams) -> Connectivity:
    """Return the same synapses with the bounds, targets and initial values of ``p``'s groups.

    The mask, group map and seed are kept (``density`` of ``p`` is ignored): this is what a
    host changes on a built core, whose connectivity is fixed.

    Raises
    ------
    ValueError
        If ``conn`` does not have the shape ``(p.n_pre, p.n_post)``.
    """
    if conn.mask.shape != (p.n_pre, p.n_post):
        raise ValueError(f"conn must have shape {(p.n_pre, p.n_post)}, not {conn.mask.shape}")
    fields = {name: np.zeros(conn.mask.shape, dtype=np.int64) for name in ("lo", "hi", "init")}
    target = np.ones(conn.mask.shape, dtype=np.int64)
    for gi, g in enumerate(SynapseGroup):
        spec, sel = p.groups[g], conn.group == gi
        for name in fields:
            fields[name][sel] = getattr(spec, name)
        target[sel] = spec.target
    return Connectivity(conn.seed, conn.mask, conn.group, fields["lo"], fields["hi"], target,
                        fields["init"])


@dataclass(frozen=True, eq=False)
class NeuronState:
    """Per-neuron state, ``int64`` arrays of shape ``(..., n_post)``.

    Attributes
    ----------
    y : np.ndarray
        Filtered synaptic current times ``2**k_syn``, weight LSBs.
    v : np.ndarray
        Membrane, membrane LSBs above rest.
    a : np.ndarray
        Threshold adaptation, membrane LSBs.
    s : np.ndarray
        ``bool`` spikes of the last step (they drive the next step's recurrent input).
    """

    y: np.ndarray
    v: np.ndarray
    a: np.ndarray
    s: np.ndarray

    @classmethod
    def zeros(cls, shape: tuple[int, ...]) -> NeuronState:
        """Return the rest state (all zero, no spikes) of the given shape."""
        z = np.zeros(shape, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), np.zeros(shape, dtype=bool))


def synaptic_drive(m: np.ndarray, pre: np.ndarray, p: NeuronParams) -> np.ndarray:
    """Return ``d_j = sum_i sign_i m[i, j] pre_i`` for one network, exactly, ``int64``.

    ``pre`` is the ``bool`` presynaptic spike vector ``(n_pre,)`` of this step: input spikes
    of step ``t`` followed by neuron spikes of step ``t - 1``.
    """
    idx = np.flatnonzero(pre)
    split = np.searchsorted(idx, p.n_input + p.n_exc)
    rows = m[idx]
    return rows[:split].sum(axis=0) - rows[split:].sum(axis=0)


def current_step(y: np.ndarray, d: np.ndarray, p: NeuronParams) -> np.ndarray:
    """Return ``y - (y >> k_syn) + d`` (filtered synaptic current)."""
    return y - (y >> p.syn_shift) + d


def charge(v: np.ndarray, y: np.ndarray, noise: np.ndarray | int, p: NeuronParams) -> np.ndarray:
    """Return ``u = sat(v - (v >> k_m) + ((g * y) >> k_g) + noise)`` to ``[v_min, v_max]``."""
    u = v - (v >> p.mem_shift) + ((p.gain * y) >> p.gain_shift) + noise
    return np.clip(u, p.v_min, p.v_max)


def threshold(a: np.ndarray, p: NeuronParams) -> np.ndarray:
    """Return ``min(theta0 + a, theta_max)``."""
    return np.minimum(p.theta0 + a, p.theta_max)


def fire(u: np.ndarray, a: np.ndarray, p: NeuronParams) -> np.ndarray:
    """Return the spikes ``u >= threshold(a)`` (greater-or-equal), ``bool``."""
    return u >= threshold(a, p)


def reset(u: np.ndarray, s: np.ndarray, p: NeuronParams) -> np.ndarray:
    """Return ``v_reset`` where ``s`` and ``u`` elsewhere."""
    return np.where(s, p.v_reset, u)


def adapt(a: np.ndarray, s: np.ndarray, p: NeuronParams) -> np.ndarray:
    """Return ``a - (a >> k_a) + delta_a * s`` (spike-frequency adaptation)."""
    return a - (a >> p.adapt_shift) + p.adapt_inc * s


def neuron_step(
    state: NeuronState, d: np.ndarray, noise: np.ndarray | int, p: NeuronParams
) -> NeuronState:
    """Advance the neurons one step from the drive ``d``: current, charge, fire, reset, adapt."""
    y = current_step(state.y, d, p)
    u = charge(state.v, y, noise, p)
    s = fire(u, state.a, p)
    return NeuronState(y, reset(u, s, p), adapt(state.a, s, p), s)


def rate_encode(
    pixels: np.ndarray, registers: np.ndarray, *, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rate-code ``pixels`` for ``steps`` wake steps from per-input ``LFSR24`` registers.

    Parameters
    ----------
    pixels : np.ndarray
        Intensities ``0..255``, shape ``(..., n_input)``.
    registers : np.ndarray
        One non-zero 24-bit register per input, same shape as ``pixels``.
    steps : int
        Number of steps to encode.

    Returns
    -------
    spikes : np.ndarray
        ``bool`` ``(steps, ..., n_input)``: ``x[t] = pixel > r[t]``, ``r[t]`` the low 8 bits
        of the register after ``8 (t + 1)`` more LFSR steps.
    registers : np.ndarray
        The registers after the last draw.
    """
    px = np.asarray(pixels, dtype=np.int64)
    regs = np.asarray(registers, dtype=np.int64)
    out = np.empty((steps, *px.shape), dtype=bool)
    for t in range(steps):
        regs = lfsr_advance(regs, LFSR24, steps=LFSR24.draw_bits)
        out[t] = px > (regs & 0xFF)
    return out, regs
