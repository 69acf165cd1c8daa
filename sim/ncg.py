"""Integer golden model of the NCG learning core (S2-STDP / SSTDP / R-STDP + regulation).

Ref: Goupy, Tirilly, Bilasco, NeurIPS 2024 (Neuronal Competition Groups) and the official code
``ggoupy/SpikeNN`` (``reference/algorithms.md`` §1). The float model in
:mod:`spikesmith.sim.ncg_reference` is the algorithm; this module is what the hardware core
implements bit for bit. Every value is an ``int64`` NumPy integer.

Integer contract (decided here, tested in ``tests/sim/test_ncg.py``)
--------------------------------------------------------------------
Units
    ``WF = weight_format.frac``: weights, potentials, thresholds and ``η_θ`` are integers in
    units of ``2**-WF`` (1.0 = ``2**WF``). Time is ``K = time_bins`` bins (a power of two);
    an input or output spike has a bin ``0 .. K-1`` and ``K`` means "no spike". Targets and
    errors use the finer time unit ``2**-TF`` of ``T_max`` (``TF = time_frac``): a bin ``b``
    is ``τ = b << (TF - log2 K)``, "no spike" is ``2**TF``. STDP rates are integers in units
    of ``2**-AF`` (``AF = rate_frac``).
Inputs
    Events ``(feature, bin)`` in ascending bin order, features ascending within a bin. Pixels
    are latency coded as in ``sim.encoders``: ``bin = ((255 - x) * K) >> 8``; ``x = 0`` is silent.
Forward (per bin, what the core does per time step)
    Active neurons add ``w_ji`` for every event of the bin; after the bin, every active neuron
    with ``V_j > θ_j`` (strict) fires at that bin, latches ``V_j`` and stops integrating. Unlike
    the float code, the check after the *last* bin that has events is made (the float code
    skips the last input spike); this is the one deliberate forward difference.
Decision / WTA / CR winner
    :func:`spikesmith.sim.ncg_types.spike_order` on (bin, V).
Errors
    See :func:`~spikesmith.sim.ncg_learning.s2stdp_errors`: the mean firing time is a floor
    division, the gaps are host registers, the error is exact in ``τ`` units.
Weight update
    See :func:`~spikesmith.sim.ncg_learning.update_rows`: two per-neuron values (causal /
    non-causal) chosen per synapse by one causality bit, rounded to the weight LSB by
    ``weight_format.rounding`` (stochastic rounding from ``P`` LFSR24 lane registers, 8 random
    bits per synapse), clipped, then normalised (:class:`~spikesmith.sim.ncg_types.WeightNorm`).
Thresholds
    Two registers per neuron (test ``θ`` and training ``θ̃``); the competition regulation adds
    the host registers ``η_win`` / subtracts ``η_lose``
    (:func:`~spikesmith.sim.ncg_learning.regulate`).
Host
    Learning-rate annealing and R-STDP modulation are computed on the host between epochs
    (:func:`program_rates`) and loaded as integer registers (:class:`NCGRates`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import ncg_reference as ref
from .fixed import FixedFormat, Overflow, Rounding, bits_for_range
from .lfsr import LFSR24
from .ncg_random import lane_seeds
from .ncg_types import (
    NCGConfig,
    Rates,
    WeightNorm,
    first_winner,
)

__all__ = [
    "NCG_ROUNDINGS",
    "ROUND_BITS",
    "NCGParams",
    "NCGRates",
    "NCGState",
    "StepTrace",
    "events",
    "forward",
    "infer",
    "init_state",
    "latency_bins",
    "program_rates",
    "quantize_state",
]

#: Random bits per synapse update (one LFSR24 draw): the extra fractional bits of the
#: per-neuron update values below the weight LSB.
ROUND_BITS = LFSR24.draw_bits
#: The ``sim.fixed.Rounding`` modes a weight update may use (those the core implements).
NCG_ROUNDINGS = (Rounding.STOCHASTIC, Rounding.FLOOR, Rounding.HALF_EVEN)


@dataclass(frozen=True)
class NCGParams:
    """Integer parameters of the learning core.

    Parameters
    ----------
    config : NCGConfig
        The float hyper-parameters; integer registers are derived from them by the host.
    time_bins : int
        ``K``, a power of two in ``2 .. 2**16``.
    weight_format : FixedFormat
        Unsigned weight format; its ``frac`` is ``WF`` and its ``rounding`` (``STOCHASTIC``,
        ``FLOOR`` or ``HALF_EVEN``) rounds each update to the weight LSB. Default ``u13.12``
        with stochastic rounding: with 10 fractional bits the integer NCG ended 1.0 (mnist5k)
        to 1.5 points below the float reference on average, with 12 it does not (docs/ncg.md).
    time_frac : int
        ``TF >= log2 K``: fractional bits of target times and errors (units of ``T_max``).
    rate_frac : int
        ``AF``: fractional bits of the STDP rates; ``TF + AF >= WF + ROUND_BITS``.
    lanes : int
        ``P``: synapse lanes, one LFSR24 register each.
    norm : WeightNorm
        Weight normalisation used when ``config.w_norm`` is true.

    Raises
    ------
    ValueError
        On any value outside the ranges above.
    """

    config: NCGConfig
    time_bins: int = 256
    weight_format: FixedFormat = field(
        default_factory=lambda: FixedFormat(13, 12, signed=False, rounding=Rounding.STOCHASTIC)
    )
    time_frac: int = 12
    rate_frac: int = 16
    lanes: int = 8
    norm: WeightNorm = WeightNorm.ADDITIVE

    def __post_init__(self) -> None:
        k = self.time_bins
        if not isinstance(k, int) or k < 2 or k > (1 << 16) or k & (k - 1):
            raise ValueError(f"time_bins must be a power of two in 2..65536, not {k!r}")
        if not isinstance(self.weight_format, FixedFormat) or self.weight_format.signed:
            raise ValueError(f"weight_format must be an unsigned FixedFormat, not "
                             f"{self.weight_format!r}")
        if self.weight_format.rounding not in NCG_ROUNDINGS:
            raise ValueError(f"weight_format rounding must be one of "
                             f"{[r.value for r in NCG_ROUNDINGS]}, not "
                             f"{self.weight_format.rounding.value!r}")
        if not self.time_frac >= self.log2_bins or self.time_frac > 24:
            raise ValueError(f"time_frac must be in log2(time_bins)..24, not {self.time_frac!r}")
        if self.time_frac + self.rate_frac < self.weight_format.frac + ROUND_BITS:
            raise ValueError(
                f"time_frac + rate_frac must be >= weight frac + {ROUND_BITS}, not "
                f"{self.time_frac} + {self.rate_frac}"
            )
        if not isinstance(self.lanes, int) or self.lanes < 1:
            raise ValueError(f"lanes must be an integer >= 1, not {self.lanes!r}")
        if not isinstance(self.norm, WeightNorm):
            raise TypeError(f"norm must be a WeightNorm, not {self.norm!r}")
        lo, hi = self.w_range
        if not self.weight_format.contains(lo, hi):
            raise ValueError(
                f"weight_format {self.weight_format} must hold [w_min, w_max] = [{lo}, {hi}]"
            )

    @property
    def log2_bins(self) -> int:
        """``log2 K``."""
        return self.time_bins.bit_length() - 1

    def _q(self, x: float, frac: int) -> int:
        return int(np.rint(x * (1 << frac)))

    @property
    def w_range(self) -> tuple[int, int]:
        """``(w_min, w_max)`` in weight LSBs (round half even)."""
        wf = self.weight_format.frac
        return self._q(self.config.w_min, wf), self._q(self.config.w_max, wf)

    @property
    def threshold(self) -> int:
        """Test threshold ``θ`` in weight LSBs (round half even)."""
        return self._q(self.config.threshold, self.weight_format.frac)

    @property
    def gaps(self) -> tuple[int, int]:
        """Host registers ``(g_t, g_nt)`` in ``2**-TF`` units (round half even)."""
        g_t, g_nt = self.config.gaps
        return self._q(g_t, self.time_frac), self._q(g_nt, self.time_frac)

    @property
    def t_max(self) -> int:
        """``T_max`` (the "no spike" time) in ``2**-TF`` units."""
        return 1 << self.time_frac

    @property
    def dropout(self) -> int:
        """Dropout probability as an 8-bit compare value ``round(p * 256)``."""
        return self._q(self.config.dropout, 8)

    @property
    def potential_format(self) -> FixedFormat:
        """Unsigned format that holds any potential ``0 .. F * w_max`` (no overflow possible)."""
        hi = self.config.n_inputs * self.weight_format.max_value
        return FixedFormat(bits_for_range(0, hi, signed=False), self.weight_format.frac,
                           signed=False)

    @property
    def threshold_format(self) -> FixedFormat:
        """Signed saturating format of both threshold registers."""
        return FixedFormat(self.potential_format.width + 2, self.weight_format.frac,
                           signed=True, overflow=Overflow.SATURATE)

    @property
    def effective_norm(self) -> WeightNorm:
        """``norm`` if ``config.w_norm`` is true, else ``WeightNorm.NONE``."""
        return self.norm if self.config.w_norm else WeightNorm.NONE


@dataclass(frozen=True)
class NCGRates:
    """Integer learning-rate registers of one epoch (loaded by the host).

    ``a_plus, a_minus, anti_a_plus, anti_a_minus`` are signed, in ``2**-AF`` units;
    ``eta_win = round(η_θ (M_t - 1) / M_t)`` and ``eta_lose = round(η_θ / M_t)`` are in weight
    LSBs (potential units).
    """

    a_plus: int
    a_minus: int
    anti_a_plus: int
    anti_a_minus: int
    eta_win: int
    eta_lose: int


def program_rates(rates: Rates, params: NCGParams) -> NCGRates:
    """Quantise the host's float rates into the core's registers (round half even)."""
    af, wf = params.rate_frac, params.weight_format.frac
    mt = params.config.class_map.n_targets
    q = params._q
    return NCGRates(
        a_plus=q(rates.a_plus, af),
        a_minus=q(rates.a_minus, af),
        anti_a_plus=q(rates.anti_a_plus, af),
        anti_a_minus=q(rates.anti_a_minus, af),
        eta_win=q(rates.thr_lr * (mt - 1) / mt, wf),
        eta_lose=q(rates.thr_lr / mt, wf),
    )


@dataclass(frozen=True, eq=False)
class NCGState:
    """State of the integer learning core.

    Attributes
    ----------
    weights : np.ndarray
        ``int64 (N, F)`` in ``[w_min, w_max]`` weight LSBs.
    thresholds : np.ndarray
        ``int64 (N,)`` test threshold registers.
    thresholds_train : np.ndarray
        ``int64 (N,)`` training threshold registers (CR-2's ``θ̃`` / CR-1's thresholds).
    norm_target : np.ndarray
        ``int64 (N,)`` row sums ``S0`` kept by normalisation.
    rates : NCGRates
        Learning-rate registers of the current epoch.
    lfsr : np.ndarray
        ``int64 (P + 1,)`` LFSR24 states: lanes ``0 .. P-1`` for stochastic rounding, register
        ``P`` for output dropout.
    epoch : int
        Epochs completed.
    last_accuracy : float or None
        Online training accuracy of the last epoch (host-side, for R-STDP).
    """

    weights: np.ndarray
    thresholds: np.ndarray
    thresholds_train: np.ndarray
    norm_target: np.ndarray
    rates: NCGRates
    lfsr: np.ndarray
    epoch: int = 0
    last_accuracy: float | None = None


@dataclass(frozen=True, eq=False)
class StepTrace:
    """What one integer training step saw and did.

    Attributes
    ----------
    bins, potentials : np.ndarray
        ``int64 (N,)`` output spike bins (``K`` = none) and potentials.
    prediction : int
        Predicted class.
    updated : np.ndarray
        Neurons whose weight rows were rewritten, ascending.
    errors : np.ndarray
        ``int64 (N,)`` errors in ``2**-TF`` units (0 if not updated).
    active : np.ndarray
        ``bool (N,)`` dropout mask used.
    """

    bins: np.ndarray
    potentials: np.ndarray
    prediction: int
    updated: np.ndarray
    errors: np.ndarray
    active: np.ndarray


def latency_bins(x: np.ndarray, *, time_bins: int) -> np.ndarray:
    """Latency-code ``uint8`` intensities into bins ``((255 - x) * K) >> 8``; ``x = 0`` -> ``K``.

    The spike bin equals that of ``sim.encoders`` ``Encoding.LATENCY`` with ``timesteps = K``.
    """
    x = np.asarray(x).astype(np.int64)
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError("image intensities must lie in 0..255")
    return np.where(x == 0, time_bins, ((255 - x) * time_bins) >> 8)


def events(bins: np.ndarray, *, time_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the input events ``(features, bins)`` of one sample in the order the core
    receives them: ascending bin, ascending feature within a bin; silent inputs omitted."""
    order = np.argsort(bins, kind="stable")
    b = bins[order]
    keep = b < time_bins
    return order[keep], b[keep]


