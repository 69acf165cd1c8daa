"""Types and decision rules shared by the float and integer NCG readout models.

The NCG readout (Goupy, Tirilly, Bilasco, NeurIPS 2024; official code ``ggoupy/SpikeNN``,
author commit ``b3d1865``, summarised in ``reference/algorithms.md`` §1) is one layer of
single-spike IF neurons trained with supervised STDP. This module holds what both models share:

* the modes (:class:`Method`, :class:`Regulation`, :class:`WeightNorm`);
* the neuron-to-class map (:class:`ClassMap`);
* the first-spike ordering used for the decision, the intra-class winner-takes-all and the
  competition-regulation winner (:func:`spike_order`, :func:`first_winner`,
  :func:`group_winners`); it works on float times and on integer time bins alike;
* the float hyper-parameters held by the host (:class:`NCGConfig`) and the per-epoch learning
  rate schedule the host computes between epochs (:class:`Rates`, :func:`schedule_rates`).

The learning equations themselves are written once, in
:func:`spikesmith.sim.ncg_reference.s2stdp_errors` (float) and
:func:`spikesmith.sim.ncg_learning.s2stdp_errors` (the integer contract).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ClassMap",
    "Method",
    "NCGConfig",
    "Rates",
    "Regulation",
    "WeightNorm",
    "first_winner",
    "group_winners",
    "schedule_rates",
    "spike_order",
]


class Method(enum.Enum):
    """Learning rule of the readout layer."""

    #: Stabilised supervised STDP: targets around the mean firing time (§1.3).
    S2STDP = "s2stdp"
    #: SSTDP, the time-range variant: no update once a neuron is early/late enough (§1.3).
    SSTDP = "sstdp"
    #: Reward-modulated STDP with a global winner-takes-all (§1.5).
    RSTDP = "rstdp"


class Regulation(enum.Enum):
    """Competition regulation inside each neuron group."""

    #: No regulation.
    NONE = "none"
    #: One threshold per neuron, adapted during the epoch and copied to the test threshold at its
    #: end (``CompetitionRegularizerOne``).
    CR1 = "cr1"
    #: Two-compartment thresholds: a fixed test threshold and an adaptive training threshold used
    #: only by the target neurons of the sample's class (``CompetitionRegularizerTwo``).
    CR2 = "cr2"
    #: Random output dropout instead of threshold regulation (``*-cr-drop`` configs).
    DROPOUT = "dropout"


class WeightNorm(enum.Enum):
    """How the integer model keeps each neuron's L1 weight sum (the float model rescales)."""

    #: No normalisation.
    NONE = "none"
    #: Sum-preserving uniform offset folded into the two per-neuron update values (no
    #: per-synapse multiply); see :func:`spikesmith.sim.ncg_learning.update_rows`.
    ADDITIVE = "additive"
    #: Multiplicative rescaling ``w * S0 // S`` as in the float code (one multiply and one
    #: divide per synapse); kept to measure what :attr:`ADDITIVE` costs in accuracy.
    MULTIPLICATIVE = "multiplicative"


@dataclass(frozen=True)
class ClassMap:
    """Neuron-to-class map (``DecisionMap`` of the official code).

    The ``n_classes * neurons_per_class`` neurons are split into contiguous groups of
    ``neurons_per_class``; neuron ``n`` belongs to class ``n // neurons_per_class``. The first
    ``n_nontarget`` neurons of each group are labelled non-target, the others target.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C >= 2``.
    neurons_per_class : int
        Group size ``M >= 1``.
    n_nontarget : int
        Non-target neurons per group, ``0 <= n_nontarget < M``.
    """

    n_classes: int
    neurons_per_class: int = 1
    n_nontarget: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n_classes, int) or self.n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, not {self.n_classes!r}")
        if not isinstance(self.neurons_per_class, int) or self.neurons_per_class < 1:
            raise ValueError(
                f"neurons_per_class must be an integer >= 1, not {self.neurons_per_class!r}"
            )
        if not isinstance(self.n_nontarget, int) or not (
            0 <= self.n_nontarget < self.neurons_per_class
        ):
            raise ValueError(
                f"n_nontarget must be an integer in 0..neurons_per_class-1, "
                f"not {self.n_nontarget!r}"
            )

    @property
    def n_neurons(self) -> int:
        """Total number of output neurons ``N = C * M``."""
        return self.n_classes * self.neurons_per_class

    @property
    def n_targets(self) -> int:
        """Target neurons per group ``M_t = M - n_nontarget``."""
        return self.neurons_per_class - self.n_nontarget

    @property
    def classes(self) -> np.ndarray:
        """Class of every neuron, ``int64 (N,)``."""
        return np.arange(self.n_neurons, dtype=np.int64) // self.neurons_per_class

    @property
    def is_target(self) -> np.ndarray:
        """Whether every neuron is labelled target, ``bool (N,)``."""
        return np.arange(self.n_neurons) % self.neurons_per_class >= self.n_nontarget

    def target_neurons(self, label: int) -> np.ndarray:
        """Return the indices of the target neurons of class ``label`` (ascending)."""
        start = label * self.neurons_per_class
        return np.arange(start + self.n_nontarget, start + self.neurons_per_class)


