"""Cost and speed of the NCG learning core (:class:`spikesmith.hw.ncg.ncg_core.NCGCore`).

Prints, per configuration: Yosys resources for iCE40 / ECP5 / XC7
(:func:`hw.common.synth.synthesize` of the bare core), Fmax (nextpnr seeds 1, 2, 3: each seed,
the min and the median, with the median seed's bel use) on iCE40 UP5K and ECP5-25F through
the low-pin :class:`hw.common.harness.FmaxHarness` (:func:`hw.common.fpga.measure_fmax`), and
the lockstep Verilator run (bit-exact check after every training sample, cycles per training and
inference sample, simulation speed).

Usage::

    .venv/bin/python benchmarks/bench_ncg_core.py [--synth] [--lockstep] [--train N] [--test N]
        [--configs DATASET:M[:P],...]

``P`` (synapse lanes, default 8) trades update cycles for logic (``digits:5:4``: half the
lanes; docs/ncg_core.md). A place-and-route that fails reports nextpnr's over-full resources
(``ICESTORM_LC 5631/5280``: does not fit).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from spikesmith.datasets import split_80_20
from spikesmith.hw.common.fpga import measure_fmax
from spikesmith.hw.common.synth import Target, ToolError, synthesize
from spikesmith.hw.ncg.ncg_core import NCGCore
from spikesmith.learn import default_config
from spikesmith.sim import ncg, ncg_learning
from spikesmith.verification.ncg import run_lockstep

#: nextpnr placer seeds of every Fmax measurement (min and median reported).
SEEDS = (1, 2, 3)
CONFIGS = (("digits", 5), ("digits", 1), ("mnist5k", 5), ("mnist5k", 1))
BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl" / "ncg_core"


def params_for(dataset: str, m: int, lanes: int = 8) -> ncg.NCGParams:
    return ncg.NCGParams(default_config(dataset=dataset, neurons_per_class=m), lanes=lanes)


def _pnr_failure(error: str) -> str:
    """``failed: <last line>`` plus the over-full resources of nextpnr's utilisation table."""
    full = re.findall(r"(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", error)
    over = [f"{name} {used}/{avail}" for name, used, avail in full if int(used) > int(avail)]
    return f"failed: {error.splitlines()[-1]}" + (f" ({', '.join(over)})" if over else "")


def _label(dataset: str, m: int, lanes: int) -> str:
    return f"{dataset} M={m}" + ("" if lanes == 8 else f" P={lanes}")


def synth_row(dataset: str, m: int, work: Path, lanes: int = 8) -> dict:
    params = params_for(dataset, m, lanes)
    row: dict = {"config": _label(dataset, m, lanes)}
    for target in (Target.ICE40, Target.ECP5, Target.XC7):
        try:
            res = synthesize(NCGCore(params), target=target, top="ncg",
                             workdir=work / f"{dataset}{m}p{lanes}")
            row[target.value] = res.resources.to_dict()
        except ToolError as exc:
            row[target.value] = f"failed: {str(exc).splitlines()[-1]}"
    for target, freq in ((Target.ICE40, 30), (Target.ECP5, 60)):
        # nextpnr decides whether it fits: its utilisation table names what is over-full
        res = measure_fmax(NCGCore(params), target=target, freq=freq, seeds=SEEDS,
                           workdir=work / f"{dataset}{m}p{lanes}-fmax", check_capacity=False)
        key = f"fmax_{target.value}"
        if res.fmax_mhz is None:
            row[f"{key}_mhz"] = _pnr_failure(res.error)
            continue
        row[f"{key}_mhz"] = round(res.fmax_mhz, 2)      # the median seed
        row[f"{key}_min_mhz"] = round(min(res.fmax_by_seed.values()), 2)
        row[f"{key}_by_seed"] = {s: round(f, 2) for s, f in res.fmax_by_seed.items()}
        row[f"{key}_cells"] = dict(res.utilisation)
    return row


def lockstep_row(dataset: str, m: int, n_train: int, n_test: int | None,
                 lanes: int = 8) -> dict:
    params = params_for(dataset, m, lanes)
    x_tr, y_tr, x_te, y_te = split_80_20(dataset)
    k = params.time_bins
    n_test = len(y_te) if n_test is None else n_test
    state = ncg_learning.start_epoch(ncg.init_state(params, seed=0), params=params)
    t0 = time.perf_counter()
    rep = run_lockstep(params=params, state=state,
                       train_samples=(ncg.latency_bins(x_tr[:n_train], time_bins=k),
                                      y_tr[:n_train]),
                       test_samples=(ncg.latency_bins(x_te[:n_test], time_bins=k),
                                     y_te[:n_test]),
                       build_root=BUILD)
    return {
        "config": _label(dataset, m, lanes), "train": rep.train_samples, "test": rep.test_samples,
        "checked": rep.samples_checked, "mismatches": rep.mismatches,
        "first_mismatch": rep.first_mismatch,
        "rtl_test_acc": round(rep.rtl_test_accuracy, 4),
        "golden_test_acc": round(rep.golden_test_accuracy, 4),
        "cycles_train": round(rep.cycles_per_train_sample, 1),
        "cycles_infer": round(rep.cycles_per_infer_sample, 1),
        "sim_cycles": rep.sim_cycles, "sim_s": round(rep.sim_wall_s, 1),
        "sim_mcycles_per_s": round(rep.sim_cycles / rep.sim_wall_s / 1e6, 2),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synth", action="store_true", help="run Yosys and nextpnr")
    ap.add_argument("--lockstep", action="store_true", help="run the Verilator lockstep")
    ap.add_argument("--train", type=int, default=300, help="training samples")
    ap.add_argument("--test", type=int, default=None, help="test samples (default: all)")
    ap.add_argument("--configs", default=",".join(f"{d}:{m}" for d, m in CONFIGS))
    args = ap.parse_args()
    configs = []
    for c in args.configs.split(","):
        dataset, m, *lanes = c.split(":")
        configs.append((dataset, int(m), int(lanes[0]) if lanes else 8))
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, m, lanes in configs:
            if args.lockstep:
                print(json.dumps(lockstep_row(dataset, m, args.train, args.test, lanes)),
                      flush=True)
            if args.synth:
                print(json.dumps(synth_row(dataset, m, Path(tmp), lanes)), flush=True)


if __name__ == "__main__":
    main()
