"""Ablation of the training losses (issue 15) on mnist5k, dense preset: float, integer and RTL.

Usage::

    .venv/bin/python benchmarks/bench_losses.py [--losses ce,ttfs] [--seeds 0,1,2]
        [--epochs N] [--runs runs/losses] [--samples 1000] [--out docs/methods_losses.md]

For every loss and seed, one run folder ``<runs>/mnist5k-<loss>-s<seed>`` goes through the
flow's train, export and verify stages (``spikesmith.flow``; a stage that is up to date is not
redone, so the script resumes where it stopped). A row holds the float accuracy (float weights
and thresholds), the integer accuracy (the hardware-exact golden model), the RTL accuracy
(Verilator, the first ``--samples`` images: the 1000 test images), its mismatches against the
golden model, and the mean cycles per sample. ``ttfs`` runs decide by the first output spike
and stop each sample there (``hw.lif.first_spike``); every other loss by the most spikes. The
rows, their per-loss means and the cycles saved by the first-spike rule against ``ce`` are
written as the section "Time-based losses and first-spike decisions (issue 15)" of ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from spikesmith.flow import (
    LOSSES,
    DemoOptions,
    VerifyOptions,
    stage_export,
    stage_train,
    stage_verify,
)

HEADING = "## Time-based losses and first-spike decisions (issue 15)"


def measure(runs: Path, *, loss: str, seed: int, epochs: int | None, samples: int) -> dict:
    """Train, export and verify one run; return its row."""
    run = runs / f"mnist5k-{loss}-s{seed}"
    start = time.perf_counter()
    stage_train(run, DemoOptions(dataset="mnist5k", loss=loss, seed=seed, epochs=epochs),
                progress=False)
    stage_export(run, lanes=8)
    stage_verify(run, VerifyOptions(samples=samples, membrane_samples=0))
    s = json.loads((run / "summary.json").read_text())
    return {"loss": loss, "seed": seed, "rule": s["output_rule"],
            "float": s["accuracy"]["float"], "integer": s["accuracy"]["quantized"],
            "rtl": s["accuracy"]["hardware"], "mismatches": s["verify"]["mismatches"],
            "samples": s["verify"]["samples"], "cycles": s["cycles_per_sample"],
            "seconds": round(time.perf_counter() - start, 1)}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def section(rows: list[dict], *, epochs: int | None) -> str:
    """Return the markdown section of ``rows``."""
    length = "recipe epochs (30)" if epochs is None else f"{epochs} epochs"
    intro = ("mnist5k, dense preset (784-128-10, direct current, T = 8, 8-bit weights, "
             f"{length}), written by "
             "`benchmarks/bench_losses.py`. Float: float weights and thresholds; integer: the "
             "hardware-exact golden model; RTL: the generated Verilog in Verilator on the test "
             "split, compared with the golden model (mismatches). `ttfs` decides by the first "
             "output spike (ties to the lower index, silence to class 0) and stops the sample "
             "there; the other losses by the most spikes.")
    lines = [HEADING, "", intro, "",
             "| loss | seed | rule | float % | integer % | RTL % | mismatches | cycles/sample |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['loss']} | {r['seed']} | {r['rule']} | {_pct(r['float'])} | "
                     f"{_pct(r['integer'])} | {_pct(r['rtl'])} | {r['mismatches']} of "
                     f"{r['samples']} | {r['cycles']:.0f} |")
    lines += ["", "Means over the seeds run:", "",
              "| loss | seeds | float % | integer % | RTL % | cycles/sample |",
              "|---|---|---|---|---|---|"]
    means = {}
    for loss in dict.fromkeys(r["loss"] for r in rows):
        sel = [r for r in rows if r["loss"] == loss]
        m = {k: statistics.fmean(r[k] for r in sel) for k in ("float", "integer", "rtl",
                                                              "cycles")}
        means[loss] = m
        lines.append(f"| {loss} | {len(sel)} | {_pct(m['float'])} | {_pct(m['integer'])} | "
                     f"{_pct(m['rtl'])} | {m['cycles']:.0f} |")
    if "ce" in means and "ttfs" in means:
        ce, tt = means["ce"], means["ttfs"]
        saved = 100 * (1 - tt["cycles"] / ce["cycles"])
        lines += ["", (f"First-spike rule (ttfs) against the count rule (ce): RTL accuracy "
                       f"{100 * (tt['rtl'] - ce['rtl']):+.2f} points, mean cycles per sample "
                       f"{tt['cycles']:.0f} vs {ce['cycles']:.0f} ({saved:.1f} % fewer).")]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", default=",".join(LOSSES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--runs", type=Path, default=Path("runs/losses"))
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("docs/methods_losses.md"))
    args = parser.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for loss in args.losses.split(","):
            rows.append(measure(args.runs, loss=loss, seed=seed, epochs=args.epochs,
                                samples=args.samples))
            print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(section(sorted(rows, key=lambda r: (LOSSES.index(r["loss"]),
                                                            r["seed"])), epochs=args.epochs))


if __name__ == "__main__":
    main()