def spike_order(times: np.ndarray, potentials: np.ndarray) -> np.ndarray:
    """Return neuron indices sorted first-to-fire first.

    The order is: earlier spike time first; on equal times, larger potential first; on equal
    times and potentials, lower index first (the stable insertion sort ``spike_sort`` of the
    official code). Neurons that never fired carry the "no spike" time (``T_max`` or ``K``), so
    when nothing fired the order is by final potential. Works for float times and integer bins.
    """
    times = np.asarray(times)
    potentials = np.asarray(potentials)
    return np.lexsort((np.arange(times.shape[0]), -potentials.astype(np.float64), times))


def first_winner(times: np.ndarray, potentials: np.ndarray) -> int:
    """Return the index of the first neuron in :func:`spike_order`."""
    times = np.asarray(times)
    pot = np.asarray(potentials).astype(np.float64)
    cand = times == times.min()
    pmax = np.where(cand, pot, -np.inf).max()
    return int(np.argmax(cand & (pot == pmax)))


def group_winners(times: np.ndarray, potentials: np.ndarray, neurons_per_class: int) -> np.ndarray:
    """Return the first neuron (in :func:`spike_order`) of every contiguous group.

    Parameters
    ----------
    times, potentials : np.ndarray
        Spike times (or bins) and potentials of the ``N`` neurons.
    neurons_per_class : int
        Group size ``M``; ``N`` must be a multiple of it.

    Returns
    -------
    np.ndarray
        ``int64 (N // M,)`` global indices of the group winners, ascending.
    """
    m = neurons_per_class
    t = np.asarray(times).reshape(-1, m)
    v = np.asarray(potentials).astype(np.float64).reshape(-1, m)
    cand = t == t.min(axis=1, keepdims=True)
    vmax = np.where(cand, v, -np.inf).max(axis=1, keepdims=True)
    local = np.argmax(cand & (v == vmax), axis=1)
    return np.arange(t.shape[0], dtype=np.int64) * m + local