def quantize_state(state: ref.ReferenceState, params: NCGParams, *, seed: int) -> NCGState:
    """Quantise a float state: weights ``rint(w 2**WF)`` clipped to ``[w_min, w_max]``,
    thresholds ``rint(θ 2**WF)``, ``S0`` = quantised row sums; LFSR registers from
    :func:`spikesmith.sim.ncg_random.lane_seeds` with ``seed`` and ``P + 1`` lanes."""
    wf = params.weight_format.frac
    lo, hi = params.w_range
    w = np.clip(np.rint(state.weights.astype(np.float64) * (1 << wf)).astype(np.int64), lo, hi)
    thr = np.rint(state.thresholds.astype(np.float64) * (1 << wf)).astype(np.int64)
    thr_t = np.rint(state.thresholds_train.astype(np.float64) * (1 << wf)).astype(np.int64)
    return NCGState(
        weights=w,
        thresholds=thr,
        thresholds_train=thr_t,
        norm_target=w.sum(axis=1),
        rates=program_rates(state.rates, params),
        lfsr=lane_seeds(LFSR24, seed=seed, lanes=params.lanes + 1),
        epoch=state.epoch,
        last_accuracy=state.last_accuracy,
    )


def init_state(params: NCGParams, *, seed: int) -> NCGState:
    """Initial state: the float initial state of the same seed, quantised."""
    return quantize_state(ref.init_state(params.config, seed=seed), params, seed=seed)


