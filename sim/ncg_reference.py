"""Float reference of the NCG readout: S2-STDP / SSTDP / R-STDP with competition regulation.

Ref: Goupy, Tirilly, Bilasco, "Neuronal Competition Groups with Supervised STDP for Spike-Based
Classification", NeurIPS 2024; official code ``github.com/ggoupy/SpikeNN`` (author commit
``b3d1865``: ``spikenn/_impl.py``, ``spikenn/train.py``, ``app/readout.py``); the behaviour
details this model reproduces are listed in ``reference/algorithms.md`` §1.8b.

Float32 weights, potentials and times as in the official code; ``T_max = 1``. This is the model
the integer golden model (:mod:`spikesmith.sim.ncg`) is measured against. Training is sequential
over samples; each step is a pure function of the state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .ncg_types import (
    Method,
    NCGConfig,
    Rates,
    Regulation,
    first_winner,
    group_winners,
    schedule_rates,
)

__all__ = [
    "T_MAX",
    "ReferenceState",
    "ReferenceTrace",
    "end_epoch",
    "forward",
    "infer",
    "init_state",
    "latency_times",
    "regulate",
    "s2stdp_errors",
    "start_epoch",
    "stdp_update",
    "train_epoch",
    "train_step",
    "training_thresholds",
]

#: Maximum (and "no spike") time of the float model.
T_MAX = np.float32(1.0)


def latency_times(x: np.ndarray, *, x_max: int = 255) -> np.ndarray:
    """Latency-code intensities: ``t = 1 - x / x_max``; ``x = 0`` never spikes (``t = T_max``).

    Parameters
    ----------
    x : np.ndarray
        Non-negative intensities ``(..., F)``, at most ``x_max``.

    Returns
    -------
    np.ndarray
        ``float32`` spike times in ``[0, 1)``, or ``T_MAX`` for silent features.
    """
    x = np.asarray(x)
    if x.size and (x.min() < 0 or x.max() > x_max):
        raise ValueError(f"intensities must lie in 0..{x_max}")
    t = (1.0 - x.astype(np.float64) / x_max).astype(np.float32)
    return np.where(x == 0, T_MAX, t).astype(np.float32)


@dataclass(frozen=True, eq=False)
class ReferenceState:
    """State of the float readout.

    Attributes
    ----------
    weights : np.ndarray
        ``float32 (N, F)``.
    thresholds : np.ndarray
        ``float32 (N,)`` test thresholds.
    thresholds_train : np.ndarray
        ``float32 (N,)`` training compartment: the adaptive thresholds ``θ̃`` of CR-2 or the
        single adapted thresholds of CR-1 (equal to ``thresholds`` otherwise).
    norm_target : np.ndarray
        ``float32 (N,)`` L1 row sums kept by weight normalisation.
    rates : Rates
        Rates of the current epoch.
    epoch : int
        Epochs completed.
    last_accuracy : float or None
        Online training accuracy of the last epoch (drives R-STDP's modulation).
    """

    weights: np.ndarray
    thresholds: np.ndarray
    thresholds_train: np.ndarray
    norm_target: np.ndarray
    rates: Rates
    epoch: int = 0
    last_accuracy: float | None = None


@dataclass(frozen=True, eq=False)
class ReferenceTrace:
    """What one training step saw and did.

    Attributes
    ----------
    times, potentials : np.ndarray
        Forward-pass spike times and potentials ``(N,)`` (before any masking).
    prediction : int
        Predicted class (class of :func:`~spikesmith.sim.ncg_types.first_winner`).
    updated : np.ndarray
        Indices of the neurons whose weights changed (non-zero error), ascending.
    errors : np.ndarray
        ``float32 (N,)`` errors ``e_j`` (0 for neurons not updated).
    """

    times: np.ndarray
    potentials: np.ndarray
    prediction: int
    updated: np.ndarray
    errors: np.ndarray


def init_state(config: NCGConfig, *, seed: int) -> ReferenceState:
    """Draw the initial state: weights ``N(w_init_mean, w_init_std)`` (float32, NumPy generator
    seeded with ``seed``), normalisation targets = row sums *before* the initial clip, then clip
    to ``[w_min, w_max]``; all thresholds equal ``config.threshold``."""
    cm = config.class_map
    rng = np.random.default_rng(seed)
    w = rng.normal(config.w_init_mean, config.w_init_std, size=(cm.n_neurons, config.n_inputs))
    w = w.astype(np.float32)
    norm = np.abs(w).sum(axis=1, dtype=np.float32)
    w = np.clip(w, config.w_min, config.w_max).astype(np.float32)
    thr = np.full(cm.n_neurons, config.threshold, dtype=np.float32)
    return ReferenceState(
        weights=w,
        thresholds=thr,
        thresholds_train=thr.copy(),
        norm_target=norm,
        rates=schedule_rates(config, epoch=0, last_accuracy=None),
    )


def forward(
    weights: np.ndarray,
    thresholds: np.ndarray,
    times: np.ndarray,
    *,
    active: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one sample through the single-spike IF layer (``forward_fc`` of the official code).

    Input spikes with ``t_i < T_max`` are sorted by time (stable: ties by feature index).
    Every neuron integrates ``V_j += w_ji`` per input spike. When the timestamp changes, the
    neurons still active are checked *before* the new spike is integrated: ``V_j > θ_j``
    (strict) fires neuron ``j`` at the previous timestamp; it then stops integrating (single
    spike, no reset) and keeps ``V_j``. The last check happens when the *last* input spike is
    reached, before it is integrated, and there is no check afterwards, so a neuron that would
    cross only through the last input spike never fires (its ``V`` includes that spike).
    Neurons that never fire get ``t_j = T_max``. Dropped neurons (``active`` false) never
    integrate: ``t = T_max``, ``V = 0``.

    Parameters
    ----------
    weights : np.ndarray
        ``float32 (N, F)``.
    thresholds : np.ndarray
        ``float32 (N,)`` thresholds in force.
    times : np.ndarray
        ``float32 (F,)`` input spike times, ``T_MAX`` for silent inputs.
    active : np.ndarray or None
        ``bool (N,)`` output dropout mask (None: all active).

    Returns
    -------
    times_out, potentials : np.ndarray
        ``float32 (N,)`` spike times and potentials.
    """
    n = weights.shape[0]
    order = np.argsort(times, kind="stable")
    ts = times[order]
    keep = ts < T_MAX
    feats, ts = order[keep], ts[keep]
    t_out = np.full(n, T_MAX, dtype=np.float32)
    if feats.size == 0:
        v = np.zeros(n, dtype=np.float32)
    else:
        cs = np.cumsum(weights[:, feats], axis=1, dtype=np.float32)
        # check i (1 <= i < E) happens before spike i is integrated, at a new timestamp or at
        # the last spike; it sees cs[:, i-1] and fires at ts[i-1].
        e = feats.size
        idx = np.arange(1, e)
        checks = idx[(ts[1:] != ts[:-1]) | (idx == e - 1)]
        if checks.size == 0:  # one input spike: it is the last one, nothing can fire
            checks = np.array([e], dtype=np.int64)
            vc = np.full((n, 1), -np.inf, dtype=np.float32)
        else:
            vc = cs[:, checks - 1]
        above = vc > thresholds[:, None]
        fired = above.any(axis=1)
        first = above.argmax(axis=1)
        rows = np.arange(n)
        t_out = np.where(fired, ts[checks - 1][first], T_MAX).astype(np.float32)
        v = np.where(fired, vc[rows, first], cs[:, -1]).astype(np.float32)
    if active is not None:
        t_out = np.where(active, t_out, T_MAX).astype(np.float32)
        v = np.where(active, v, 0).astype(np.float32)
    return t_out, v


def training_thresholds(state: ReferenceState, label: int, *, config: NCGConfig) -> np.ndarray:
    """Thresholds in force for a training sample of class ``label``.

    CR-2: the test threshold for every neuron except the target neurons of class ``label``,
    which use their adaptive threshold ``θ̃``. CR-1: the training thresholds of all neurons.
    Otherwise the test thresholds.
    """
    reg = config.regulation
    if reg is Regulation.CR1:
        return state.thresholds_train
    if reg is Regulation.CR2:
        thr = state.thresholds.copy()
        tn = config.class_map.target_neurons(label)
        thr[tn] = state.thresholds_train[tn]
        return thr
    return state.thresholds


def regulate(
    thresholds_train: np.ndarray,
    times: np.ndarray,
    potentials: np.ndarray,
    label: int,
    *,
    config: NCGConfig,
    thr_lr: float,
    thr_min: float,
) -> np.ndarray:
    """Competition regulation (CR-1 / CR-2) after the forward pass of a sample of class ``y``.

    Among the ``M_t`` target neurons of class ``y`` the winner is the first in
    :func:`~spikesmith.sim.ncg_types.spike_order` (by potential if none fired). Then::

        θ̃_winner += η_θ (M_t - 1) / M_t        θ̃_loser -= η_θ / M_t

    and, for CR-2 only, ``θ̃ >= θ_min`` (the smallest test threshold). Nothing happens when
    ``M_t < 2`` or ``η_θ <= 0``. Returns the new training thresholds.
    """
    tn = config.class_map.target_neurons(label)
    if tn.size < 2 or thr_lr <= 0:
        return thresholds_train
    mt = tn.size
    win = tn[first_winner(times[tn], potentials[tn])]
    out = thresholds_train.copy()
    out[tn] -= np.float32(thr_lr / mt)
    out[win] += np.float32(thr_lr / mt + thr_lr * (mt - 1) / mt)
    if config.regulation is Regulation.CR2:
        out = np.maximum(out, np.float32(thr_min))
    return out.astype(np.float32)


def s2stdp_errors(
    times: np.ndarray,
    potentials: np.ndarray,
    label: int,
    *,
    config: NCGConfig,
) -> np.ndarray:
    """Errors ``e_j`` of S2-STDP / SSTDP for one sample (``s2stdp()`` of the official code).

    With intra-class WTA the updated neurons are the group winners (first in spike order within
    each class, non-target neurons included); otherwise all neurons. With ``n_upd`` updated
    neurons of which ``n_tgt`` are targets (1 with WTA, ``M`` without)::

        g_t  = G (n_upd - n_tgt) / n_upd          g_nt = G n_tgt / n_upd
        t_base = min(mean{t_j : j updated, t_j < T_max}, T_max - g_nt)   (T_max - g_nt if none)
        T*_j = t_base - g_t   if class(j) == y and j is labelled target      (S2-STDP)
               t_base + g_nt  otherwise
        SSTDP: T*_j = min(t_j, t_base - g_t) for targets, max(t_j, t_base + g_nt) otherwise
        e_j  = (t_j - T*_j) / T_max

    Returns ``float32 (N,)`` errors, zero for neurons not updated. The weight update these
    errors drive is defined in :func:`stdp_update`.
    """
    cm = config.class_map
    if config.class_wta:
        upd = group_winners(times, potentials, cm.neurons_per_class)
    else:
        upd = np.arange(cm.n_neurons)
    g_t, g_nt = config.gaps
    tu = times[upd]
    fired = tu < T_MAX
    if fired.any():
        t_base = min(float(np.mean(tu[fired])), float(T_MAX) - g_nt)
    else:
        t_base = float(T_MAX) - g_nt
    is_tgt = (cm.classes[upd] == label) & cm.is_target[upd]
    tu64 = tu.astype(np.float64)
    if config.method is Method.SSTDP:
        target = np.where(is_tgt, np.minimum(tu64, t_base - g_t), np.maximum(tu64, t_base + g_nt))
    else:
        target = np.where(is_tgt, t_base - g_t, t_base + g_nt)
    err = np.zeros(cm.n_neurons, dtype=np.float32)
    err[upd] = ((tu64 - target) / float(T_MAX)).astype(np.float32)
    return err


def stdp_update(
    weights: np.ndarray,
    times_in: np.ndarray,
    times_out: np.ndarray,
    errors: np.ndarray,
    *,
    rates: Rates,
) -> tuple[np.ndarray, np.ndarray]:
    """Additive error-modulated STDP on every neuron with a non-zero error.

    For neuron ``j`` with error ``e_j`` and input ``i``::

        Δw_ji = |e_j| A+   if t_i <= t_j  else  |e_j| A-      (e_j > 0: A± = a_plus, a_minus)
                                                               (e_j < 0: A± = anti_a_plus, ...)

    Silent inputs (``t_i = T_max``) take part: they are non-causal for a neuron that fired and
    causal for one that did not (``t_j = T_max``). Returns the new weights (not yet clipped)
    and the indices of the updated neurons.
    """
    upd = np.flatnonzero(errors != 0)
    if upd.size == 0:
        return weights, upd
    e = errors[upd].astype(np.float64)
    pos = e > 0
    lp = np.where(pos, rates.a_plus, rates.anti_a_plus) * np.abs(e)
    lm = np.where(pos, rates.a_minus, rates.anti_a_minus) * np.abs(e)
    causal = times_in[None, :] <= times_out[upd, None]
    w = weights.copy()
    w[upd] = (w[upd] + np.where(causal, lp[:, None], lm[:, None])).astype(np.float32)
    return w, upd


def _constrain(w: np.ndarray, state: ReferenceState, config: NCGConfig) -> np.ndarray:
    """Clip to ``[w_min, w_max]`` then, if ``w_norm``, rescale every row to its initial L1 sum
    (no re-clip), as the official optimiser does after every sample."""
    w = np.clip(w, config.w_min, config.w_max).astype(np.float32)
    if config.w_norm:
        s = np.abs(w).sum(axis=1, dtype=np.float32)
        w = (w * (state.norm_target / s)[:, None]).astype(np.float32)
    return w


def train_step(
    state: ReferenceState,
    times: np.ndarray,
    label: int,
    *,
    config: NCGConfig,
    active: np.ndarray | None = None,
) -> tuple[ReferenceState, ReferenceTrace]:
    """Train on one sample (``Readout.fit`` inner loop): thresholds, forward, prediction,
    competition regulation, then the weight update of the method, clip and normalisation.

    Parameters
    ----------
    state : ReferenceState
        Current state.
    times : np.ndarray
        ``float32 (F,)`` input spike times.
    label : int
        Class of the sample.
    config : NCGConfig
        Hyper-parameters.
    active : np.ndarray or None
        Output dropout mask for this sample (``bool (N,)``); None keeps every neuron.
    """
    cm = config.class_map
    thr = training_thresholds(state, label, config=config)
    t, v = forward(state.weights, thr, times, active=active)
    pred = int(cm.classes[first_winner(t, v)])
    thr_train = state.thresholds_train
    if config.regulation in (Regulation.CR1, Regulation.CR2):
        thr_train = regulate(
            thr_train,
            t,
            v,
            label,
            config=config,
            thr_lr=state.rates.thr_lr,
            thr_min=float(state.thresholds.min()),
        )
    if config.method is Method.RSTDP:
        win = first_winner(t, v)
        err = np.zeros(cm.n_neurons, dtype=np.float32)
        reward = cm.classes[win] == label and cm.is_target[win]
        err[win] = 1.0 if reward else -1.0
        r = state.rates
        # R-STDP applies rates (A+, A-) or (anti A+, anti A-) with error magnitude 1.
        w, upd = stdp_update(state.weights, times, t, err, rates=r)
    else:
        err = s2stdp_errors(t, v, label, config=config)
        w, upd = stdp_update(state.weights, times, t, err, rates=state.rates)
    if upd.size:
        w = _constrain(w, state, config)
    new = replace(state, weights=w, thresholds_train=thr_train)
    return new, ReferenceTrace(times=t, potentials=v, prediction=pred, updated=upd, errors=err)


def start_epoch(state: ReferenceState, *, config: NCGConfig) -> ReferenceState:
    """Host work before an epoch: program the epoch's rates; CR-2 resets ``θ̃ ← θ``."""
    rates = schedule_rates(config, epoch=state.epoch, last_accuracy=state.last_accuracy)
    thr_train = state.thresholds_train
    if config.regulation is Regulation.CR2:
        thr_train = state.thresholds.copy()
    return replace(state, rates=rates, thresholds_train=thr_train)


def end_epoch(state: ReferenceState, accuracy: float, *, config: NCGConfig) -> ReferenceState:
    """Host work after an epoch: CR-1 copies the training thresholds into the test thresholds;
    record the online accuracy and count the epoch."""
    thr = state.thresholds
    if config.regulation is Regulation.CR1:
        thr = state.thresholds_train.copy()
    return replace(state, thresholds=thr, epoch=state.epoch + 1, last_accuracy=accuracy)


def train_epoch(
    state: ReferenceState,
    times: np.ndarray,
    labels: np.ndarray,
    *,
    config: NCGConfig,
    seed: int = 0,
) -> tuple[ReferenceState, float]:
    """Train one epoch in the given sample order (the official code never shuffles).

    Output dropout masks (if ``config.dropout > 0``) are Bernoulli draws of a NumPy generator
    seeded with ``(seed, epoch)``. Returns the new state and the online training accuracy
    (predictions made with the training thresholds, before each update).
    """
    state = start_epoch(state, config=config)
    n = config.class_map.n_neurons
    rng = np.random.default_rng((seed, state.epoch))
    correct = 0
    for k in range(times.shape[0]):
        active = rng.random(n) >= config.dropout if config.dropout > 0 else None
        state, tr = train_step(state, times[k], int(labels[k]), config=config, active=active)
        correct += tr.prediction == int(labels[k])
    acc = correct / max(1, times.shape[0])
    return end_epoch(state, acc, config=config), acc


def infer(state: ReferenceState, times: np.ndarray, *, config: NCGConfig) -> np.ndarray:
    """Predict classes of ``times (n, F)`` with the test thresholds: the class of the first
    neuron to fire (ties to the larger potential; non-target neurons are not excluded)."""
    classes = config.class_map.classes
    out = np.empty(times.shape[0], dtype=np.int64)
    for k in range(times.shape[0]):
        t, v = forward(state.weights, state.thresholds, times[k])
        out[k] = classes[first_winner(t, v)]
    return out