@dataclass(frozen=True)
class NCGConfig:
    """Float hyper-parameters of the readout layer (the values of the official JSON configs).

    Parameters
    ----------
    n_inputs : int
        Input features ``F``.
    class_map : ClassMap
        Classes, group size and non-target labelling.
    threshold : float
        Test threshold ``θ`` (potential units: a sum of weights in ``[w_min, w_max]``).
    method : Method
        Learning rule.
    regulation : Regulation
        Competition regulation.
    t_gap : float
        Gap ``G`` of S2-STDP/SSTDP, in units of ``T_max``.
    a_plus, a_minus : float
        STDP rates for causal / non-causal inputs (``a_plus > 0``, ``a_minus < 0``).
    anti_a_plus, anti_a_minus : float or None
        Anti-STDP rates; ``None`` means ``-a_plus`` and ``-a_minus``.
    annealing : float
        Per-epoch factor on all STDP rates.
    thr_lr : float
        Competition-regulation rate ``η_θ`` (potential units).
    thr_anneal : float
        Per-epoch factor on ``η_θ``.
    w_init_mean, w_init_std : float
        Normal weight initialisation.
    w_min, w_max : float
        Weight clipping range.
    w_norm : bool
        Keep each neuron's L1 weight sum at its initial value.
    dropout : float
        Output dropout probability per neuron and training sample, in ``[0, 1)``.
    class_wta : bool
        Intra-class winner-takes-all (S2-STDP/SSTDP): update only the first neuron of each group.
    """

    n_inputs: int
    class_map: ClassMap
    threshold: float
    method: Method = Method.S2STDP
    regulation: Regulation = Regulation.CR2
    t_gap: float = 0.03
    a_plus: float = 0.05
    a_minus: float = -0.1
    anti_a_plus: float | None = None
    anti_a_minus: float | None = None
    annealing: float = 0.98
    thr_lr: float = 10.0
    thr_anneal: float = 0.5
    w_init_mean: float = 0.3
    w_init_std: float = 0.01
    w_min: float = 0.0
    w_max: float = 1.0
    w_norm: bool = True
    dropout: float = 0.0
    class_wta: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.n_inputs, int) or self.n_inputs < 1:
            raise ValueError(f"n_inputs must be an integer >= 1, not {self.n_inputs!r}")
        if not isinstance(self.class_map, ClassMap):
            raise TypeError(f"class_map must be a ClassMap, not {self.class_map!r}")
        if not isinstance(self.method, Method):
            raise TypeError(f"method must be a Method, not {self.method!r}")
        if not isinstance(self.regulation, Regulation):
            raise TypeError(f"regulation must be a Regulation, not {self.regulation!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, not {self.threshold!r}")
        if not 0 <= self.t_gap < 1:
            raise ValueError(f"t_gap must be in [0, 1), not {self.t_gap!r}")
        if not self.w_min < self.w_max:
            raise ValueError(f"w_min must be < w_max, not {self.w_min!r} >= {self.w_max!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")
        if self.regulation is Regulation.DROPOUT and self.dropout == 0:
            raise ValueError("regulation DROPOUT needs dropout > 0, not 0")

    @property
    def anti_rates(self) -> tuple[float, float]:
        """Anti-STDP rates ``(anti_a_plus, anti_a_minus)`` with their defaults applied."""
        ap = -self.a_plus if self.anti_a_plus is None else self.anti_a_plus
        am = -self.a_minus if self.anti_a_minus is None else self.anti_a_minus
        return ap, am

    @property
    def n_updated(self) -> int:
        """Neurons updated per sample by S2-STDP/SSTDP (``C`` with intra-class WTA, else ``N``)."""
        cm = self.class_map
        return cm.n_classes if self.class_wta else cm.n_neurons

    @property
    def n_updated_targets(self) -> int:
        """Target neurons among the updated ones (1 with intra-class WTA, else ``M``)."""
        return 1 if self.class_wta else self.class_map.neurons_per_class

    @property
    def gaps(self) -> tuple[float, float]:
        """``(g_t, g_nt)``: ``g_t = G (n_upd - n_tgt) / n_upd`` and ``g_nt = G n_tgt / n_upd``."""
        n, k = self.n_updated, self.n_updated_targets
        return self.t_gap * (n - k) / n, self.t_gap * k / n


@dataclass(frozen=True)
class Rates:
    """Learning rates of one epoch, as the host programs them (float).

    ``a_plus``/``a_minus`` apply when the error is positive (STDP), ``anti_a_plus``/
    ``anti_a_minus`` when it is negative (anti-STDP); ``thr_lr`` is ``η_θ``.
    """

    a_plus: float
    a_minus: float
    anti_a_plus: float
    anti_a_minus: float
    thr_lr: float


def schedule_rates(config: NCGConfig, *, epoch: int, last_accuracy: float | None) -> Rates:
    """Return the rates of epoch ``epoch`` (0-based): the host's annealing schedule.

    ``A(e) = A(0) * annealing**e`` for all four STDP rates and ``η_θ(e) = η_θ(0) *
    thr_anneal**e``. For R-STDP (Mozafari-style modulation) the STDP rates are further
    multiplied by ``1 - acc`` and the anti-STDP rates by ``acc``, where ``acc`` is the
    previous epoch's online training accuracy (``1 / C`` before the first epoch, i.e. when
    ``last_accuracy`` is None).
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, not {epoch!r}")
    f = config.annealing**epoch
    ap, am = config.a_plus * f, config.a_minus * f
    aap, aam = (r * f for r in config.anti_rates)
    if config.method is Method.RSTDP:
        acc = 1.0 / config.class_map.n_classes if last_accuracy is None else last_accuracy
        ap, am = ap * (1 - acc), am * (1 - acc)
        aap, aam = aap * acc, aam * acc
    return Rates(ap, am, aap, aam, config.thr_lr * config.thr_anneal**epoch)
