"""Chaos and determinism (issue 12, items 6 and 9): every stage killed with SIGKILL at random
instants leaves a consistent run folder, and reruns give the same bytes as an uninterrupted run.

A tiny digits network goes through the whole flow (train, export, verify in Verilator,
estimate with Yosys, report) three times:

* ``reference``: every stage run once, uninterrupted, each in its own process;
* the determinism test: a second uninterrupted run in another folder must give byte-identical
  artefacts: checkpoint, IR, Verilog, RTLIL, manifest, records, summary, report and plots (the
  records' and the summary's wall-time fields aside);
* the chaos test: each stage is started ``KILLS`` times and killed (the whole process group,
  SIGKILL) at an instant drawn uniformly over the stage's measured duration; after every kill
  the folder must pass ``RunFolder.problems`` (it states nothing it does not hold), then the
  stage runs to completion. At the end the folder must equal the reference byte for byte.
The instants come from a seeded generator, so a failure names a reproducible instant.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from spikesmith.runfolder import RunFolder

pytestmark = [pytest.mark.rtl, pytest.mark.slow]

#: The flow, stage by stage, as command lines (``--run`` is appended).
FLOW = (
    ("train", ["train", "--dataset", "digits", "--epochs", "1", "--hidden", "8",
               "--timesteps", "4", "--seed", "3"]),
    ("export", ["export", "--lanes", "2"]),
    ("verify", ["verify", "--samples", "40", "--membrane-samples", "8"]),
    ("estimate", ["estimate", "--no-pnr"]),
    ("report", ["report"]),
)
#: Kills per stage.
KILLS = 3


def _command(args: list[str], run) -> list[str]:
    return [sys.executable, "-m", "spikesmith.cli", *args, "--run", str(run)]


def _run_stage(args: list[str], run) -> float:
    """Run one stage to completion in its own process; return its wall time, s."""
    t0 = time.perf_counter()
    done = subprocess.run(_command(args, run), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return time.perf_counter() - t0


def _run_flow(run) -> dict[str, float]:
    return {stage: _run_stage(args, run) for stage, args in FLOW}


def _kill_at(args: list[str], run, instant: float) -> bool:
    """Start a stage and SIGKILL its process group after ``instant`` s; return whether it was
    still running (False: it had finished)."""
    proc = subprocess.Popen(_command(args, run), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=instant)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    return run, _run_flow(run)


def test_two_uninterrupted_runs_give_the_same_bytes(reference, tmp_path, artefacts):
    run, _ = reference
    again = tmp_path / "again"
    _run_flow(again)
    mine, theirs = artefacts(again), artefacts(run)
    assert {"checkpoint.safetensors", "network.ir", "hw/spikesmith_network.v",
            "hw/spikesmith_network.il", "hw/design.json", "train.json", "export.json",
            "verify.json", "estimate.json", "report.json", "report.md", "summary.json",
            "raster.png"} <= set(mine)
    assert sorted(mine) == sorted(theirs)
    for name in mine:
        assert mine[name] == theirs[name], name


def test_stages_killed_at_random_instants_leave_a_consistent_folder(reference, tmp_path,
                                                                   artefacts):
    ref, seconds = reference
    run = tmp_path / "chaos"
    rng = random.Random(12)
    killed = []
    for stage, args in FLOW:
        for _ in range(KILLS):
            instant = rng.uniform(0.0, seconds[stage])
            if _kill_at(args, run, instant):
                killed.append((stage, round(instant, 2)))
            if run.exists():
                assert RunFolder(run).problems() == [], (stage, instant)
        _run_stage(args, run)
        assert RunFolder(run).problems() == [], stage
    assert len(killed) >= len(FLOW), killed  # most kills landed while the stage was running
    mine, theirs = artefacts(run), artefacts(ref)
    assert sorted(mine) == sorted(theirs), killed
    for name in mine:
        assert mine[name] == theirs[name], (name, killed)
    assert not {".staging", ".trash"} & {p.name for p in run.iterdir()}
