"""Train the NCG learning core in Verilator in lockstep with the integer golden model.

:func:`run_lockstep` loads one :class:`~spikesmith.sim.ncg.NCGState` into the core
(:class:`spikesmith.hw.ncg.ncg_core.NCGCore`) and into :mod:`spikesmith.sim.ncg`, trains both on
the same samples and, after every checked training sample, compares by ``==`` the forward
pass of every neuron (spike bin and potential), the prediction, every weight, every training
threshold and every LFSR register; then both predict the test samples with the test
thresholds. The RTL runs free in Verilator (stimulus and readback move through files in bulk);
the comparison walks the golden model sample by sample over the recorded readback, so the
first reported mismatch is the first sample where the two diverged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .hw.ncg.ncg_harness import NCGHarness
from .hw.ncg.ncg_host import (
    load_state_commands,
    mode_command,
    read_command,
    sample_commands,
    weight_rows_from_hex,
)
from .hw.ncg.ncg_streams import NCGKind, NCGSpace
from .sim import ncg
from .sim.ncg_types import first_winner

__all__ = ["LockstepReport", "run_lockstep"]


@dataclass(frozen=True, eq=False)
class LockstepReport:
    """Outcome of :func:`run_lockstep`.

    Attributes
    ----------
    samples_checked : int
        Training samples after which every weight, training threshold and LFSR register was
        compared.
    train_samples, test_samples : int
        Samples trained on and predicted.
    mismatches : int
        Number of differing values (bins, potentials, predictions, weights, thresholds, LFSR
        registers); 0 means bit-exact.
    first_mismatch : str or None
        The first difference: sample, what, neuron, synapse, expected and actual.
    rtl_train_accuracy, rtl_test_accuracy : float
        Online training accuracy and test accuracy of the RTL.
    golden_test_accuracy : float
        Test accuracy of the golden model.
    cycles_per_train_sample, cycles_per_infer_sample : float
        Mean clock cycles per sample, from its first event to its result (as counted by the
        core; readback excluded).
    sim_cycles : int
        Cycles of the whole Verilator run (loading and readback included).
    sim_wall_s, wall_s : float
        Wall time of the Verilator build and run, and of the whole call, s.
    final_state : ncg.NCGState
        The golden model's state after training.
    """

    samples_checked: int
    train_samples: int
    test_samples: int
    mismatches: int
    first_mismatch: str | None
    rtl_train_accuracy: float
    rtl_test_accuracy: float
    golden_test_accuracy: float
    cycles_per_train_sample: float
    cycles_per_infer_sample: float
    sim_cycles: int
    sim_wall_s: float
    wall_s: float
    final_state: ncg.NCGState

    @property
    def ok(self) -> bool:
        """Whether the RTL matched the golden model everywhere."""
        return self.mismatches == 0


def _check_samples(name: str, samples, n_inputs: int, time_bins: int):
    bins, labels = samples
    bins = np.asarray(bins, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if bins.ndim != 2 or bins.shape[1] != n_inputs or labels.shape != (bins.shape[0],):
        raise ValueError(f"{name} must be (bins (n, {n_inputs}), labels (n,)), not shapes "
                         f"{bins.shape}, {labels.shape}")
    if bins.size and (bins.min() < 0 or bins.max() > time_bins):
        raise ValueError(f"{name} bins must lie in 0..{time_bins} ({time_bins} = silent)")
    return bins, labels


def run_lockstep(
    *,
    params: ncg.NCGParams,
    state: ncg.NCGState,
    train_samples: tuple[np.ndarray, np.ndarray],
    test_samples: tuple[np.ndarray, np.ndarray] | None = None,
    build_root: str | os.PathLike,
    check_every: int = 1,
    reference: Callable[[ncg.NCGState], ncg.NCGState] | None = None,
) -> LockstepReport:
    """Train the RTL core and the golden model on the same samples and compare them.

    Parameters
    ----------
    params : ncg.NCGParams
        Core parameters (one Verilator build per distinct core, cached under ``build_root``).
    state : ncg.NCGState
        Initial state, loaded into both (typically after :func:`spikesmith.sim.ncg.start_epoch`).
    train_samples : (np.ndarray, np.ndarray)
        Input bins ``(n, F)`` (``K`` = silent; e.g. :func:`spikesmith.sim.ncg.latency_bins`)
        and labels ``(n,)``, trained in order.
    test_samples : (np.ndarray, np.ndarray) or None
        Samples predicted with the test thresholds after training.
    build_root : path-like
        Folder for the Verilator builds.
    check_every : int
        Compare weights, thresholds and LFSR registers after every ``check_every``-th training
        sample (1 = all) and after the last one; bins, potentials and predictions always.
    reference : callable or None
        Applied to the golden model's initial state only (the core gets ``state``): a self-test
        of the checker, which must then report mismatches.

    Raises
    ------
    ValueError
        On samples of the wrong shape or range, or ``check_every < 1``.
    RuntimeError
        If Verilator is unusable or the simulation did not complete.
    """
    t0 = time.perf_counter()
    if not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every must be an integer >= 1, not {check_every!r}")
    cfg = params.config
    k = params.time_bins
    x_tr, y_tr = _check_samples("train_samples", train_samples, cfg.n_inputs, k)
    if test_samples is None:
        x_te, y_te = np.zeros((0, cfg.n_inputs), np.int64), np.zeros(0, np.int64)
    else:
        x_te, y_te = _check_samples("test_samples", test_samples, cfg.n_inputs, k)
    harness = NCGHarness(params, build_root=Path(build_root))
    wd = harness.widths
    n, p = cfg.class_map.n_neurons, params.lanes
    words = n * wd.groups
    n_tr = x_tr.shape[0]
    checked = [i % check_every == check_every - 1 or i == n_tr - 1 for i in range(n_tr)]

    cmds = [*load_state_commands(state, params), mode_command(train=True, trace=True)]
    n_rec = 0
    for i in range(n_tr):
        cmds += sample_commands(x_tr[i], int(y_tr[i]), params=params)
        n_rec += n + 1
        if checked[i]:
            cmds += [read_command(NCGSpace.WEIGHT, words), read_command(NCGSpace.THETA_TRAIN, n),
                     read_command(NCGSpace.LFSR, p + 1)]
            n_rec += words + n + p + 1
    cmds.append(mode_command(train=False, trace=True))
    for i in range(x_te.shape[0]):
        cmds += sample_commands(x_te[i], int(y_te[i]), params=params)
        n_rec += n + 1
    per_sample = n * (cfg.n_inputs + 8) + wd.groups * (3 * n + 8) + 64 * n + 4096
    max_cycles = 10_000 + 2 * len(cmds) + (n_tr + x_te.shape[0]) * per_sample + 2 * n_rec
    t1 = time.perf_counter()
    run = harness.run(cmds, n_records=n_rec, max_cycles=max_cycles)
    sim_s = time.perf_counter() - t1

    golden = state if reference is None else reference(state)
    pos = 0
    mismatches = 0
    first: str | None = None

    def note(count: int, text: str) -> None:
        nonlocal mismatches, first
        mismatches += count
        if count and first is None:
            first = text

    def check_forward(tag: str, bins: np.ndarray, pots: np.ndarray, pred: int,
                      cycles: list[int]) -> int:
        nonlocal pos
        *trace, res = run.records(pos, pos + n + 1)
        pos += n + 1
        got_b = np.array([r.value & ((1 << wd.bin) - 1) for r in trace], dtype=np.int64)
        got_v = np.array([r.value >> wd.bin for r in trace], dtype=np.int64)
        for what, got, exp in (("spike bin", got_b, bins), ("potential", got_v, pots)):
            bad = np.flatnonzero(got != exp)
            if bad.size:
                j = int(bad[0])
                note(bad.size, f"{tag}, neuron {j}: {what} expected {int(exp[j])}, actual"
                               f" {int(got[j])}")
        if res.kind is not NCGKind.RESULT or res.index != pred:
            note(1, f"{tag}: prediction expected {pred}, actual {res.index}")
        cycles.append(res.value)
        return res.index

    train_cycles: list[int] = []
    correct_rtl = 0
    s = golden
    for i in range(n_tr):
        tag = f"training sample {i}"
        s, tr = ncg.train_step(s, x_tr[i], int(y_tr[i]), params=params)
        got = check_forward(tag, tr.bins, tr.potentials, tr.prediction, train_cycles)
        correct_rtl += got == int(y_tr[i])
        if not checked[i]:
            continue
        w = weight_rows_from_hex(run.lines[pos:pos + words], wd)
        pos += words
        bad = np.argwhere(w != s.weights)
        if bad.size:
            j, syn = (int(v) for v in bad[0])
            note(len(bad), f"{tag}, neuron {j}, synapse {syn}: weight expected"
                           f" {int(s.weights[j, syn])}, actual {int(w[j, syn])}")
        thr = np.array([r.value for r in run.records(pos, pos + n)], dtype=np.int64)
        pos += n
        bad = np.flatnonzero(thr != s.thresholds_train)
        if bad.size:
            j = int(bad[0])
            note(bad.size, f"{tag}, neuron {j}: training threshold expected"
                           f" {int(s.thresholds_train[j])}, actual {int(thr[j])}")
        lf = np.array([r.value for r in run.records(pos, pos + p + 1)], dtype=np.int64)
        pos += p + 1
        bad = np.flatnonzero(lf != s.lfsr)
        if bad.size:
            q = int(bad[0])
            note(bad.size, f"{tag}, LFSR register {q}: expected {int(s.lfsr[q])}, actual"
                           f" {int(lf[q])}")
    infer_cycles: list[int] = []
    correct_gold = correct_test = 0
    for i in range(x_te.shape[0]):
        t, v = ncg.forward(s.weights, s.thresholds, x_te[i], time_bins=k)
        pred = int(cfg.class_map.classes[first_winner(t, v)])
        got = check_forward(f"test sample {i}", t, v, pred, infer_cycles)
        correct_gold += pred == int(y_te[i])
        correct_test += got == int(y_te[i])
    n_te = x_te.shape[0]
    return LockstepReport(
        samples_checked=sum(checked), train_samples=n_tr, test_samples=n_te,
        mismatches=mismatches, first_mismatch=first,
        rtl_train_accuracy=correct_rtl / max(1, n_tr),
        rtl_test_accuracy=correct_test / max(1, n_te),
        golden_test_accuracy=correct_gold / max(1, n_te),
        cycles_per_train_sample=float(np.mean(train_cycles)) if train_cycles else 0.0,
        cycles_per_infer_sample=float(np.mean(infer_cycles)) if infer_cycles else 0.0,
        sim_cycles=run.cycles, sim_wall_s=sim_s, wall_s=time.perf_counter() - t0,
        final_state=s)
