"""Training side of the NCG golden model: threshold mux, competition regulation, S2-STDP errors,
the weight row update, one training step and the host's work around an epoch.

The integer contract (units, rounding, draw order) is the one stated in :mod:`spikesmith.sim.ncg`,
which holds the records, the input encoding, the forward pass and inference; this module is
what the learning core adds to them, bit for bit (``tests/sim/test_ncg.py``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .fixed import Rounding, round_shift, saturate
from .lfsr import LFSR24
from .ncg import ROUND_BITS, NCGParams, NCGRates, NCGState, StepTrace, forward, program_rates
from .ncg_random import draw_block
from .ncg_types import (
    Method,
    Regulation,
    WeightNorm,
    first_winner,
    group_winners,
    schedule_rates,
)

__all__ = [
    "end_epoch",
    "regulate",
    "s2stdp_errors",
    "start_epoch",
    "train_epoch",
    "train_step",
    "training_thresholds",
    "update_rows",
]


def training_thresholds(state: NCGState, label: int, *, params: NCGParams) -> np.ndarray:
    """Threshold mux of the core in training mode (as
    :func:`spikesmith.sim.ncg_reference.training_thresholds`): CR-2 selects ``θ̃`` for the
    target neurons of class ``label``, CR-1 selects ``θ̃`` for all, otherwise ``θ``."""
    reg = params.config.regulation
    if reg is Regulation.CR1:
        return state.thresholds_train
    if reg is Regulation.CR2:
        tn = params.config.class_map.target_neurons(label)
        thr = state.thresholds.copy()
        thr[tn] = state.thresholds_train[tn]
        return thr
    return state.thresholds


def regulate(
    thresholds_train: np.ndarray,
    bins: np.ndarray,
    potentials: np.ndarray,
    label: int,
    *,
    params: NCGParams,
    rates: NCGRates,
    thr_min: int,
) -> np.ndarray:
    """Integer competition regulation (the rule of
    :func:`spikesmith.sim.ncg_reference.regulate`): the winner among the target neurons of
    class ``label`` gets ``+eta_win``, the other target neurons ``-eta_lose``; CR-2 then clamps
    to ``>= thr_min``; the result saturates to ``params.threshold_format``. No change if
    ``M_t < 2`` or both registers are 0."""
    tn = params.config.class_map.target_neurons(label)
    if tn.size < 2 or (rates.eta_win == 0 and rates.eta_lose == 0):
        return thresholds_train
    win = tn[first_winner(bins[tn], potentials[tn])]
    out = thresholds_train.copy()
    out[tn] -= rates.eta_lose
    out[win] += rates.eta_lose + rates.eta_win
    if params.config.regulation is Regulation.CR2:
        out = np.maximum(out, thr_min)
    return saturate(out, params.threshold_format)


def s2stdp_errors(
    bins: np.ndarray, potentials: np.ndarray, label: int, *, params: NCGParams
) -> np.ndarray:
    """Integer S2-STDP / SSTDP errors (the equations of
    :func:`spikesmith.sim.ncg_reference.s2stdp_errors`, in ``2**-TF`` units of ``T_max``).

    With ``τ_j = bin_j << (TF - log2 K)`` (``2**TF`` if no spike), the updated neurons ``U``
    (group winners, or all), ``F_U`` those of them that fired and the host gap registers
    ``g_t, g_nt``::

        t_base = min(floor(Σ_{j∈F_U} τ_j / |F_U|), 2**TF - g_nt)   (2**TF - g_nt if F_U empty)
        T*_j   = t_base - g_t or t_base + g_nt (SSTDP: min/max with τ_j, as in the float model)
        e_j    = τ_j - T*_j

    The floor division is exact (the core divides by ``|F_U| <= n_upd`` with a small
    sequential divider). Returns ``int64 (N,)``, zero outside ``U``.
    """
    cfg = params.config
    cm = cfg.class_map
    k = params.time_bins
    if cfg.class_wta:
        upd = group_winners(bins, potentials, cm.neurons_per_class)
    else:
        upd = np.arange(cm.n_neurons)
    g_t, g_nt = params.gaps
    tmax = params.t_max
    bu = bins[upd]
    tau = np.where(bu < k, bu << (params.time_frac - params.log2_bins), tmax)
    fired = bu < k
    nf = int(fired.sum())
    t_base = tmax - g_nt
    if nf:
        t_base = min(int(tau[fired].sum()) // nf, t_base)
    is_tgt = (cm.classes[upd] == label) & cm.is_target[upd]
    if cfg.method is Method.SSTDP:
        target = np.where(is_tgt, np.minimum(tau, t_base - g_t), np.maximum(tau, t_base + g_nt))
    else:
        target = np.where(is_tgt, t_base - g_t, t_base + g_nt)
    err = np.zeros(cm.n_neurons, dtype=np.int64)
    err[upd] = tau - target
    return err


def update_rows(
    weights: np.ndarray,
    norm_target: np.ndarray,
    rows: np.ndarray,
    in_bins: np.ndarray,
    out_bins: np.ndarray,
    errors: np.ndarray,
    lfsr: np.ndarray,
    *,
    params: NCGParams,
    rates: NCGRates,
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrite the weight rows of the updated neurons ``rows`` (ascending).

    Per updated neuron ``j`` (once, ``S = TF + AF - WF - ROUND_BITS``)::

        (A+, A-) = (a_plus, a_minus) if e_j > 0 else (anti_a_plus, anti_a_minus)
        d+_j = (|e_j| A+) >> S        d-_j = (|e_j| A-) >> S       (floor; 2**-(WF+8) units)

    ``WeightNorm.ADDITIVE`` folds the normalisation into these two values, with ``S_j`` the
    current row sum and ``n_c`` the number of causal inputs::

        m_j  = floor((S_j 2**8 + n_c d+_j + (F - n_c) d-_j - S0_j 2**8) / F)
        d±_j -= m_j

    Per synapse ``i`` (the causality bit is ``bin_i <= bin_j``; silent inputs have bin ``K``,
    so they are causal only for a neuron that did not fire)::

        d  = d+_j if bin_i <= bin_j else d-_j
        Δw = (d + r) >> 8            STOCHASTIC (r: 8-bit LFSR24 draw, below)
             d >> 8 / round_shift(d, 8, HALF_EVEN)    FLOOR / HALF_EVEN
        w  = clip(w + Δw, w_min, w_max)

    ``WeightNorm.MULTIPLICATIVE`` then rescales the row to ``floor((w S0 + S/2) / S)`` with
    ``S`` the clipped row sum, saturated to the weight format (no re-clip, as the float code).

    Random draws: lane ``p`` (``p = 0 .. P-1``) serves synapses ``i ≡ p (mod P)``. For the
    ``u``-th row updated in this sample (``u = 0, 1, ...``) synapse ``i`` uses lane
    ``i mod P``'s draw number ``u G + i // P`` of this sample, ``G = ceil(F / P)``; every lane
    draws exactly ``G`` times per updated row (padding synapses past ``F`` draw and discard).
    Non-stochastic roundings draw nothing.

    Returns
    -------
    weights, lfsr : np.ndarray
        New weights and lane registers (the dropout register is left as is).
    """
    cfg = params.config
    f = cfg.n_inputs
    rb = ROUND_BITS
    shift = params.time_frac + params.rate_frac - params.weight_format.frac - rb
    e = errors[rows]
    ae = np.abs(e)
    pos = e > 0
    dp = (ae * np.where(pos, rates.a_plus, rates.anti_a_plus)) >> shift
    dm = (ae * np.where(pos, rates.a_minus, rates.anti_a_minus)) >> shift
    causal = in_bins[None, :] <= out_bins[rows, None]
    w = weights[rows]
    norm = params.effective_norm
    if norm is WeightNorm.ADDITIVE:
        nc = causal.sum(axis=1)
        s = w.sum(axis=1)
        m = ((s - norm_target[rows]) * (1 << rb) + nc * dp + (f - nc) * dm) // f
        dp, dm = dp - m, dm - m
    d = np.where(causal, dp[:, None], dm[:, None])
    rounding = params.weight_format.rounding
    new_lfsr, r = lfsr, None
    if rounding is Rounding.STOCHASTIC:
        p = params.lanes
        g = -(-f // p)
        u = rows.size
        draws, lanes_new = draw_block(lfsr[:p], LFSR24, draws=u * g)
        r = draws.reshape(p, u, g).transpose(1, 2, 0).reshape(u, g * p)[:, :f]
        new_lfsr = lfsr.copy()
        new_lfsr[:p] = lanes_new
    dw = round_shift(d, rb, rounding, draws=r)
    lo, hi = params.w_range
    w = np.clip(w + dw, lo, hi)
    if norm is WeightNorm.MULTIPLICATIVE:
        s = w.sum(axis=1, keepdims=True)
        s0 = norm_target[rows][:, None]
        scaled = (w * s0 + s // 2) // np.maximum(s, 1)
        w = np.where(s > 0, saturate(scaled, params.weight_format), w)
    out = weights.copy()
    out[rows] = w
    return out, new_lfsr


def _dropout_mask(lfsr: np.ndarray, params: NCGParams) -> tuple[np.ndarray, np.ndarray]:
    """Output dropout for one training sample: neuron ``j`` (ascending) takes the ``j``-th
    8-bit draw of register ``P`` and is dropped if ``draw < round(p 256)``."""
    n = params.config.class_map.n_neurons
    p = params.lanes
    draws, new = draw_block(lfsr[p:], LFSR24, draws=n)
    out = lfsr.copy()
    out[p:] = new
    return draws[0] >= params.dropout, out


def train_step(
    state: NCGState, bins: np.ndarray, label: int, *, params: NCGParams
) -> tuple[NCGState, StepTrace]:
    """Train the core on one sample, in the hardware's order.

    1. output dropout mask (if ``config.dropout > 0``; register ``P``);
    2. threshold mux (:func:`training_thresholds`) and :func:`forward`;
    3. prediction (class of :func:`~spikesmith.sim.ncg_types.first_winner`);
    4. competition regulation (:func:`regulate`, CR-1 / CR-2);
    5. errors: :func:`s2stdp_errors`, or for R-STDP ``±2**TF`` on the global winner
       (``+`` if it is a target neuron of class ``label``; so ``|e| = 1.0``);
    6. :func:`update_rows` on the neurons with non-zero error, ascending.

    Parameters
    ----------
    state : NCGState
        Current state.
    bins : np.ndarray
        ``int64 (F,)`` input spike bins (``K`` = silent).
    label : int
        Class of the sample.
    params : NCGParams
        Core parameters.
    """
    cfg = params.config
    cm = cfg.class_map
    k = params.time_bins
    lfsr = state.lfsr
    active = np.ones(cm.n_neurons, dtype=bool)
    if cfg.dropout > 0:
        active, lfsr = _dropout_mask(lfsr, params)
    thr = training_thresholds(state, label, params=params)
    t, v = forward(state.weights, thr, bins, time_bins=k, active=active)
    win = first_winner(t, v)
    pred = int(cm.classes[win])
    thr_train = state.thresholds_train
    if cfg.regulation in (Regulation.CR1, Regulation.CR2):
        thr_train = regulate(thr_train, t, v, label, params=params, rates=state.rates,
                             thr_min=int(state.thresholds.min()))
    if cfg.method is Method.RSTDP:
        err = np.zeros(cm.n_neurons, dtype=np.int64)
        reward = cm.classes[win] == label and cm.is_target[win]
        err[win] = params.t_max if reward else -params.t_max
    else:
        err = s2stdp_errors(t, v, label, params=params)
    rows = np.flatnonzero(err)
    w = state.weights
    if rows.size:
        w, lfsr = update_rows(w, state.norm_target, rows, bins, t, err, lfsr,
                              params=params, rates=state.rates)
    new = replace(state, weights=w, thresholds_train=thr_train, lfsr=lfsr)
    return new, StepTrace(bins=t, potentials=v, prediction=pred, updated=rows, errors=err,
                          active=active)


def start_epoch(state: NCGState, *, params: NCGParams) -> NCGState:
    """Host work before an epoch: load the epoch's rate registers (annealing and R-STDP
    modulation from :func:`~spikesmith.sim.ncg_types.schedule_rates`); CR-2 resets ``θ̃ ← θ``."""
    rates = schedule_rates(params.config, epoch=state.epoch, last_accuracy=state.last_accuracy)
    thr_train = state.thresholds_train
    if params.config.regulation is Regulation.CR2:
        thr_train = state.thresholds.copy()
    return replace(state, rates=program_rates(rates, params), thresholds_train=thr_train)


def end_epoch(state: NCGState, accuracy: float, *, params: NCGParams) -> NCGState:
    """Host work after an epoch: CR-1 copies ``θ̃`` into ``θ``; record accuracy and epoch."""
    thr = state.thresholds
    if params.config.regulation is Regulation.CR1:
        thr = state.thresholds_train.copy()
    return replace(state, thresholds=thr, epoch=state.epoch + 1, last_accuracy=accuracy)


def train_epoch(
    state: NCGState, bins: np.ndarray, labels: np.ndarray, *, params: NCGParams
) -> tuple[NCGState, float]:
    """Train one epoch over ``bins (n, F)`` in order; return the state and the online training
    accuracy (predictions with the training thresholds, before each update)."""
    state = start_epoch(state, params=params)
    correct = 0
    for i in range(bins.shape[0]):
        state, tr = train_step(state, bins[i], int(labels[i]), params=params)
        correct += tr.prediction == int(labels[i])
    acc = correct / max(1, bins.shape[0])
    return end_epoch(state, acc, params=params), acc
