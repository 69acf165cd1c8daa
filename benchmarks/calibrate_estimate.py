"""Calibrate the analytic LUT/FF model of ``hw.lif.estimate`` against Yosys 0.70.

Usage::

    python benchmarks/calibrate_estimate.py [--workdir DIR] [--jobs N] [--out runs.json]
    python benchmarks/calibrate_estimate.py --load runs.json   # refit without the tools

Synthesises every core of :data:`CORES` for iCE40, ECP5 and xc7 (``hw.common.synth.synthesize``),
subtracts what the memory model already prices (``hw.lif.estimate.map_memory``) and fits, per
target, the non-negative LUT cost of each term of ``hw.lif.estimate._logic_features`` (a fixed part,
``P * state_bits``, ``P * membrane_bits``, control bits) by non-negative least squares on the
relative error (every core weighs the same, small ones included), and the flip-flop offset
beyond the counted registers (median). Prints the constants to paste into ``hw/lif/estimate.py``,
then the in-sample table and the leave-one-out LUT error range per target.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import numpy as np
from scipy.optimize import nnls as scipy_nnls

from spikesmith.hw.common.synth import Target, synthesize
from spikesmith.hw.lif import estimate
from spikesmith.hw.lif.config import LIFCoreConfig
from spikesmith.hw.lif.lif_core import LIFCore
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer

TARGETS = (Target.ICE40, Target.ECP5, Target.XC7)

# (n_in, n_out, weight_bits, acc_bits, membrane_bits, input_bits, lanes, IF/reset-to-zero)
CORES = [
    (16, 8, 4, 10, 16, 1, 1, False),
    (16, 8, 4, 10, 16, 1, 2, False),
    (64, 32, 4, 12, 16, 1, 1, False),
    (64, 32, 4, 12, 16, 1, 4, False),
    (64, 32, 8, 16, 16, 1, 4, False),
    (64, 32, 4, 12, 16, 1, 8, False),
    (32, 32, 6, 12, 12, 1, 16, True),
    (64, 64, 4, 16, 16, 8, 2, False),
    (64, 128, 8, 13, 16, 1, 8, False),
    (128, 10, 8, 14, 16, 1, 8, False),
    (256, 128, 4, 12, 16, 1, 4, False),
]


def make_core(n_in, n_out, wb, ab, mb, ib, lanes, plain_if) -> LIFCoreConfig:
    """Return a core of the calibration set with random weights."""
    rng = np.random.default_rng(n_in * 1000 + n_out)
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(n_out, n_in))
    lif = LIFParams(
        threshold=100,
        model=NeuronModel.IF if plain_if else NeuronModel.LIF,
        reset=ResetMode.ZERO if plain_if else ResetMode.SUBTRACT,
        membrane=FixedFormat(mb),
    )
    return LIFCoreConfig(name="core", layer=DenseLayer(weights=w, weight_bits=wb, lif=lif),
                         acc_bits=ab, input_bits=ib, lanes=lanes)


def _label(c) -> str:
    n_in, n_out, wb, ab, mb, ib, lanes, plain_if = c
    extra = (" in8" if ib > 1 else "") + (" IF/zero" if plain_if else "")
    return f"{n_in}x{n_out} w{wb} a{ab} v{mb} P{lanes}{extra}"


def _run(case, target, root: Path) -> dict:
    cfg = make_core(*case)
    syn = synthesize(LIFCore(cfg), target=target, top="core",
                     workdir=root / _label(case).replace(" ", "_").replace("/", "_"))
    return {"case": list(case), "target": target.value, **syn.resources.to_dict(),
            "seconds": round(syn.seconds, 1)}


def _rows(runs: list[dict], target: Target):
    feats, luts, ffs, regs = [], [], [], []
    for r in runs:
        if r["target"] != target.value:
            continue
        cfg = make_core(*r["case"])
        f = estimate._logic_features(cfg)
        mems = [estimate.map_memory(m, target=target) for m in estimate.core_memories(cfg)]
        feats.append(f.lut_terms)
        luts.append(r["lut"] - sum(m.lut for m in mems))
        ffs.append(r["ff"] - sum(m.ff for m in mems))
        regs.append(f.registers)
    return np.array(feats, float), np.array(luts, float), np.array(ffs, float), np.array(regs)


def fit(runs: list[dict]) -> dict:
    """Return ``{target: (lut coefficients, ff offset, leave-one-out LUT errors)}``."""
    out = {}
    for target in TARGETS:
        a, lut, ff, regs = _rows(runs, target)
        if not len(lut):
            continue
        measured = np.maximum(lut, 1.0)
        scale = 1.0 / measured  # relative error: small cores count as much as large ones
        coef = scipy_nnls(a * scale[:, None], lut * scale)[0]
        loo = []
        for k in range(len(lut)):
            keep = np.arange(len(lut)) != k
            c = scipy_nnls(a[keep] * scale[keep, None], lut[keep] * scale[keep])[0]
            loo.append(float(a[k] @ c - lut[k]) / measured[k])
        out[target] = (coef, float(np.median(ff - regs)), loo)
    return out


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None)
@click.option("--jobs", type=int, default=2, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="save runs as JSON")
@click.option("--load", type=click.Path(path_type=Path, exists=True), default=None,
              help="refit saved runs instead of running Yosys")
def main(workdir: Path | None, jobs: int, out: Path | None, load: Path | None) -> None:
    """Run Yosys on the calibration set, fit the LUT/FF constants, print the errors."""
    if load is not None:
        runs = json.loads(load.read_text())
    else:
        root = Path(workdir or tempfile.mkdtemp(prefix="calibrate_"))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futs = [pool.submit(_run, c, t, root) for c in CORES for t in TARGETS]
            runs = [f.result() for f in futs]
        if out is not None:
            out.write_text(json.dumps(runs, indent=1) + "\n")
    fitted = fit(runs)
    for target, (coef, f0, loo) in fitted.items():
        click.echo(f"{target.name}: _LUT_FIT ({', '.join(f'{c:.3f}' for c in coef)}),"
                   f" _FF_FIT {f0:.1f}; leave-one-out LUT error"
                   f" {100 * min(loo):+.0f} .. {100 * max(loo):+.0f} %")
    click.echo("\n| core | target | LUT est / Yosys | FF est / Yosys | BRAM est / Yosys |")
    click.echo("|---|---|---|---|---|")
    for r in runs:
        target = Target(r["target"])
        est = estimate.estimate_core(make_core(*r["case"]), target=target).resources
        cells = []
        for key in ("lut", "ff", "bram"):
            e, m = getattr(est, key), r[key]
            err = f" ({100 * (e - m) / m:+.0f} %)" if m and key != "bram" else ""
            cells.append(f"{e} / {m}{err}")
        click.echo(f"| {_label(r['case'])} | {target.value} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
