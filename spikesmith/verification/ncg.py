"""Train the NCG learning core in Verilator in lockstep with the integer golden model.

:func:`run_lockstep` loads one :class:`~spikesmith.sim.ncg.NCGState` into the core
(:class:`spikesmith.hw.ncg.ncg_core.NCGCore`) and into :mod:`spikesmith.sim.ncg`, trains both on
the same samples and, after every checked training sample, compares by ``==`` the forward
pass of every neuron (spike bin and potential), the prediction, every weight, every training
threshold and every LFSR register; then both predict the test samples with the test
thresholds. The RTL runs free in Verilator (stimulus and readback move through files in bulk);
the comparison walks the golden model sample by sample over the recorded readback, so the
first reported mismatch (a :class:`~spikesmith.verification.report.Mismatch`) is the first
sample where the two diverged. Commands and records are those of the host model
(:mod:`spikesmith.hw.ncg.host`), the harness is :mod:`spikesmith.hw.ncg.harness`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikesmith.hw.ncg.harness import NCGHarness, NCGRun
from spikesmith.hw.ncg.host import (
    load_state_commands,
    mode_command,
    read_command,
    sample_commands,
    weight_rows_from_hex,
)
from spikesmith.hw.ncg.ncg_streams import NCGKind, NCGSpace, NCGWidths
from spikesmith.sim import ncg, ncg_learning
from spikesmith.sim.ncg_types import first_winner

from .report import Comparison, Mismatch, Tally

__all__ = ["LockstepReport", "run_lockstep"]


@dataclass(frozen=True, eq=False)
class LockstepReport(Comparison):
    """Outcome of :func:`run_lockstep` (``mismatches``, ``first``: :class:`Comparison`).

    Mismatches count differing bins, potentials, predictions, weights, thresholds and LFSR
    registers; the first names the sample, neuron (and synapse), expected and actual value.

    Attributes
    ----------
    samples_checked : int
        Training samples after which every weight, training threshold and LFSR register was
        compared.
    train_samples, test_samples : int
        Samples trained on and predicted.
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
    rtl_train_accuracy: float
    rtl_test_accuracy: float
    golden_test_accuracy: float
    cycles_per_train_sample: float
    cycles_per_infer_sample: float
    sim_cycles: int
    sim_wall_s: float
    wall_s: float
    final_state: ncg.NCGState


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


def _commands(params: ncg.NCGParams, state: ncg.NCGState, widths: NCGWidths, *,
              train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
              checked: list[bool]) -> tuple[list, int]:
    """Return the commands of a lockstep run and the number of records they produce."""
    n, p = params.config.class_map.n_neurons, params.lanes
    words = n * widths.groups
    cmds = [*load_state_commands(state, params), mode_command(train=True, trace=True)]
    n_rec = 0
    for i in range(train[0].shape[0]):
        cmds += sample_commands(train[0][i], int(train[1][i]), params=params)
        n_rec += n + 1
        if checked[i]:
            cmds += [read_command(NCGSpace.WEIGHT, words), read_command(NCGSpace.THETA_TRAIN, n),
                     read_command(NCGSpace.LFSR, p + 1)]
            n_rec += words + n + p + 1
    cmds.append(mode_command(train=False, trace=True))
    for i in range(test[0].shape[0]):
        cmds += sample_commands(test[0][i], int(test[1][i]), params=params)
        n_rec += n + 1
    return cmds, n_rec


