"""Time the sleep-ratio study (spikesmith.sleep_study.run_sleep_study) and print its table.

Usage::

    .venv/bin/python benchmarks/bench_sleep_study.py --out runs/sleep_study            # full
    .venv/bin/python benchmarks/bench_sleep_study.py --n-train 300 --seeds 0 --out /tmp/s  # quick

The full study is 5 ratios × 3 seeds, 3000 training images, 200 E + 50 I, 15×15 inputs; the
target is under 30 minutes on a 2-core machine. Results go to ``docs/sleep.md`` by hand.

``--polarity authors_reversed`` also restores the authors' other constants that the causal
default changes: ``a_minus = 1`` and the E→I initial weight 0.3.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import replace

from spikesmith.sim.recurrent import NeuronParams, SynapseGroup
from spikesmith.sim.recurrent_net import NetConfig
from spikesmith.sim.stdp import StdpParams, StdpPolarity
from spikesmith.sleep_study import run_sleep_study


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--ratios", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3, 0.5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--block-images", type=int, default=300)
    ap.add_argument(
        "--polarity", choices=[p.value for p in StdpPolarity], default=StdpPolarity.CAUSAL.value
    )
    ap.add_argument(
        "--target",
        nargs="+",
        default=[],
        metavar="GROUP=W",
        help="sleep target magnitude of a synapse group, e.g. ei=1.0 (weight units)",
    )
    args = ap.parse_args()
    polarity = StdpPolarity(args.polarity)
    if polarity is StdpPolarity.AUTHORS_REVERSED:
        p = NeuronParams()
        groups = dict(p.groups)
        groups[SynapseGroup.EI] = replace(groups[SynapseGroup.EI], init=round(0.3 * 2**16))
        cfg = NetConfig(
            neuron=replace(p, groups=groups), stdp=StdpParams(polarity=polarity, a_minus=1.0)
        )
    else:
        cfg = NetConfig(stdp=StdpParams(polarity=polarity))
    if args.target:
        groups = dict(cfg.neuron.groups)
        for item in args.target:
            name, value = item.split("=")
            g = SynapseGroup(name)
            groups[g] = replace(groups[g], target=round(float(value) * 2**16))
        cfg = replace(cfg, neuron=replace(cfg.neuron, groups=groups))
    t0 = time.perf_counter()
    res = run_sleep_study(
        ratios=tuple(args.ratios),
        seeds=tuple(args.seeds),
        n_train=args.n_train,
        out_dir=args.out,
        processes=args.processes,
        block_images=args.block_images,
        cfg=cfg,
    )
    wall = time.perf_counter() - t0
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"wall time: {wall:.1f} s for {len(res.runs)} runs ({args.processes} processes)")
    print(f"load average at the end: {os.getloadavg()}")
    s = res.summary
    print(f"input baseline accuracy: {s['input_baseline_accuracy']:.4f}")
    print(f"untrained network accuracy: {s['untrained_accuracy']:.4f}")
    print("| ratio | acc. mean | std | phi | Σ|w| final | sleep steps | wall s/run | cpu s/run |")
    print("|---|---|---|---|---|---|---|---|")
    for r, v in s["results"].items():
        print(
            f"| {r} | {v['accuracy_mean']:.4f} | {v['accuracy_std']:.4f} | {v['phi_mean']:.4f} "
            f"| {v['weight_sum_final'] * s['weight_lsb']:.1f} | {v['sleep_steps_mean']:.0f} "
            f"| {v['seconds_mean']:.0f} | {v['cpu_seconds_mean']:.0f} |"
        )


if __name__ == "__main__":
    main()