def forward(
    weights: np.ndarray,
    thresholds: np.ndarray,
    bins: np.ndarray,
    *,
    time_bins: int,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one sample through the integer single-spike IF layer.

    For each bin ``b`` with events, in ascending order: every active neuron that has not
    fired adds ``w_ji`` for each event ``(i, b)``; then each such neuron with ``V_j > θ_j``
    fires at bin ``b`` and stops integrating (``V_j`` is kept). Neurons that never fire get
    bin ``K`` and the full sum. Dropped neurons (``active`` false) get ``K`` and ``V = 0``.

    Returns
    -------
    out_bins, potentials : np.ndarray
        ``int64 (N,)``.
    """
    n = weights.shape[0]
    feats, eb = events(bins, time_bins=time_bins)
    if feats.size == 0:
        t = np.full(n, time_bins, dtype=np.int64)
        v = np.zeros(n, dtype=np.int64)
    else:
        cs = np.cumsum(weights[:, feats], axis=1)
        ends = np.flatnonzero(np.append(eb[1:] != eb[:-1], True))
        vg = cs[:, ends]
        above = vg > thresholds[:, None]
        first = above.argmax(axis=1)
        fired = above[np.arange(n), first]
        t = np.where(fired, eb[ends][first], time_bins)
        v = np.where(fired, vg[np.arange(n), first], cs[:, -1])
    if active is not None:
        t = np.where(active, t, time_bins)
        v = np.where(active, v, 0)
    return t, v


def infer(state: NCGState, bins: np.ndarray, *, params: NCGParams) -> np.ndarray:
    """Predict classes of ``bins (n, F)`` with the test thresholds (first spike, ties to the
    larger potential, then the lower index)."""
    classes = params.config.class_map.classes
    out = np.empty(bins.shape[0], dtype=np.int64)
    for i in range(bins.shape[0]):
        t, v = forward(state.weights, state.thresholds, bins[i], time_bins=params.time_bins)
        out[i] = classes[first_winner(t, v)]
    return out
