"""Time one training epoch of the integer NCG learning core on mnist5k (evaluation excluded).

Usage: ``.venv/bin/python benchmarks/bench_ncg_epoch.py [--bins 256] [--neurons 5]``

The epoch is the 4000 training images of the stratified 80/20 split (seed 0), S2-STDP with
NCG (M neurons per class, CR-2), weights unsigned 13 bits with 12 fractional bits and stochastic
rounding. Prints the wall time of the epoch and the test accuracy after it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from spikesmith.datasets import split_80_20
from spikesmith.learn import default_config
from spikesmith.sim import ncg, ncg_learning


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bins", type=int, default=256)
    ap.add_argument("--neurons", type=int, default=5)
    args = ap.parse_args()
    x_tr, y_tr, x_te, y_te = split_80_20("mnist5k")
    params = ncg.NCGParams(default_config(dataset="mnist5k", neurons_per_class=args.neurons),
                           time_bins=args.bins)
    b_tr = ncg.latency_bins(x_tr, time_bins=args.bins)
    state = ncg.init_state(params, seed=0)
    ncg_learning.train_step(state, b_tr[0], int(y_tr[0]), params=params)  # warm the LFSR tables
    t0 = time.perf_counter()
    state, acc = ncg_learning.train_epoch(state, b_tr, y_tr, params=params)
    secs = time.perf_counter() - t0
    test = float(np.mean(ncg.infer(state, ncg.latency_bins(x_te, time_bins=args.bins),
                                   params=params) == y_te))
    print(f"integer NCG epoch: {len(y_tr)} samples, K={args.bins}, M={args.neurons}: "
          f"{secs:.2f} s ({1e3 * secs / len(y_tr):.2f} ms/sample); "
          f"online train acc {acc:.4f}, test acc {test:.4f}")


if __name__ == "__main__":
    main()
