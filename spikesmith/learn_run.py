"""``spikesmith learn``: the NCG readout trained on an embedded dataset, written to a run folder.

Trains the float reference and the integer golden model (:func:`spikesmith.learn.run_learning`)
and, with ``rtl=True``, replays the integer training epoch by epoch on the learning core in
Verilator in lockstep with the golden model (:func:`verify_learning_on_rtl`, built on
:func:`spikesmith.verification.ncg.run_lockstep`): every weight and threshold compared after every
checked sample, predictions compared on the whole test split. Writes ``summary.json``,
``learn.json`` and plots (accuracy curves, per-neuron win counts, every neuron's weights as an
image), atomically.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DATASETS
from .frontend_features import PIXELS, FrontEndSpec, frontend_cache_path, parse_input
from .learn import LearnResult, run_learning
from .runfolder import RunFolder, RunFolderError
from .sim import ncg, ncg_learning
from .sim.files import atomic_write_bytes
from .sim.limits import (
    CHECK_EVERY,
    EPOCHS,
    NEURONS_PER_CLASS,
    SEED,
    TIME_BINS,
    show_value,
)
from .sim.ncg_types import Method, first_winner

__all__ = ["METHODS", "check_learn_options", "learn_to_run_folder", "verify_learning_on_rtl"]

#: Names accepted for ``--method``.
METHODS = {m.value: m for m in Method}

_JSON_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


def _png(run: RunFolder, name: str, fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(run.file(name), buf.getvalue())
    return name


def _plots(run: RunFolder, result, *, win_counts: np.ndarray, shape: tuple[int, int]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ep = np.arange(1, len(result.int_test) + 1)
    if result.float_test:
        ax.plot(ep, 100 * np.array(result.float_test), "o-", label="float reference (test)")
        ax.plot(ep, 100 * np.array(result.float_train), "o:", label="float reference (train)")
    ax.plot(ep, 100 * np.array(result.int_test), "s-", label="integer (test)")
    ax.plot(ep, 100 * np.array(result.int_train), "s:", label="integer (train)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.legend()
    names.append(_png(run, "accuracy_curves.png", fig))

    fig, ax = plt.subplots(figsize=(7, 3))
    m = result.params.config.class_map.neurons_per_class
    colors = plt.cm.tab10(np.arange(len(win_counts)) // m % 10)
    ax.bar(np.arange(len(win_counts)), win_counts, color=colors)
    ax.set_xlabel(f"neuron (groups of {m} per class)")
    ax.set_ylabel("test wins")
    names.append(_png(run, "win_counts.png", fig))

    w = result.int_state.weights
    n = w.shape[0]
    cols = min(n, 10)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    for j, ax in enumerate(axes.flat):
        ax.axis("off")
        if j < n:
            ax.imshow(w[j].reshape(shape), cmap="viridis")
    names.append(_png(run, "weights.png", fig))
    return names


def verify_learning_on_rtl(result: LearnResult, *, build_root: Path | str,
                           check_every: int = 1,
                           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Replay the integer training of ``result`` on the learning core, epoch by epoch, in lockstep.

    Starts from ``ncg.init_state(result.params, seed=result.seed)`` and runs as many epochs as
    ``result`` trained (``len(result.int_test)``). Every epoch runs
    :func:`spikesmith.verification.ncg.run_lockstep` on the training split (bins, potentials and
    predictions compared for every sample; weights, training thresholds and LFSR registers
    after every ``check_every``-th sample and the last); the host step between epochs
    (:func:`spikesmith.sim.ncg_learning.start_epoch` /
    :func:`~spikesmith.sim.ncg_learning.end_epoch`) uses the RTL's online training accuracy. The
    last epoch also predicts the test split. The replay stops after the first epoch with a
    mismatch. At the end the golden model's final weights must equal
    ``result.int_state.weights`` (the integer training of :func:`run_learning`); otherwise one
    mismatch is added.

    Parameters
    ----------
    result : LearnResult
        Output of :func:`spikesmith.learn.run_learning` with the integer model trained
        (``run_int=True``); its events, parameters and seed are reused (no front end is loaded
        or trained here).
    build_root : path-like
        Folder for the Verilator builds (one per distinct core, cached).
    check_every : int
        Full-state comparison period in training samples (1 = after every sample).
    progress : callable or None
        Called with a one-line message after every RTL epoch.

    Returns
    -------
    dict
        ``"rtl_test_accuracy"``: RTL test accuracy after the last epoch (fraction; NaN if the
        replay stopped early). ``"verify"``: ``samples`` (full-state checks over all epochs),
        ``test_samples``, ``mismatches`` (0 = bit-exact), ``first_mismatch`` (text or None),
        ``check_every``. ``"cycles"``: ``train_sample`` and ``infer_sample``, mean core clock
        cycles per sample in the last epoch (empty if the replay stopped early). These are the
        ``accuracy.rtl``, ``verify`` and ``cycles`` entries of ``summary.json``.

    Raises
    ------
    ValueError
        If ``result`` has no integer model or ``check_every`` is not an integer >= 1.
    RuntimeError
        If Verilator is unusable or a simulation did not complete.
    """
    from .verification.ncg import run_lockstep

    if result.int_state is None:
        raise ValueError("result must have the integer model trained (run_int=True), "
                         "not int_state None")
    if not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every must be an integer >= 1, not {check_every!r}")
    say = progress or (lambda _msg: None)
    params = result.params
    ev = result.events
    b_tr, y_tr, b_te, y_te = ev.bins_train, ev.y_train, ev.bins_test, ev.y_test
    epochs = len(result.int_test)
    state = ncg.init_state(params, seed=result.seed)
    checked = mismatches = 0
    first = None
    rtl_test = float("nan")
    cycles: dict[str, float] = {}
    for ep in range(epochs):
        state = ncg_learning.start_epoch(state, params=params)
        last = ep == epochs - 1
        rep = run_lockstep(params=params, state=state, train_samples=(b_tr, y_tr),
                           test_samples=(b_te, y_te) if last else None,
                           build_root=build_root, check_every=check_every)
        checked += rep.samples_checked
        mismatches += rep.mismatches
        first = first or rep.first_mismatch
        say(f"rtl epoch {ep}: {rep.samples_checked} samples checked, {rep.mismatches} "
            f"mismatches, train accuracy {rep.rtl_train_accuracy:.4f}")
        state = ncg_learning.end_epoch(rep.final_state, rep.rtl_train_accuracy, params=params)
        if last:
            rtl_test = rep.rtl_test_accuracy
            cycles = {"train_sample": rep.cycles_per_train_sample,
                      "infer_sample": rep.cycles_per_infer_sample}
        if rep.mismatches:
            break
    same = bool(np.array_equal(state.weights, result.int_state.weights))
    verify = {"samples": checked, "test_samples": len(y_te),
              "mismatches": mismatches + (0 if same else 1),
              "first_mismatch": first if same or first else
              "final weights differ from the integer model's run",
              "check_every": check_every}
    return {"rtl_test_accuracy": rtl_test, "verify": verify, "cycles": cycles}