class _Replay:
    """Walks the harness's records in order beside the golden model, tallying differences."""

    def __init__(self, run: NCGRun, params: ncg.NCGParams) -> None:
        self.run, self.widths = run, run.widths
        self.n, self.lanes = params.config.class_map.n_neurons, params.lanes
        self.pos = 0
        self.tally = Tally()

    def _take(self, count: int) -> tuple[int, int]:
        start, self.pos = self.pos, self.pos + count
        return start, self.pos

    def _vector(self, where: tuple, unit: str, quantity: str, got: np.ndarray,
                exp: np.ndarray) -> None:
        bad = np.flatnonzero(got != exp)
        if bad.size:
            j = int(bad[0])
            self.tally.add(Mismatch(where=(where, (unit, j)), quantity=quantity,
                                    expected=int(exp[j]), actual=int(got[j])), count=bad.size)

    def forward(self, where: tuple, bins: np.ndarray, pots: np.ndarray, pred: int
                ) -> tuple[int, int]:
        """Check one sample's trace and result; return the RTL's prediction and cycles."""
        *trace, res = self.run.records(*self._take(self.n + 1))
        b = self.widths.bin
        got_b = np.array([r.value & ((1 << b) - 1) for r in trace], dtype=np.int64)
        got_v = np.array([r.value >> b for r in trace], dtype=np.int64)
        self._vector(where, "neuron", "spike bin", got_b, bins)
        self._vector(where, "neuron", "potential", got_v, pots)
        if res.kind is not NCGKind.RESULT or res.index != pred:
            self.tally.add(Mismatch(where=(where,), quantity="prediction", expected=pred,
                                    actual=res.index))
        return res.index, res.value

    def state(self, where: tuple, s: ncg.NCGState) -> None:
        """Check the weights, training thresholds and LFSR registers read back after a
        training sample."""
        start, stop = self._take(self.n * self.widths.groups)
        w = weight_rows_from_hex(self.run.lines[start:stop], self.widths)
        bad = np.argwhere(w != s.weights)
        if bad.size:
            j, syn = (int(v) for v in bad[0])
            self.tally.add(Mismatch(where=(where, ("neuron", j), ("synapse", syn)),
                                    quantity="weight", expected=int(s.weights[j, syn]),
                                    actual=int(w[j, syn])), count=len(bad))
        thr = np.array([r.value for r in self.run.records(*self._take(self.n))], dtype=np.int64)
        self._vector(where, "neuron", "training threshold", thr, s.thresholds_train)
        lf = np.array([r.value for r in self.run.records(*self._take(self.lanes + 1))],
                      dtype=np.int64)
        self._vector(where, "LFSR register", "", lf, s.lfsr)


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
        Initial state, loaded into both (typically after
        :func:`spikesmith.sim.ncg_learning.start_epoch`).
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
    n = cfg.class_map.n_neurons
    n_tr, n_te = x_tr.shape[0], x_te.shape[0]
    checked = [i % check_every == check_every - 1 or i == n_tr - 1 for i in range(n_tr)]
    cmds, n_rec = _commands(params, state, wd, train=(x_tr, y_tr), test=(x_te, y_te),
                            checked=checked)
    per_sample = n * (cfg.n_inputs + 8) + wd.groups * (3 * n + 8) + 64 * n + 4096
    max_cycles = 10_000 + 2 * len(cmds) + (n_tr + n_te) * per_sample + 2 * n_rec
    t1 = time.perf_counter()
    run = harness.run(cmds, n_records=n_rec, max_cycles=max_cycles)
    sim_s = time.perf_counter() - t1

    replay = _Replay(run, params)
    train_cycles: list[int] = []
    correct_rtl = 0
    s = state if reference is None else reference(state)
    for i in range(n_tr):
        where = ("training sample", i)
        s, tr = ncg_learning.train_step(s, x_tr[i], int(y_tr[i]), params=params)
        got, cycles = replay.forward(where, tr.bins, tr.potentials, tr.prediction)
        train_cycles.append(cycles)
        correct_rtl += got == int(y_tr[i])
        if checked[i]:
            replay.state(where, s)
    infer_cycles: list[int] = []
    correct_gold = correct_test = 0
    for i in range(n_te):
        t, v = ncg.forward(s.weights, s.thresholds, x_te[i], time_bins=k)
        pred = int(cfg.class_map.classes[first_winner(t, v)])
        got, cycles = replay.forward(("test sample", i), t, v, pred)
        infer_cycles.append(cycles)
        correct_gold += pred == int(y_te[i])
        correct_test += got == int(y_te[i])
    return LockstepReport.of(
        replay.tally, samples_checked=sum(checked), train_samples=n_tr, test_samples=n_te,
        rtl_train_accuracy=correct_rtl / max(1, n_tr),
        rtl_test_accuracy=correct_test / max(1, n_te),
        golden_test_accuracy=correct_gold / max(1, n_te),
        cycles_per_train_sample=float(np.mean(train_cycles)) if train_cycles else 0.0,
        cycles_per_infer_sample=float(np.mean(infer_cycles)) if infer_cycles else 0.0,
        sim_cycles=run.cycles, sim_wall_s=sim_s, wall_s=time.perf_counter() - t0,
        final_state=s)
