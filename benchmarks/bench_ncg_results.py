"""Results of the NCG readout: float reference vs integer model per rule, dataset and input.

Usage::

    .venv/bin/python benchmarks/bench_ncg_results.py table --epochs 5
    .venv/bin/python benchmarks/bench_ncg_results.py table --datasets digits --epochs 10 --rtl
    .venv/bin/python benchmarks/bench_ncg_results.py sweep --epochs 3
    .venv/bin/python benchmarks/bench_ncg_results.py kfold --datasets digits --epochs 10
    .venv/bin/python benchmarks/bench_ncg_results.py seeds --datasets digits --epochs 10 --rows 2

``table`` trains S2-STDP (M = 1), S2-STDP + PCN (M = 2), S2-STDP + NCG (M = 5), SSTDP + NCG
(M = 5) and R-STDP (M = 5, dropout) with :func:`spikesmith.learn.default_config` on digits and
mnist5k, latency-coded pixels and the frozen spiking front end
(:data:`spikesmith.frontend_features.DEFAULT_FRONTENDS`), and prints a Markdown table of the
final test accuracies (float reference / integer) with the best epoch in brackets. With
``--rtl`` every row also replays its integer training on the learning core in Verilator in
lockstep with the golden model (:func:`spikesmith.learn_run.verify_learning_on_rtl`, full-state
comparison every ``--check-every`` training samples) and prints an RTL column: RTL test %
(full-state checks, mismatches). The input events (and the front end) are loaded once per
dataset and input and shared by all rows. ``sweep`` prints the integer model's final test
accuracy against ``K`` on mnist5k pixels, M = 5. ``kfold`` runs the rows (``--rows``) on
latency-coded pixels in stratified ``--folds``-fold cross-validation (shuffled, seed 0) and
prints mean ± sd of the final float and integer test accuracies and of their paired gap.
``seeds`` runs the rows on the seed-0 80/20 split for learn seeds ``0 .. --seeds - 1``
(weight initialisation and LFSR lanes) and prints the same, the gap's standard error and how
many seeds end with the integer model at most 1.0 point below the float reference.
Per-epoch numbers, and with ``--rtl`` the RTL
accuracy, verify counts, cycles per training / inference sample and seconds, go to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
from sklearn.model_selection import StratifiedKFold

from spikesmith.frontend_features import DEFAULT_FRONTENDS, load_input
from spikesmith.learn import default_config, run_learning, sweep_time_bins
from spikesmith.learn_run import verify_learning_on_rtl
from spikesmith.sim.fixed import FixedFormat, Rounding
from spikesmith.sim.ncg_types import Method, WeightNorm

#: A+ of each rule's config at rate factor 1, and its threshold at dataset threshold 1
#: (``spikesmith.learn.default_config``), to rescale a config in ``tune``.
_RATE_UNIT = {Method.S2STDP: 0.025, Method.SSTDP: 0.05, Method.RSTDP: 0.05}
_THRESHOLD_SCALE = {Method.S2STDP: 1.0, Method.SSTDP: 0.5 / 0.3, Method.RSTDP: 0.8 / 0.3}

ROWS = (
    ("S2-STDP", Method.S2STDP, 1),
    ("S2-STDP + PCN", Method.S2STDP, 2),
    ("S2-STDP + NCG", Method.S2STDP, 5),
    ("SSTDP + NCG", Method.SSTDP, 5),
    ("R-STDP", Method.RSTDP, 5),
)


def _pct(acc: tuple[float, ...]) -> str:
    return f"{100 * acc[-1]:.1f} ({100 * max(acc):.1f})"


def _write_json(path: str | None, out: dict) -> None:
    if path:
        with open(path, "w") as f:
            json.dump(out, f, indent=1)


def table(args) -> dict:
    out: dict = {}
    for ds in args.datasets:
        for inp in ("pixels", DEFAULT_FRONTENDS[ds]):
            if inp not in args.inputs and not (inp != "pixels" and "frontend" in args.inputs):
                continue
            ev = load_input(dataset=ds, input=inp, time_bins=args.time_bins, seed=0,
                            cache_dir=args.cache, progress=print)
            for name, method, m in (ROWS[i] for i in args.rows):
                t0 = time.perf_counter()
                r = run_learning(dataset=ds, method=method, neurons_per_class=m,
                                 time_bins=args.time_bins, epochs=args.epochs, input=inp,
                                 events=ev)
                key = f"{ds}|{inp}|{name}"
                row = {"float_test": r.float_test, "int_test": r.int_test,
                       "frontend_test": ev.frontend_test_accuracy,
                       "seconds": round(time.perf_counter() - t0, 1)}
                line = (f"| {ds} | {inp} | {name} (M = {m}) | {_pct(r.float_test)} | "
                        f"{_pct(r.int_test)} |")
                if args.rtl:
                    t1 = time.perf_counter()
                    v = verify_learning_on_rtl(r, build_root=args.build,
                                               check_every=args.check_every, progress=print)
                    row["rtl"] = {"rtl_test": v["rtl_test_accuracy"], "verify": v["verify"],
                                  "cycles": v["cycles"],
                                  "seconds": round(time.perf_counter() - t1, 1)}
                    ver = v["verify"]
                    line += (f" {100 * v['rtl_test_accuracy']:.1f} ({ver['samples']}, "
                             f"{ver['mismatches']}) |")
                    if ver["first_mismatch"]:
                        print(f"first mismatch: {ver['first_mismatch']}", flush=True)
                out[key] = row
                print(line, flush=True)
                _write_json(args.json, out)
    return out


def _variant(args) -> dict:
    """Integer-model options of ``kfold`` and ``seeds`` (``run_learning`` keywords)."""
    variant = {"norm": WeightNorm(args.norm), "run_float": not args.no_float}
    if args.weight_frac is not None:
        variant["weight_format"] = FixedFormat(args.weight_frac + 1, args.weight_frac,
                                               signed=False, rounding=Rounding(args.rounding))
    return variant


def _gap_line(a: np.ndarray) -> str:
    """``float mean ± sd | integer mean ± sd | gap mean ± sd`` of (runs, 2) accuracies in %."""
    gap = a[:, 1] - a[:, 0]
    return (f"{a[:, 0].mean():.1f} ± {a[:, 0].std(ddof=1):.1f} | "
            f"{a[:, 1].mean():.1f} ± {a[:, 1].std(ddof=1):.1f} | "
            f"{gap.mean():+.1f} ± {gap.std(ddof=1):.1f}")


def seeds(args) -> dict:
    """The rows on the seed-0 80/20 split, repeated for learn seeds ``0 .. --seeds - 1`` (weight
    initialisation and LFSR lanes; the split and the front end stay those of seed 0)."""
    out: dict = {}
    rows = [ROWS[i] for i in args.rows]
    variant = _variant(args)
    for ds in args.datasets:
        for kind in args.inputs:
            inp = "pixels" if kind == "pixels" else DEFAULT_FRONTENDS[ds]
            ev = load_input(dataset=ds, input=inp, time_bins=args.time_bins, seed=0,
                            cache_dir=args.cache)
            for name, method, m in rows:
                t0 = time.perf_counter()
                runs = [run_learning(dataset=ds, method=method, neurons_per_class=m,
                                     time_bins=args.time_bins, epochs=args.epochs, input=inp,
                                     events=ev, seed=seed, **variant)
                        for seed in range(args.seeds)]
                a = 100 * np.array([(r.float_test[-1] if r.float_test else np.nan,
                                     r.int_test[-1]) for r in runs])
                gap = a[:, 1] - a[:, 0]
                out[f"{ds}|{inp}|{name}"] = {
                    "float_test": [list(r.float_test) for r in runs],
                    "int_test": [list(r.int_test) for r in runs],
                    "seconds": round(time.perf_counter() - t0, 1)}
                print(f"| {ds} | {inp} | {args.seeds} | {args.epochs} | {name} (M = {m}) | "
                      f"{_gap_line(a)} | {gap.std(ddof=1) / np.sqrt(len(gap)):.1f} | "
                      f"{int(np.sum(gap >= -1.0))} / {len(gap)} |", flush=True)
                _write_json(args.json, out)
    return out


def kfold(args) -> dict:
    """Stratified k-fold cross-validation on latency-coded pixels (not on front-end features:
    the front ends were trained on the 80/20 training part, which overlaps every fold)."""
    out: dict = {}
    rows = [ROWS[i] for i in args.rows]
    variant = _variant(args)
    for ds in args.datasets:
        ev = load_input(dataset=ds, input="pixels", time_bins=args.time_bins, seed=0)
        bins = np.concatenate([ev.bins_train, ev.bins_test])
        times = np.concatenate([ev.times_train, ev.times_test])
        y = np.concatenate([ev.y_train, ev.y_test])
        folds = list(StratifiedKFold(n_splits=args.folds, shuffle=True,
                                     random_state=0).split(bins, y))
        for name, method, m in rows:
            t0 = time.perf_counter()
            acc = []
            for tr, te in folds:
                fold = replace(ev, bins_train=bins[tr], bins_test=bins[te],
                               times_train=times[tr], times_test=times[te],
                               y_train=y[tr], y_test=y[te])
                r = run_learning(dataset=ds, method=method, neurons_per_class=m,
                                 time_bins=args.time_bins, epochs=args.epochs, input="pixels",
                                 events=fold, **variant)
                acc.append((r.float_test[-1] if r.float_test else np.nan, r.int_test[-1]))
            a = 100 * np.array(acc)
            out[f"{ds}|pixels|{name}"] = {"float_test": a[:, 0].tolist(),
                                          "int_test": a[:, 1].tolist(),
                                          "seconds": round(time.perf_counter() - t0, 1)}
            print(f"| {ds} | {args.folds} | {args.epochs} | {name} (M = {m}) | "
                  f"{_gap_line(a)} |", flush=True)
            _write_json(args.json, out)
    return out


def tune(args) -> dict:
    """Choose a dataset's threshold and STDP-rate factor without the test split: stratified
    ``--folds``-fold cross-validation inside the **training part** of the seed-0 80/20 split
    (shuffled, seed 1), for every ``--thresholds`` x ``--rates`` pair; the rule is the pair with
    the best mean float-reference accuracy (the paper's algorithm), the integer model shown for
    information. Rates scale A+ and A-; η_θ follows the threshold as in ``default_config``."""
    out: dict = {}
    rows = [ROWS[i] for i in args.rows]
    for ds in args.datasets:
        for kind in args.inputs:
            inp = "pixels" if kind == "pixels" else DEFAULT_FRONTENDS[ds]
            ev = load_input(dataset=ds, input=inp, time_bins=args.time_bins, seed=0,
                            cache_dir=args.cache)
            folds = list(StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=1)
                         .split(ev.bins_train, ev.y_train))
            for name, method, m in rows:
                base = default_config(dataset=ds, method=method, neurons_per_class=m, input=inp)
                r0 = base.a_plus / _RATE_UNIT[method]
                thr0 = base.threshold / _THRESHOLD_SCALE[method]
                for thr in args.thresholds:
                    for rate in args.rates:
                        cfg = replace(base, threshold=base.threshold * thr / thr0,
                                      thr_lr=base.thr_lr * thr / thr0,
                                      a_plus=base.a_plus * rate / r0,
                                      a_minus=base.a_minus * rate / r0)
                        acc = []
                        for tr, va in folds:
                            fold = replace(ev, bins_train=ev.bins_train[tr],
                                           bins_test=ev.bins_train[va],
                                           times_train=ev.times_train[tr],
                                           times_test=ev.times_train[va],
                                           y_train=ev.y_train[tr], y_test=ev.y_train[va])
                            r = run_learning(dataset=ds, config=cfg, time_bins=args.time_bins,
                                             epochs=args.epochs, input=inp, events=fold)
                            acc.append((r.float_test[-1], r.int_test[-1]))
                        a = 100 * np.array(acc)
                        out[f"{ds}|{inp}|{name}|{thr}|{rate}"] = {
                            "float_test": a[:, 0].tolist(), "int_test": a[:, 1].tolist()}
                        print(f"| {ds} | {inp} | {name} (M = {m}) | {thr:g} | {rate:g} | "
                              f"{_gap_line(a)} |", flush=True)
                        _write_json(args.json, out)
    return out


def sweep(args) -> dict:
    res = sweep_time_bins(time_bins=tuple(args.k), dataset="mnist5k", neurons_per_class=5,
                          epochs=args.epochs)
    out = {}
    for k, r in res.items():
        out[str(k)] = {"int_test": r.int_test}
        print(f"| {k} | {_pct(r.int_test)} |", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("table", "sweep", "kfold", "seeds", "tune"))
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--time-bins", type=int, default=256)
    p.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    p.add_argument("--inputs", nargs="+", default=["pixels", "frontend"],
                   help="pixels and/or frontend")
    p.add_argument("--k", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    p.add_argument("--folds", type=int, default=5, help="kfold: number of folds")
    p.add_argument("--seeds", type=int, default=10, help="seeds: learn seeds 0 .. N-1")
    p.add_argument("--thresholds", type=float, nargs="+", default=[6.0, 8.0, 10.0],
                   help="tune: dataset thresholds (θ of S2-STDP)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.0],
                   help="tune: STDP-rate factors (A± relative to the paper's config)")
    p.add_argument("--rows", type=int, nargs="+", default=list(range(len(ROWS))),
                   help="indices into ROWS (0 M=1, 1 PCN, 2 NCG, 3 SSTDP, 4 R-STDP)")
    p.add_argument("--weight-frac", type=int, default=None,
                   help="kfold: integer weights u(F+1).F instead of the default u13.12")
    p.add_argument("--rounding", default="stochastic", help="kfold, with --weight-frac")
    p.add_argument("--norm", default="additive", help="kfold: additive or multiplicative")
    p.add_argument("--no-float", action="store_true", help="kfold: integer model only")
    p.add_argument("--cache", default="build/frontends", help="front-end checkpoint folder")
    p.add_argument("--json", default=None, help="write per-epoch results here")
    p.add_argument("--rtl", action="store_true",
                   help="table: also verify every row on the RTL core in lockstep (Verilator)")
    p.add_argument("--check-every", type=int, default=1,
                   help="with --rtl: full-state comparison every N training samples")
    p.add_argument("--build", default="build/ncg_rtl", help="with --rtl: Verilator build folder")
    args = p.parse_args()
    out = {"table": table, "sweep": sweep, "kfold": kfold, "seeds": seeds,
           "tune": tune}[args.what](args)
    _write_json(args.json, out)


if __name__ == "__main__":
    main()
