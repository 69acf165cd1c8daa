"""Where a conv network's cycles go: per conv core, events, updates and exact cycles per sample.

Usage::

    .venv/bin/python benchmarks/bench_conv_cycles.py --run RUN [--images 20] [--lanes 8 16 32]

Loads the run folder's ``network.ir``, runs the golden model (``sim.network.run_network``) on
the first ``--images`` test images of the run's dataset, and for each lane count (the graph
re-partitioned by ``compiler.passes.partition``) prints, per conv core, the input events, the
updates (``hw.conv.cycles.event_updates``: cycles of ``P`` synaptic operations), the neuron-pass
words and the exact cycles per sample of that core alone with its input always valid
(``hw.conv.cycles.sample_cycles``, equal to Verilator cycle for cycle).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from spikesmith.compiler.irfile import load_ir
from spikesmith.compiler.lowering import to_network_params
from spikesmith.compiler.passes.partition import partition
from spikesmith.datasets import load_dataset
from spikesmith.hardware import to_hardware_config
from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.cycles import event_updates, sample_cycles
from spikesmith.sim.conv import PoolLayer
from spikesmith.sim.network import run_network


def core_profile(core: ConvCoreConfig, inputs: np.ndarray, spikes: np.ndarray) -> dict:
    """Return the per-sample means of one conv core's events, updates, pass words and cycles;
    ``inputs`` and ``spikes`` are its input and neuron spikes ``(T, batch, n)``."""
    t_n, batch = inputs.shape[:2]
    events = updates = cycles = 0
    for b in range(batch):
        steps = []
        for t in range(t_n):
            ev = [tuple(int(v) for v in np.unravel_index(i, core.in_shape))
                  for i in np.flatnonzero(inputs[t, b])]
            events += len(ev)
            updates += sum(event_updates(core, ev))
            steps.append((ev, spikes[t, b]))
        cycles += sample_cycles(core, steps)[-1] + 1
    return {"core": core.name, "lanes": core.lanes, "groups": core.groups,
            "events": events / batch, "updates": updates / batch,
            "pass_words": t_n * core.state_words, "cycles": cycles / batch}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True)
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--lanes", type=int, nargs="+", default=[8])
    args = p.parse_args()
    run = Path(args.run)
    graph = load_ir(run / "network.ir")
    params = to_network_params(graph)
    dataset = json.loads((run / "config.json").read_text())["dataset"]
    x = load_dataset(dataset, seed=0).x_test[:args.images]
    trace = run_network(params, x, record_membranes=False)
    layers = [i for i, layer in enumerate(params.layers) if not isinstance(layer, PoolLayer)]
    for lanes in args.lanes:
        config = to_hardware_config(partition(graph, lanes=lanes))
        for core, idx in zip(config.cores, layers, strict=True):
            if isinstance(core, ConvCoreConfig):
                inputs = trace.inputs if idx == 0 else trace.spikes[idx - 1]
                print(json.dumps(core_profile(core, inputs, trace.spikes[idx])))


if __name__ == "__main__":
    main()
