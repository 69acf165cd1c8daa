"""On-chip learning flow: train the NCG readout on latency-coded pixels or front-end spikes.

``run_learning`` trains the float reference (:mod:`spikesmith.sim.ncg_reference`) and the integer
golden model of the learning core (:mod:`spikesmith.sim.ncg`) side by side on the same data and
reports per-epoch accuracies. The input is latency-coded pixels or the spikes of a frozen spiking
front end (:mod:`spikesmith.frontend_features`, ``input="snn-h256x64"``). ``sweep_time_bins``
measures the integer model's accuracy against the number of time bins ``K``.

Data protocol: the whole dataset (train and test parts of :func:`spikesmith.datasets.load_dataset`
joined) is split 80/20, stratified, with ``random_state = 0``
(:func:`spikesmith.datasets.split_80_20`); mnist5k gives 4000 training and 1000 test images,
digits 1437 and 360. Training uses all training images in a
fixed order every epoch (the official code never shuffles) for a fixed number of epochs, with no
validation split and no early stopping; the test accuracy of every epoch is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import DATASETS
from .frontend_features import PIXELS, InputEvents, load_input, parse_input
from .sim import ncg, ncg_learning, ncg_reference
from .sim.fixed import FixedFormat
from .sim.limits import EPOCHS, SEED, TIME_BINS
from .sim.ncg_types import ClassMap, Method, NCGConfig, Regulation, WeightNorm

__all__ = [
    "LearnResult",
    "default_config",
    "run_learning",
    "sweep_time_bins",
]


#: Threshold and STDP-rate factor for raw latency-coded pixels, per dataset (weights
#: initialised at 0.3). The thresholds replace the configs' 200 (for 4608 CSNN features); η_θ
#: is rescaled with the threshold (η_θ = 10 θ / 200), as found in reference/algorithms.md
#: §1.8b. On digits, θ and A± x0.5 were the best float-reference accuracy of a threshold x rate
#: grid in a 5-fold cross-validation inside the training part of the 80/20 split
#: (``benchmarks/bench_ncg_results.py tune``, docs/ncg.md).
_THRESHOLDS = {"mnist5k": (25.0, 1.0), "digits": (6.0, 0.5)}

#: Threshold and STDP-rate factor for front-end spikes, per dataset, tuned on the S2-STDP + NCG
#: readout of the default front ends (spikesmith.frontend_features.DEFAULT_FRONTENDS, about 55
#: of 128 (mnist5k) and 40 of 64 (digits) features active per image; docs/ncg.md). A threshold
#: above ~0.3 x the active features never fires (w ~ 0.3). Halving A± on mnist5k kept the
#: integer model within a point of the float one over 8 epochs; on digits, θ = 8 with A± x0.5
#: was the best float-reference accuracy of the same ``tune`` grid as for pixels.
_FRONTEND_THRESHOLDS = {"mnist5k": (14.0, 0.5), "digits": (8.0, 0.5)}


def default_config(
    *,
    dataset: str,
    method: Method = Method.S2STDP,
    neurons_per_class: int = 5,
    regulation: Regulation | None = None,
    input: str = PIXELS,
) -> NCGConfig:
    """Hyper-parameters used by :func:`run_learning` (MNIST ``s2stdp+ncg`` config rescaled to
    raw pixels; SSTDP and R-STDP follow their configs' shape with the same threshold scaling).

    ``input`` is ``"pixels"`` or a front-end name (:func:`spikesmith.frontend_features.
    parse_input`): the number of inputs is its last hidden width and the threshold is the
    front-end threshold and STDP-rate factor of the dataset (other settings as for pixels).

    ``regulation`` None means CR-2 for ``M > 1`` (R-STDP: dropout 0.15) and none for ``M = 1``.
    Groups of ``M > 1`` have one non-target neuron except for SSTDP (no non-target neuron).

    Raises
    ------
    ValueError
        If ``dataset`` or ``input`` is unknown or ``neurons_per_class < 1``.
    """
    if dataset not in _THRESHOLDS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {dataset!r}")
    if not isinstance(method, Method):
        raise TypeError(f"method must be a Method, not {method!r}")
    spec = parse_input(input)
    if spec is None:
        n_in = 784 if dataset == "mnist5k" else 64
        thr, r = _THRESHOLDS[dataset]
    else:
        n_in = spec.n_features
        thr, r = _FRONTEND_THRESHOLDS[dataset]
    m = neurons_per_class
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"neurons_per_class must be an integer >= 1, not {m!r}")
    n_nt = 1 if m > 1 and method is not Method.SSTDP else 0
    cm = ClassMap(10, m, n_nt)
    if regulation is None:
        if method is Method.RSTDP:
            regulation = Regulation.DROPOUT if m > 1 else Regulation.NONE
        else:
            regulation = Regulation.CR2 if m > 1 else Regulation.NONE
    dropout = 0.15 if regulation is Regulation.DROPOUT else 0.0
    if method is Method.RSTDP:
        # rstdp-5n: w ~ N(0.8, 0.01) in [0.2, 0.8], no normalisation, A+ 0.05, A- -0.001.
        return NCGConfig(
            n_inputs=n_in, class_map=cm, threshold=thr * 0.8 / 0.3, method=method,
            regulation=regulation, a_plus=0.05 * r, a_minus=-0.001 * r, thr_lr=10 * thr / 200,
            w_init_mean=0.8, w_min=0.2, w_max=0.8, w_norm=False, dropout=dropout,
            class_wta=False,
        )
    if method is Method.SSTDP:
        # sstdp+ncg: w ~ N(0.5, 0.01), no normalisation, A+ 0.1, A- -0.01, η_θ 1, anneal 0.5.
        return NCGConfig(
            n_inputs=n_in, class_map=cm, threshold=thr * 0.5 / 0.3, method=method,
            regulation=regulation, t_gap=0.05, a_plus=0.05 * r, a_minus=-0.005 * r,
            thr_lr=thr * 0.5 / 0.3 / 200, thr_anneal=0.5, w_init_mean=0.5, w_norm=False,
            dropout=dropout,
        )
    return NCGConfig(
        n_inputs=n_in, class_map=cm, threshold=thr, method=method, regulation=regulation,
        t_gap=0.05, a_plus=0.025 * r, a_minus=-0.05 * r, thr_lr=10 * thr / 200, thr_anneal=0.5,
        dropout=dropout,
    )


@dataclass(frozen=True, eq=False)
class LearnResult:
    """Outcome of :func:`run_learning`.

    Attributes
    ----------
    dataset : str
        Dataset name.
    params : ncg.NCGParams
        Integer parameters (``params.config`` is the float configuration).
    seed : int
        Seed of the weight initialisation and of the LFSR lanes.
    float_train, float_test : tuple[float, ...]
        Per-epoch online training and test accuracy of the float reference (empty if skipped).
    int_train, int_test : tuple[float, ...]
        Same for the integer model.
    int_epoch_seconds : tuple[float, ...]
        Wall time of every integer training epoch (evaluation excluded).
    float_state : ncg_reference.ReferenceState or None
        Final float state.
    int_state : ncg.NCGState or None
        Final integer state.
    events : InputEvents
        The input events both models were trained and tested on (``events.name`` is the
        input kind).
    """

    dataset: str
    params: ncg.NCGParams
    seed: int
    float_train: tuple[float, ...]
    float_test: tuple[float, ...]
    int_train: tuple[float, ...]
    int_test: tuple[float, ...]
    int_epoch_seconds: tuple[float, ...]
    float_state: ncg_reference.ReferenceState | None
    int_state: ncg.NCGState | None
    events: InputEvents


def run_learning(
    *,
    dataset: str = "mnist5k",
    method: Method = Method.S2STDP,
    neurons_per_class: int = 5,
    time_bins: int = 256,
    epochs: int = 10,
    seed: int = 0,
    regulation: Regulation | None = None,
    config: NCGConfig | None = None,
    weight_format: FixedFormat | None = None,
    norm: WeightNorm = WeightNorm.ADDITIVE,
    run_float: bool = True,
    run_int: bool = True,
    progress: Callable[[str], None] | None = None,
    input: str = PIXELS,
    cache_dir: str | Path | None = None,
    events: InputEvents | None = None,
) -> LearnResult:
    """Train the float reference and the integer model on latency-coded pixels or front-end
    spikes.

    Parameters
    ----------
    dataset : str
        ``"digits"`` or ``"mnist5k"``.
    method : Method
        Learning rule (ignored if ``config`` is given).
    neurons_per_class : int
        Group size ``M`` (ignored if ``config`` is given).
    time_bins : int
        ``K`` of the integer model, in ``sim.limits.TIME_BINS``.
    epochs : int
        Training epochs, in ``sim.limits.EPOCHS``.
    seed : int
        Seed of the weight initialisation (both models start from the same float draw) and of
        the integer model's LFSR registers, in ``sim.limits.SEED``.
    regulation : Regulation or None
        Overrides the default regulation of :func:`default_config`.
    config : NCGConfig or None
        Full float configuration; default :func:`default_config`.
    weight_format : FixedFormat or None
        Integer weight format; default unsigned 13 bits, 12 fractional, stochastic rounding.
    norm : WeightNorm
        Integer weight normalisation.
    run_float, run_int : bool
        Which models to train.
    progress : callable or None
        Called with a one-line message after every epoch.
    input : str
        ``"pixels"`` or a front-end name (:func:`spikesmith.frontend_features.parse_input`).
    cache_dir : path-like or None
        Where the trained front end is cached (None: trained anew every call).
    events : InputEvents or None
        Precomputed input events (``input`` and ``cache_dir`` are then only used for the
        default configuration); default :func:`spikesmith.frontend_features.load_input`.

    Raises
    ------
    ValueError
        On an unknown dataset or input, or ``epochs``, ``time_bins``, ``seed`` or another
        integer parameter out of range (checked before any input is loaded or trained).
    """
    for limit, value in ((EPOCHS, epochs), (TIME_BINS, time_bins), (SEED, seed)):
        limit.check(value)
    if config is None:
        config = default_config(dataset=dataset, method=method,
                                neurons_per_class=neurons_per_class, regulation=regulation,
                                input=input)
    say = progress or (lambda _msg: None)
    if events is None:
        events = load_input(dataset=dataset, input=input, time_bins=time_bins, seed=seed,
                            cache_dir=cache_dir, progress=say)
    if events.time_bins != time_bins:
        raise ValueError(f"events.time_bins must equal time_bins {time_bins}, "
                         f"not {events.time_bins!r}")
    if config.n_inputs != events.n_features:
        raise ValueError(
            f"config.n_inputs must match the input's {events.n_features} features, "
            f"not {config.n_inputs!r}"
        )
    y_tr, y_te = events.y_train, events.y_test
    kw = {} if weight_format is None else {"weight_format": weight_format}
    params = ncg.NCGParams(config, time_bins=time_bins, norm=norm, **kw)
    f_train: list[float] = []
    f_test: list[float] = []
    i_train: list[float] = []
    i_test: list[float] = []
    secs: list[float] = []
    fstate = istate = None
    if run_float:
        t_tr, t_te = events.times_train, events.times_test
        fstate = ncg_reference.init_state(config, seed=seed)
        for ep in range(epochs):
            fstate, acc = ncg_reference.train_epoch(fstate, t_tr, y_tr, config=config, seed=seed)
            f_train.append(acc)
            f_test.append(float(np.mean(ncg_reference.infer(fstate, t_te, config=config) == y_te)))
            say(f"float epoch {ep}: train {acc:.4f} test {f_test[-1]:.4f}")
    if run_int:
        b_tr, b_te = events.bins_train, events.bins_test
        istate = ncg.init_state(params, seed=seed)
        for ep in range(epochs):
            t0 = time.perf_counter()
            istate, acc = ncg_learning.train_epoch(istate, b_tr, y_tr, params=params)
            secs.append(time.perf_counter() - t0)
            i_train.append(acc)
            i_test.append(float(np.mean(ncg.infer(istate, b_te, params=params) == y_te)))
            say(f"int epoch {ep}: train {acc:.4f} test {i_test[-1]:.4f} ({secs[-1]:.1f} s)")
    return LearnResult(
        dataset=dataset, params=params, seed=seed, events=events,
        float_train=tuple(f_train), float_test=tuple(f_test),
        int_train=tuple(i_train), int_test=tuple(i_test), int_epoch_seconds=tuple(secs),
        float_state=fstate, int_state=istate,
    )


def sweep_time_bins(
    *,
    time_bins: tuple[int, ...] = (8, 16, 32, 64, 128, 256),
    **kwargs,
) -> dict[int, LearnResult]:
    """Run :func:`run_learning` (integer model only) for every ``K`` in ``time_bins``.

    Keyword arguments are passed on (``run_float`` and ``run_int`` are fixed). Returns the
    results by ``K``; ``result.int_test[-1]`` is the final test accuracy.
    """
    kwargs = {k: v for k, v in kwargs.items() if k not in ("run_float", "run_int")}
    return {k: run_learning(time_bins=k, run_float=False, run_int=True, **kwargs)
            for k in time_bins}

