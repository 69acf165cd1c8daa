"""Software speed side by side: our training layer and golden model against SNN peers.

Run it in its own environment (``benchmarks/speed_env.sh`` installs CPU torch, snnTorch,
SpikingJelly and Norse; none of them is a project dependency)::

    benchmarks/speed_env.sh /tmp/speed-venv
    /tmp/speed-venv/bin/python benchmarks/bench_speed.py [--repeats 5] [--json out.json]

Three measurements, each with its variants interleaved in every repeat and at one and at
two threads (``torch.set_num_threads`` and the NumPy BLAS pool, ``threadpoolctl``); each
figure is the median over repeats of the median over ``--calls`` calls, with the range of the
repeat medians:

1. **Training step** (forward, backward, Adam) of a 784-100-10 LIF network, batch 64,
   T = 25, rate-coded mnist5k images: a hand-written PyTorch loop (layer 0 per step, as in
   the tutorials), the same loop with layer 0 hoisted out of time, snnTorch, SpikingJelly
   (multi-step), Norse, our BPTT QAT layer (``model.network.SpikingMLP``) and our rate-BP
   mode (``model.ratebp``). Ratio: to the fastest peer (hand-written loops included).
2. **Inference** of a 784-128-10 network, T = 16, batch 1000: our integer golden model
   (``sim.network.run_network``) from the ``uint8`` images, its LFSR rate encoding
   included; each peer and our float layer in ``no_grad`` on the same spikes ready made
   (encoding excluded, in the peers' favour), plus snnTorch with ``torch.rand`` rate coding
   included. Ratio: throughput relative to snnTorch, and to the fastest peer.
3. **BPTT vs rate-BP** at T = 4, 8, 16, 32 (784-100-10, batch 64): time per training step
   and activation memory, the bytes autograd saves for the backward pass (every saved
   tensor except parameters, each storage once).
4. Only with ``--only accuracy``: a dataset's dense recipe (``--dataset``, default mnist5k)
   trained with BPTT and with rate-BP (``--seed``), float / fake-quantised / hardware-exact
   test accuracy.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from spikesmith.model.network import SpikingMLP
from spikesmith.model.ratebp import rate_simulate
from spikesmith.sim.encoders import EncoderParams, Encoding, encode
from spikesmith.sim.network import NetworkParams, run_network

TRAIN_SIZES, TRAIN_BATCH, TRAIN_T = (784, 100, 10), 64, 25
INFER_SIZES, INFER_BATCH, INFER_T = (784, 128, 10), 1000, 16
BETA = 1.0 - 2.0 ** -4  # our leak shift 4
TEMPERATURE = 3.0
THREADS = (1, 2)
PEERS_TRAIN = ("hand-written loop", "hand-written, layer 0 hoisted", "snntorch",
               "spikingjelly (multi-step)", "norse")
PEERS_INFER = ("hand-written loop", "snntorch", "spikingjelly (multi-step)", "norse")


def _load_images() -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Return mnist5k train images, their labels and test images (uint8, 784 features)."""
    from spikesmith.datasets import load_dataset

    ds = load_dataset("mnist5k")
    return ds.x_train, ds.y_train, ds.x_test, "mnist5k"


class _FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid derivative (slope 5) backward: the peers' surrogate."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2.5 / (1.0 + 5.0 * x.abs()) ** 2


class HandLIF(nn.Module):
    """The hand-written PyTorch LIF network: ``v = beta v + W s``, spike, subtract reset."""

    def __init__(self, sizes: tuple[int, ...], *, hoist_first: bool) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.hoist_first = hoist_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.fcs[0](x) if self.hoist_first else None
        v = [None] * len(self.fcs)
        counts = 0
        for t in range(x.shape[0]):
            s = x[t]
            for k, fc in enumerate(self.fcs):
                cur = first[t] if k == 0 and first is not None else fc(s)
                v[k] = cur if v[k] is None else BETA * v[k] + cur
                s = _FastSigmoidSpike.apply(v[k] - 1.0)
                v[k] = v[k] - s.detach()
            counts = counts + s
        return counts


