"""Speed of the integer golden model against float PyTorch inference of the same network.

Runs side by side in one process, on the same 784-128-10 rate-coded network (T = 16,
1000 mnist5k test images, batch 1000):

* ``sim.network.run_network`` (integer results; exact float-BLAS accumulation where the
  compiler's bound proves it, see ``sim.ops.exact_matmul``),
* the same with the int64 accumulation path forced (what a naive integer model costs),
* the float forward of ``model.SpikingMLP`` in ``torch.no_grad`` (the training layer's own
  inference; snnTorch-class float speed).

Prints samples per second and ratios. Usage:
``python benchmarks/bench_golden_model.py [threads]`` (default 1): the thread count of torch
and of NumPy's BLAS pool (``threadpoolctl``), the same for both sides. The side-by-side
comparison with snnTorch, SpikingJelly and Norse is ``benchmarks/bench_speed.py``.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time

import torch
from threadpoolctl import threadpool_limits

from spikesmith.datasets import load_dataset
from spikesmith.model.network import SpikingMLP
from spikesmith.sim import ops
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.network import NetworkParams, run_network


def _time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    with threadpool_limits(threads):
        _main(threads)


def _main(threads: int) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    ds = load_dataset("mnist5k")
    x = ds.x_test
    net = SpikingMLP([784, 128, 10], weight_bits=8, timesteps=16,
                     encoder=EncoderParams(Encoding.RATE))
    net.eval()
    params = NetworkParams(net.integer_layers(), net.encoder, net.timesteps)
    n = len(x)

    t_sim = _time(lambda: run_network(params, x, record_membranes=False))
    original = ops.exact_matmul

    def int64_only(a, w, *, bound):
        return original(a, w, bound=1 << 62)

    ops.exact_matmul = int64_only
    import spikesmith.sim.network as network_module

    network_module.exact_matmul = int64_only
    try:
        t_int = _time(lambda: run_network(params, x, record_membranes=False), repeats=2)
    finally:
        ops.exact_matmul = original
        network_module.exact_matmul = original
    inputs = net.encode(x)

    def torch_forward():
        with torch.no_grad():
            net(inputs)

    t_torch = _time(torch_forward)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"network 784-128-10, T=16, rate coding, {n} samples")
    for name, t in (("golden model (exact BLAS path)", t_sim), ("golden model (int64 path)", t_int),
                    ("torch float forward", t_torch)):
        print(f"{name:34s} {n / t:10.0f} samples/s")
    print(f"golden model / torch float: {t_torch / t_sim:.2f}x the speed")
    print(f"exact BLAS path / int64 path: {t_int / t_sim:.1f}x faster")


if __name__ == "__main__":
    main()
