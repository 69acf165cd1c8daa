"""Verify a generated first-spike top against the golden model's decisions, exactly.

:func:`verify_first_spike` runs a design written by ``hw.lif.generate.generate(...,
rule=OutputRule.FIRST_SPIKE)`` in Verilator (``hw.lif.first_spike_harness``) on the host
model's words and compares, by ``==``, each sample's decision word with
``sim.decision.decide(..., rule=FIRST_SPIKE)`` of ``sim.network.run_network``: the class, the
timesteps the sample needed and whether the output fired. The first mismatch is a
:class:`~spikesmith.verification.report.Mismatch`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from spikesmith.hw.lif.first_spike_harness import FirstSpikeRun, run_first_spike_harness
from spikesmith.hw.lif.generate import GeneratedDesign, load_design
from spikesmith.hw.lif.host import pack_input_events
from spikesmith.sim.decision import Decisions, OutputRule, decide
from spikesmith.sim.network import NetworkParams, run_network

from .lif import VerifyReport
from .report import Comparison, Mismatch, Tally

__all__ = ["FirstSpikeReport", "compare_decisions", "first_spike_verify_report",
           "verify_first_spike"]


@dataclass(frozen=True, eq=False)
class FirstSpikeReport(Comparison):
    """Outcome of :func:`verify_first_spike` (``mismatches``, ``first``: :class:`Comparison`).

    Attributes
    ----------
    expected : Decisions
        The golden model's decisions.
    run : FirstSpikeRun
        What the RTL produced (classes, steps, fired, cycles).
    """

    expected: Decisions
    run: FirstSpikeRun

    @property
    def cycles_per_sample(self) -> float:
        """Mean cycles per sample (total cycles to the last decision over the samples)."""
        n = len(self.run.decision_cycles)
        return self.run.decision_cycles[-1] / n if n else 0.0


def compare_decisions(expected: Decisions, run: FirstSpikeRun) -> Comparison:
    """Compare the RTL's decision words with ``expected``, sample by sample, field by field."""
    tally = Tally()
    fields = (("class", expected.classes, run.classes),
              ("timesteps needed", expected.timesteps, run.steps),
              ("fired", expected.fired.astype(np.int64), run.fired))
    n = len(expected.classes)
    if len(run.classes) != n:
        tally.add(Mismatch(where=(("decisions", "all"),), quantity="decision words",
                           expected=n, actual=len(run.classes)))
        return Comparison.of(tally)
    for b in range(n):
        for name, want, got in fields:
            if int(want[b]) != int(got[b]):
                tally.add(Mismatch(where=(("sample", b),), quantity=name,
                                   expected=int(want[b]), actual=int(got[b])), key=(b,))
    return Comparison.of(tally)


def verify_first_spike(design: GeneratedDesign, params: NetworkParams, images: np.ndarray, *,
                       build_dir: str | os.PathLike,
                       max_cycles: int | None = None) -> FirstSpikeReport:
    """Run ``design`` on ``images`` and compare its decisions with the golden model's.

    Parameters
    ----------
    design : GeneratedDesign
        A first-spike design (manifest port ``decision__payload``).
    params : NetworkParams
        The integer network it was generated from.
    images : np.ndarray
        ``uint8`` images ``(batch, features)``.
    build_dir : path
        Verilator build folder (reused across runs).
    max_cycles : int, optional
        Harness cycle limit (default generous: 10 000 per timestep per sample plus 10 000).

    Raises
    ------
    ValueError
        If ``design`` has no decision port.
    """
    if not any(p.name == "decision__payload" for p in design.manifest.ports):
        raise ValueError(f"design {design.out_dir} is not a first-spike top (no decision port)")
    trace = run_network(params, images, record_membranes=True)
    expected = decide(trace.spikes[-1], trace.membranes[-1], rule=OutputRule.FIRST_SPIKE)
    batch = len(images)
    events = pack_input_events(design.manifest.cores[0], trace.inputs)
    limit = max_cycles if max_cycles is not None else 10_000 * (params.timesteps * batch + 1)
    run = run_first_spike_harness(design, build_dir=build_dir, events=events,
                                  n_samples=batch, max_cycles=limit)
    cmp = compare_decisions(expected, run)
    return FirstSpikeReport(mismatches=cmp.mismatches, first=cmp.first, expected=expected,
                            run=run)


def first_spike_verify_report(design_dir: str | os.PathLike, params: NetworkParams,
                              images: np.ndarray, *, build_dir: str | os.PathLike
                              ) -> VerifyReport:
    """Return :func:`verify_first_spike` of the design in ``design_dir`` as the flow's
    ``VerifyReport``: ``rtl_predictions`` are the RTL's decisions, ``cycles_per_sample`` the
    mean cycles per sample with early termination; no membranes are compared
    (``membrane_samples`` 0)."""
    start = time.perf_counter()
    rep = verify_first_spike(load_design(design_dir), params, images, build_dir=build_dir)
    wall = time.perf_counter() - start
    return VerifyReport(mismatches=rep.mismatches, first=rep.first, samples=len(images),
                        membrane_samples=0, rtl_predictions=np.asarray(rep.run.classes),
                        cycles_per_sample=rep.cycles_per_sample, total_cycles=rep.run.cycles,
                        wall_time_s=wall, sim_time_s=wall)