def _snntorch_net(sizes: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    import snntorch as snn
    from snntorch import surrogate

    fcs = [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    lifs = [snn.Leaky(beta=BETA, spike_grad=surrogate.fast_sigmoid(slope=5)) for _ in fcs]
    module = nn.ModuleList([*fcs, *lifs])

    def run(x: torch.Tensor) -> torch.Tensor:
        mems = [lif.init_leaky() for lif in lifs]
        counts = 0
        for t in range(x.shape[0]):
            s = x[t]
            for k, (fc, lif) in enumerate(zip(fcs, lifs, strict=True)):
                s, mems[k] = lif(fc(s), mems[k])
            counts = counts + s
        return counts

    run.module = module
    return run


def _spikingjelly_net(sizes: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        mods += [layer.Linear(a, b), neuron.LIFNode(tau=16.0, decay_input=False,
                                                   detach_reset=True,
                                                   surrogate_function=surrogate.Sigmoid())]
    net = nn.Sequential(*mods)
    functional.set_step_mode(net, "m")

    def run(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(net)
        return net(x).sum(dim=0)

    run.module = net
    return run


def _norse_net(sizes: tuple[int, ...]) -> Callable[[torch.Tensor], torch.Tensor]:
    import norse.torch as norse

    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        mods += [nn.Linear(a, b), norse.LIF()]
    net = norse.SequentialState(*mods)

    def run(x: torch.Tensor) -> torch.Tensor:
        out, _ = net(x)
        return out.sum(dim=0)

    run.module = net
    return run


def _hand_net(sizes: tuple[int, ...], *, hoist_first: bool
              ) -> Callable[[torch.Tensor], torch.Tensor]:
    net = HandLIF(sizes, hoist_first=hoist_first)

    def run(x: torch.Tensor) -> torch.Tensor:
        return net(x)

    run.module = net
    return run


def _ours(sizes: tuple[int, ...], timesteps: int, *, rate: bool
          ) -> Callable[[torch.Tensor], torch.Tensor]:
    net = SpikingMLP(list(sizes), timesteps=timesteps, weight_bits=8)

    def run(x: torch.Tensor) -> torch.Tensor:
        return (rate_simulate(net, x) if rate else net.simulate(x)).counts

    run.module = net
    return run


def _peer_nets(sizes: tuple[int, ...]) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    return {
        "hand-written loop": _hand_net(sizes, hoist_first=False),
        "hand-written, layer 0 hoisted": _hand_net(sizes, hoist_first=True),
        "snntorch": _snntorch_net(sizes),
        "spikingjelly (multi-step)": _spikingjelly_net(sizes),
        "norse": _norse_net(sizes),
    }


def _train_step(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                y: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.Adam(run.module.parameters(), lr=1e-3)
    ce = nn.CrossEntropyLoss()
    T = x.shape[0]

    def step() -> None:
        loss = ce(run(x) * (TEMPERATURE / T), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _median_time(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _interleaved(fns: dict[str, Callable[[], object]], *, repeats: int, calls: int,
                 threads: tuple[int, ...]) -> dict[int, dict[str, list[float]]]:
    """Return ``{threads: {name: [median seconds per repeat]}}``, all variants interleaved."""
    out = {n: {k: [] for k in fns} for n in threads}
    for n in threads:  # warm-up
        torch.set_num_threads(n)
        with threadpool_limits(n):
            for fn in fns.values():
                fn()
    for _ in range(repeats):
        for n in threads:
            torch.set_num_threads(n)
            with threadpool_limits(n):
                for name, fn in fns.items():
                    out[n][name].append(_median_time(fn, calls))
    return out


def _summary(times: list[float]) -> dict[str, float]:
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def _report(title: str, res: dict[int, dict[str, list[float]]], peers: tuple[str, ...], *,
            unit: str, per: int | None = None, reference: str | None = None) -> dict:
    print(f"\n{title}")
    table = {}
    for n, by_name in res.items():
        stats = {k: _summary(v) for k, v in by_name.items()}
        fastest = min(peers, key=lambda k: stats[k]["median"])
        print(f"  {n} thread(s); fastest peer: {fastest}")
        for name, s in stats.items():
            ratio = s["median"] / stats[fastest]["median"]
            if per is None:
                figure = (f"{s['median'] * 1e3:8.2f} ms  [{s['min'] * 1e3:.2f}-"
                          f"{s['max'] * 1e3:.2f}]  {ratio:5.2f}x the fastest peer's time")
            else:
                rate = per / s["median"]
                figure = (f"{rate:9.0f} {unit}  [{per / s['max']:.0f}-{per / s['min']:.0f}]  "
                          f"{1 / ratio:5.2f}x the fastest peer's throughput")
                if reference is not None:
                    figure += f", {stats[reference]['median'] / s['median']:5.2f}x {reference}"
            print(f"    {name:32s} {figure}")
            s["ratio_to_fastest_peer"] = ratio
        table[str(n)] = {"fastest_peer": fastest, "results": stats}
    return table


def _activation_bytes(step_forward: Callable[[], torch.Tensor], params: set[int]) -> int:
    """Bytes autograd saves during ``step_forward()`` (parameters excluded, storages once)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = step_forward()
    del out
    return sum(seen.values())


def bench_training(x_train: np.ndarray, y_train: np.ndarray, args) -> dict:
    torch.manual_seed(0)
    images = x_train[:TRAIN_BATCH]
    x = torch.from_numpy(encode(images, EncoderParams(Encoding.RATE), timesteps=TRAIN_T)
                         ).to(torch.float32)
    y = torch.from_numpy(y_train[:TRAIN_BATCH].astype(np.int64))
    nets = {**_peer_nets(TRAIN_SIZES),
            "ours: BPTT QAT (SpikingMLP)": _ours(TRAIN_SIZES, TRAIN_T, rate=False),
            "ours: rate-BP": _ours(TRAIN_SIZES, TRAIN_T, rate=True)}
    fns = {k: _train_step(run, x, y) for k, run in nets.items()}
    res = _interleaved(fns, repeats=args.repeats, calls=args.calls, threads=THREADS)
    return _report(f"(a) training step, {'-'.join(map(str, TRAIN_SIZES))}, batch "
                   f"{TRAIN_BATCH}, T={TRAIN_T}", res, PEERS_TRAIN, unit="ms")


def bench_inference(x_test: np.ndarray, args) -> dict:
    torch.manual_seed(0)
    images = x_test[:INFER_BATCH]
    n = len(images)
    peers = {k: v for k, v in _peer_nets(INFER_SIZES).items() if k in PEERS_INFER}
    ours = SpikingMLP(list(INFER_SIZES), timesteps=INFER_T, weight_bits=8)
    ours.eval()
    params = NetworkParams(ours.integer_layers(), ours.encoder, INFER_T)
    # The peers get the LFSR-coded spikes ready made (encoding excluded: in their favour); one
    # extra row shows snnTorch with its usual torch.rand rate coding included.
    x = torch.from_numpy(encode(images, ours.encoder, timesteps=INFER_T)).to(torch.float32)
    pixels = torch.from_numpy(images).to(torch.float32) / 255.0

    def peer(run, *, coding: bool = False):
        def infer():
            with torch.no_grad():
                inp = (torch.rand(INFER_T, *pixels.shape) < pixels).to(torch.float32) if (
                    coding) else x
                return run(inp)
        return infer

    def ours_float():
        with torch.no_grad():
            return ours.simulate(x).counts

    fns = {k: peer(run) for k, run in peers.items()}
    fns["snntorch + torch.rand coding"] = peer(peers["snntorch"], coding=True)
    fns["ours: float layer (SpikingMLP)"] = ours_float
    fns["ours: integer golden model"] = lambda: run_network(params, images,
                                                            record_membranes=False)
    res = _interleaved(fns, repeats=args.repeats, calls=max(1, args.calls // 4),
                       threads=THREADS)
    return _report(f"(b) inference, {'-'.join(map(str, INFER_SIZES))}, T={INFER_T}, "
                   f"batch {n}; golden model with its encoding, peers on ready spikes", res,
                   PEERS_INFER, unit="samples/s", per=n, reference="snntorch")


def bench_ratebp(x_train: np.ndarray, y_train: np.ndarray, args) -> dict:
    print("\n(c) BPTT vs rate-BP, 784-100-10, batch 64: time per training step, activation "
          "memory (bytes saved for backward)")
    out = {}
    y = torch.from_numpy(y_train[:TRAIN_BATCH].astype(np.int64))
    for T in (4, 8, 16, 32):
        torch.manual_seed(0)
        x = torch.from_numpy(encode(x_train[:TRAIN_BATCH], EncoderParams(Encoding.RATE),
                                    timesteps=T)).to(torch.float32)
        nets = {"BPTT": _ours(TRAIN_SIZES, T, rate=False), "rate-BP": _ours(TRAIN_SIZES, T,
                                                                              rate=True)}
        fns = {k: _train_step(run, x, y) for k, run in nets.items()}
        res = _interleaved(fns, repeats=args.repeats, calls=args.calls, threads=THREADS)
        row = {}
        for name, run in nets.items():
            ptrs = {p.data_ptr() for p in run.module.parameters()}
            row[name] = {"activation_bytes": _activation_bytes(lambda r=run, x=x: r(x).sum(), ptrs),
                         **{f"{n}_threads": _summary(res[n][name]) for n in THREADS}}
        b, r = row["BPTT"], row["rate-BP"]
        for n in THREADS:
            tb, tr = b[f"{n}_threads"]["median"], r[f"{n}_threads"]["median"]
            print(f"  T={T:2d}, {n} thread(s): BPTT {tb * 1e3:7.2f} ms, rate-BP {tr * 1e3:7.2f} "
                  f"ms (rate-BP {tb / tr:.2f}x faster)")
        print(f"  T={T:2d}: activation memory BPTT {b['activation_bytes'] / 2**20:.2f} MiB, "
              f"rate-BP {r['activation_bytes'] / 2**20:.2f} MiB "
              f"({b['activation_bytes'] / r['activation_bytes']:.1f}x less)")
        out[str(T)] = row
    return out


def bench_accuracy(args) -> dict:
    """Train a dataset's dense recipe with BPTT and with rate-BP; test accuracies."""
    from spikesmith.datasets import load_dataset
    from spikesmith.model.methods import Method
    from spikesmith.model.ratebp import TrainMethod
    from spikesmith.model.train import evaluate, hardware_accuracy
    from spikesmith.recipes import recipe_for, train_recipe

    ds = load_dataset(args.dataset)
    recipe = dataclasses.replace(recipe_for(args.dataset), seed=args.seed)
    print(f"\n(d) {args.dataset} dense recipe, seed {args.seed}: BPTT vs rate-BP, test "
          "accuracy")
    out = {}
    for method in TrainMethod:
        net, result = train_recipe(dataclasses.replace(recipe, method=Method(method.value)), ds,
                                   progress=False)
        row = {"train_seconds": result.seconds,
               "float": evaluate(net, ds.x_test, ds.y_test, quantized=False),
               "fake_quant": evaluate(net, ds.x_test, ds.y_test),
               "hardware": hardware_accuracy(net, ds.x_test, ds.y_test)}
        print(f"  {method.value:7s} train {row['train_seconds']:6.1f} s, float "
              f"{row['float']:.4f}, fake-quant {row['fake_quant']:.4f}, hardware "
              f"{row['hardware']:.4f}")
        out[method.value] = row
    return out


def _machine() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "numpy", "snntorch", "spikingjelly", "norse"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average": os.getloadavg(),
            "python": platform.python_version(), "versions": versions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=12, help="training steps per repeat")
    parser.add_argument("--only", choices=("train", "infer", "ratebp", "accuracy"),
                        action="append", help="parts to run (default: all but accuracy)")
    parser.add_argument("--seed", type=int, default=0, help="recipe seed of --only accuracy")
    parser.add_argument("--dataset", default="mnist5k", help="dataset of --only accuracy")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    x_train, y_train, x_test, data = _load_images()
    machine = _machine()
    print(f"machine: {machine}\ndata: {data}; repeats {args.repeats}, interleaved, threads "
          f"{THREADS}")
    parts = args.only or ["train", "infer", "ratebp"]
    results: dict[str, object] = {"machine": machine}
    if "train" in parts:
        results["train"] = bench_training(x_train, y_train, args)
    if "infer" in parts:
        results["infer"] = bench_inference(x_test, args)
    if "ratebp" in parts:
        results["ratebp"] = bench_ratebp(x_train, y_train, args)
    if "accuracy" in parts:
        results["accuracy"] = bench_accuracy(args)
    results["load_average_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