def check_learn_options(*, dataset: str, method: Method, neurons_per_class: int,
                        time_bins: int, epochs: int, seed: int, check_every: int,
                        input: str) -> FrontEndSpec | None:
    """Validate the options of :func:`learn_to_run_folder`; return the parsed front end.

    Raises
    ------
    ValueError
        Naming the first option out of its ``sim.limits`` record (or unknown), what is
        accepted and the value given (shortened).
    """
    for limit, value in ((NEURONS_PER_CLASS, neurons_per_class), (TIME_BINS, time_bins),
                         (EPOCHS, epochs), (SEED, seed), (CHECK_EVERY, check_every)):
        limit.check(value)
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {show_value(dataset)}: accepted datasets are "
                         f"{', '.join(DATASETS)}")
    if not isinstance(method, Method):
        raise ValueError(f"unknown method {show_value(method)}: accepted methods are "
                         f"{', '.join(METHODS)}")
    return parse_input(input)


def _check_summary(run: RunFolder) -> None:
    """Refuse a run folder whose ``summary.json`` (which learn replaces) is not a JSON object,
    before any work: a bounded read, then the type."""
    path = run.file(RunFolder.SUMMARY)
    if not (path.exists() or path.is_symlink()):
        return
    summary = run.read_json(RunFolder.SUMMARY)
    if not isinstance(summary, dict):
        raise RunFolderError(f"{path} must be a JSON object (the run's summary, which learn "
                             f"replaces), found a JSON {_JSON_KINDS.get(type(summary), 'value')}"
                             "; remove it or choose another --run")


