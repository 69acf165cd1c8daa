"""Calibrate and validate the analytic LUT/FF/BRAM/DSP model of the conv core against Yosys.

Usage::

    python benchmarks/calibrate_conv_estimate.py --workdir DIR [--jobs N] --out runs.json
    python benchmarks/calibrate_conv_estimate.py --load runs.json   # refit, no tools

Synthesises ``hw.conv.conv_core.ConvCore`` for every configuration of :data:`CASES` (kernel,
stride, padding, channels, image size, lanes, pooling, input bits, weight and membrane
widths) for iCE40, ECP5 and xc7 (``hw.common.synth.synthesize``, Yosys 0.70), fits the
per-target constants of ``hw.conv.resources`` (:func:`fit_constants`: the largest relative
error of the LUTs and flip-flops beyond the memories and the counted registers made small),
prints them, then the table of analytic against Yosys counts with those constants, the error
ranges and the leave-one-out LUT error range per target.
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
from spikesmith.hw.conv import resources
from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.conv_core import ConvCore
from spikesmith.sim.conv import ConvLayer, PoolLayer, conv_accumulator_bound
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode

TARGETS = (Target.ICE40, Target.ECP5, Target.XC7)

#: (c_in, c_out, size, kernel, stride, padding, lanes, pool, input_bits, weight_bits,
#:  membrane_bits, IF/reset-to-zero)
CASES = [
    (1, 4, 8, 3, 1, 1, 1, 0, 1, 4, 10, False),
    (1, 4, 8, 3, 1, 1, 2, 0, 1, 4, 10, False),
    (2, 8, 8, 3, 1, 0, 4, 2, 1, 4, 12, False),
    (2, 8, 12, 5, 1, 2, 4, 0, 1, 6, 12, False),
    (4, 8, 8, 1, 1, 0, 4, 0, 1, 4, 12, True),
    (4, 16, 8, 3, 2, 1, 8, 0, 1, 8, 16, False),
    (1, 8, 16, 3, 1, 1, 8, 2, 8, 8, 16, False),
    (1, 16, 28, 5, 1, 0, 8, 2, 8, 8, 24, False),
    (16, 32, 12, 5, 1, 0, 8, 2, 1, 8, 24, False),
    (8, 16, 12, 3, 1, 1, 4, 2, 1, 6, 16, False),
    (3, 6, 10, 3, 2, 0, 2, 0, 1, 4, 10, True),
    (2, 4, 16, 5, 2, 2, 4, 0, 1, 4, 12, False),
    (8, 8, 8, 3, 1, 1, 8, 2, 1, 8, 16, True),
    (1, 8, 12, 3, 1, 0, 2, 0, 8, 6, 16, False),
    (4, 32, 6, 3, 1, 1, 16, 0, 1, 4, 12, False),
    (16, 16, 6, 3, 1, 0, 8, 2, 1, 8, 16, False),
    (2, 12, 10, 3, 1, 1, 4, 0, 1, 8, 20, False),
    (1, 4, 20, 7, 1, 3, 2, 0, 8, 4, 16, False),
    (6, 8, 8, 3, 2, 1, 2, 0, 1, 4, 12, False),
    (8, 32, 8, 3, 1, 1, 8, 2, 1, 4, 16, False),
    (2, 6, 14, 3, 1, 1, 1, 2, 1, 6, 12, True),
    (32, 16, 4, 3, 1, 1, 8, 0, 1, 8, 16, False),
]


def make_config(case) -> ConvCoreConfig:
    """Return the conv core of one :data:`CASES` entry, with random weights and bias."""
    c_in, c_out, size, k, s, pad, lanes, pool, ib, wb, mb, plain_if = case
    rng = np.random.default_rng(hash(case) % (1 << 32))
    top = (1 << (wb - 1)) - 1
    w = rng.integers(-top - 1, top + 1, size=(c_out, c_in, k, k))
    lif = LIFParams(threshold=max(4, 1 << (mb - 4)),
                    model=NeuronModel.IF if plain_if else NeuronModel.LIF,
                    leak_shift=3, reset=ResetMode.ZERO if plain_if else ResetMode.SUBTRACT,
                    membrane=FixedFormat(mb))
    layer = ConvLayer(weights=w, bias=rng.integers(-4, 5, size=c_out), weight_bits=wb,
                      stride=s, padding=pad, in_shape=(c_in, size, size), lif=lif)
    pl = PoolLayer(kernel=pool, in_shape=layer.out_shape) if pool else None
    acc = conv_accumulator_bound(layer, input_max=255 if ib > 1 else 1).bit_length() + 1
    return ConvCoreConfig(name="conv", layer=layer, pool=pl, acc_bits=max(2, acc),
                          input_bits=ib, lanes=lanes)


def label(case) -> str:
    """Return a short name of one :data:`CASES` entry."""
    c_in, c_out, size, k, s, pad, lanes, pool, ib, wb, mb, plain_if = case
    extra = (f" pool{pool}" if pool else "") + (" in8" if ib > 1 else "") + (
        " IF/zero" if plain_if else "")
    return f"{c_in}x{size}x{size}->{c_out} k{k}s{s}p{pad} w{wb} v{mb} P{lanes}{extra}"


def _run(case, target: Target, root: Path) -> dict:
    syn = synthesize(ConvCore(make_config(case)), target=target, top="core",
                     workdir=root / f"{abs(hash(case)) % 10**8}_{target.value}")
    return {"case": list(case), "target": target.value, **syn.resources.to_dict(),
            "cells": dict(syn.cells), "seconds": round(syn.seconds, 1)}


def _minimax(a: np.ndarray, b: np.ndarray, *, rounds: int = 200) -> np.ndarray:
    """Non-negative coefficients that keep the largest residual of ``a @ x ~ b`` small:
    Lawson's iteration (reweighted least squares, each row's weight grown by its residual)."""
    w = np.ones(len(b))
    best, best_err = scipy_nnls(a, b)[0], np.inf
    for _ in range(rounds):
        sw = np.sqrt(w)
        x = scipy_nnls(a * sw[:, None], b * sw)[0]
        r = np.abs(a @ x - b)
        if r.max() < best_err:
            best, best_err = x, r.max()
        w = w * (r + 1e-12)
        w = w / w.sum()
    return best


def fit_constants(runs: list[dict]) -> dict[Target, tuple[np.ndarray, np.ndarray, list[float]]]:
    """Return ``{target: (LUT coefficients, FF coefficients, leave-one-out LUT errors)}``.

    LUTs beyond the memories: non-negative coefficients of ``resources._lut_terms`` minimising
    the largest relative error (:func:`_minimax`); flip-flops beyond the memories and
    ``resources._registers``: coefficients of ``resources._ff_terms`` minimising the largest
    relative error (signed).
    """
    out = {}
    for target in TARGETS:
        rows = [(make_config(tuple(r["case"])), r) for r in runs if r["target"] == target.value]
        if not rows:
            continue
        mems = [[resources.map_conv_memory(m, target=target)
                 for m in resources.conv_core_memories(cfg)] for cfg, _ in rows]
        scale_l = 1.0 / np.array([max(1, r["lut"]) for _, r in rows], float)
        scale_f = 1.0 / np.array([max(1, r["ff"]) for _, r in rows], float)
        a = np.array([resources._lut_terms(cfg, target) for cfg, _ in rows]) * scale_l[:, None]
        lut = np.array([r["lut"] - sum(m.lut for m in ms)
                        for (_, r), ms in zip(rows, mems, strict=True)]) * scale_l
        f = np.array([resources._ff_terms(cfg) for cfg, _ in rows]) * scale_f[:, None]
        ff = np.array([r["ff"] - sum(m.ff for m in ms) - resources._registers(cfg)
                       for (cfg, r), ms in zip(rows, mems, strict=True)]) * scale_f
        coef = _minimax(a, lut)
        # signed: fit [f, -f] with non-negative coefficients
        ff_coef = _minimax(np.hstack([f, -f]), ff)
        ff_coef = ff_coef[:f.shape[1]] - ff_coef[f.shape[1]:]
        loo = []
        for k in range(len(rows)):
            keep = np.arange(len(rows)) != k
            c = _minimax(a[keep], lut[keep], rounds=50)
            loo.append(float(a[k] @ c - lut[k]))
        out[target] = (coef, ff_coef, loo)
    return out


def table(runs: list[dict]) -> list[str]:
    """Return the Markdown table of analytic against Yosys counts, one row per run."""
    lines = [("| core | target | LUT est / Yosys | FF est / Yosys | BRAM est / Yosys"
              " | DSP est / Yosys |"), "|---|---|---|---|---|---|"]
    for r in runs:
        target = Target(r["target"])
        est = resources.estimate_conv_core(make_config(tuple(r["case"])), target=target)
        cells = []
        for key in ("lut", "ff", "bram", "dsp"):
            e, m = getattr(est.resources, key), r[key]
            err = f" ({100 * (e - m) / m:+.0f} %)" if m and key in ("lut", "ff") else ""
            cells.append(f"{e} / {m}{err}")
        lines.append(f"| {label(tuple(r['case']))} | {target.value} | " + " | ".join(cells)
                     + " |")
    return lines


def errors(runs: list[dict]) -> dict[str, tuple[float, float]]:
    """Return ``{"<target> <resource>": (min, max)}`` relative errors (LUT, FF), and the count
    of BRAM/DSP mismatches under ``"<target> bram/dsp"``."""
    out: dict[str, list[float]] = {}
    for r in runs:
        est = resources.estimate_conv_core(make_config(tuple(r["case"])),
                                           target=Target(r["target"])).resources
        for key in ("lut", "ff"):
            out.setdefault(f"{r['target']} {key}", []).append((getattr(est, key) - r[key])
                                                              / max(1, r[key]))
        out.setdefault(f"{r['target']} bram/dsp", []).append(
            float(est.bram != r["bram"] or est.dsp != r["dsp"]))
    return {k: (min(v), max(v)) if "/" not in k else (sum(v), len(v)) for k, v in out.items()}


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None)
@click.option("--jobs", type=int, default=2, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="save runs as JSON")
@click.option("--load", type=click.Path(path_type=Path, exists=True), default=None,
              help="use saved runs instead of running Yosys")
@click.option("--fit/--no-fit", default=True, help="refit the constants (else only compare)")
def main(workdir: Path | None, jobs: int, out: Path | None, load: Path | None,
         fit: bool) -> None:
    """Run Yosys on the conv calibration set, fit the constants, print the errors."""
    if load is not None:
        runs = json.loads(load.read_text())
    else:
        root = Path(workdir or tempfile.mkdtemp(prefix="calibrate_conv_"))
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futs = [pool.submit(_run, c, t, root) for c in CASES for t in TARGETS]
            runs = []
            for f in futs:
                runs.append(f.result())
                if out is not None:
                    out.write_text(json.dumps(runs, indent=1) + "\n")
    if fit:
        for target, (coef, f0, loo) in fit_constants(runs).items():
            click.echo(f"{target.name}: _LUT_FIT ({', '.join(f'{c:.3f}' for c in coef)}),"
                       f" _FF_FIT ({', '.join(f'{c:.3f}' for c in f0)}); leave-one-out LUT error"
                       f" {100 * min(loo):+.0f} .. {100 * max(loo):+.0f} %")
            # the table and errors below use the constants just fitted
            resources._LUT_FIT[target] = tuple(float(c) for c in coef)
            resources._FF_FIT[target] = tuple(float(c) for c in f0)
    click.echo("\n".join(table(runs)))
    for key, (lo, hi) in errors(runs).items():
        if "/" in key:
            click.echo(f"{key}: {int(lo)} of {int(hi)} runs differ")
        else:
            click.echo(f"{key}: {100 * lo:+.1f} .. {100 * hi:+.1f} %")


if __name__ == "__main__":
    main()