def learn_to_run_folder(run_dir: Path | str, *, dataset: str, method: Method,
                        neurons_per_class: int, time_bins: int, epochs: int, seed: int,
                        rtl: bool, check_every: int = 1, progress: bool = True,
                        input: str = PIXELS) -> dict[str, Any]:
    """Train, optionally verify in lockstep on the RTL core, and write the run folder.

    ``input`` is ``"pixels"`` or a front-end name (:mod:`spikesmith.frontend_features`); the
    front end is trained on the training split and cached in the run folder
    (``frontend-<dataset>-<name>-seed<seed>.safetensors``). Returns the summary.

    Raises
    ------
    ValueError
        Before anything is read or written beyond the checks: on bad options
        (:func:`check_learn_options`), a cached front-end path that is not a regular file;
        :class:`~spikesmith.runfolder.RunFolderError` if the run's ``summary.json`` is not a
        JSON object (read with the ``sim.limits.INPUT_FILE_BYTES`` bound).
    RuntimeError
        If the RTL run cannot complete.
    """
    say = print if progress else (lambda *_: None)
    spec = check_learn_options(dataset=dataset, method=method,
                               neurons_per_class=neurons_per_class, time_bins=time_bins,
                               epochs=epochs, seed=seed, check_every=check_every, input=input)
    t0 = time.perf_counter()
    run = RunFolder(run_dir)
    _check_summary(run)
    frontend_cache_path(spec, dataset=dataset, seed=seed, cache_dir=run.path)
    run.path.mkdir(parents=True, exist_ok=True)
    result = run_learning(dataset=dataset, method=method, neurons_per_class=neurons_per_class,
                          time_bins=time_bins, epochs=epochs, seed=seed,
                          progress=say if progress else None, input=input, cache_dir=run.path)
    params = result.params
    ev = result.events
    b_te = ev.bins_test
    summary: dict[str, Any] = {
        "dataset": dataset,
        "input": ev.name,
        "method": method.value,
        "neurons_per_class": neurons_per_class,
        "time_bins": time_bins,
        "epochs": epochs,
        "seed": seed,
        "accuracy": {"float_reference": result.float_test[-1],
                     "integer": result.int_test[-1]},
    }
    history: dict[str, Any] = {
        "float_train": list(result.float_train), "float_test": list(result.float_test),
        "int_train": list(result.int_train), "int_test": list(result.int_test),
        "int_epoch_seconds": list(result.int_epoch_seconds),
    }
    if rtl:
        rtl_out = verify_learning_on_rtl(result, build_root=run.file(".build") / "ncg",
                                         check_every=check_every, progress=say)
        summary["accuracy"]["rtl"] = rtl_out["rtl_test_accuracy"]
        summary["verify"] = rtl_out["verify"]
        summary["cycles"] = rtl_out["cycles"]
    win_counts = np.zeros(params.config.class_map.n_neurons, dtype=np.int64)
    for i in range(len(b_te)):
        t, v = ncg.forward(result.int_state.weights, result.int_state.thresholds, b_te[i],
                           time_bins=time_bins)
        win_counts[first_winner(t, v)] += 1
    history["test_win_counts"] = win_counts.tolist()
    if ev.frontend_test_accuracy is not None:
        summary["frontend"] = {"name": ev.name, "features": ev.n_features,
                               "test_accuracy": ev.frontend_test_accuracy}
    f = ev.n_features
    side = math.isqrt(f)
    shape = (side, side) if side * side == f else (f // math.gcd(f, 16), math.gcd(f, 16))
    plots = _plots(run, result, win_counts=win_counts, shape=shape)
    summary["plots"] = plots
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    run.write_json("learn.json", history)
    run.write_json(RunFolder.SUMMARY, summary)
    return summary
