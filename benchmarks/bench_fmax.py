"""Fmax of LIF cores and networks on iCE40 UP5K and ECP5-25F (nextpnr), beside a naive neuron.

Usage: ``python benchmarks/bench_fmax.py [--workdir DIR] [--seed N] [--quick]``. Each design
runs inside ``hw.common.harness.FmaxHarness`` so that every path is register to register
(``hw.common.fpga.measure_fmax``); a design that does not fit a part is reported with the reason
instead of an Fmax. ``--quick`` leaves out the two largest designs (784x128 core, digits
network). Goals: ECP5-25 >= 125 MHz, iCE40 UP5K >= 40 MHz.
"""

import tempfile
from pathlib import Path

import click
import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikesmith.hw.common.fpga import measure_fmax
from spikesmith.hw.common.synth import Target
from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.hw.lif.lif_core import LIFCore
from spikesmith.hw.lif.network import Network
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.network import DenseLayer

GOAL_MHZ = {Target.ICE40: 40.0, Target.ECP5: 125.0}

# (n_in, n_out, weight_bits, acc_bits, membrane_bits, lanes)
CASES = [
    (64, 32, 4, 12, 16, 1),
    (64, 32, 4, 12, 16, 4),
    (64, 32, 8, 16, 16, 4),
    (128, 64, 4, 12, 16, 8),
    (64, 128, 8, 13, 16, 8),  # first layer of the digits demo
]
LARGE_CASES = [(784, 128, 8, 16, 16, 8)]  # first layer of the mnist demo


class NaiveLIF(wiring.Component):
    """One 16-bit LIF neuron in one cycle: v <- sat(v - (v >> 4) + i), fire v >= 100."""

    i: In(signed(16))
    spike: Out(1)

    def elaborate(self, platform):
        m = Module()
        v = Signal(signed(16))
        u = Signal(signed(18))
        m.d.comb += u.eq(v - (v >> 4) + self.i)
        sat = Mux(u > 32767, 32767, Mux(u < -32768, -32768, u))
        fired = sat >= 100
        m.d.sync += [self.spike.eq(fired), v.eq(Mux(fired, sat - 100, sat))]
        return m


def core_config(n_in, n_out, wb, ab, mb, lanes, *, name="core", seed=0) -> LIFCoreConfig:
    """Return a spike-input core with random weights."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(n_out, n_in))
    lif = LIFParams(threshold=100, membrane=FixedFormat(mb))
    return LIFCoreConfig(
        name=name,
        layer=DenseLayer(weights=w, weight_bits=wb, lif=lif),
        acc_bits=ab,
        input_bits=1,
        lanes=lanes,
    )


def digits_network(lanes: int = 8) -> NetworkConfig:
    """Return a network shaped like the digits demo: 64-128-10, 8-bit weights, 16-bit
    membranes, 13/14-bit accumulators, spike input."""
    return NetworkConfig(
        cores=(
            core_config(64, 128, 8, 13, 16, lanes, name="fc0", seed=0),
            core_config(128, 10, 8, 14, 16, lanes, name="fc1", seed=1),
        ),
        timesteps=8,
    )


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--quick", is_flag=True, help="leave out the 784x128 core and the network")
def main(workdir: Path | None, seed: int, quick: bool) -> None:
    """Print Fmax per design and target, with the critical path."""
    root = Path(workdir or tempfile.mkdtemp(prefix="bench_fmax_"))
    designs = [("naive LIF neuron", NaiveLIF)]
    for c in CASES + ([] if quick else LARGE_CASES):
        name = f"LIFCore {c[0]}x{c[1]} w{c[2]} acc{c[3]} v{c[4]} P={c[5]}"
        designs.append((name, lambda c=c: LIFCore(core_config(*c))))
    if not quick:
        designs.append(("Network digits 64-128-10 w8 P=8", lambda: Network(digits_network())))
    click.echo(f"{'design':44s} {'target':6s} {'Fmax MHz':>9s} {'goal':>5s}  critical path")
    for i, (name, make) in enumerate(designs):
        for target in (Target.ICE40, Target.ECP5):
            res = measure_fmax(make(), target=target, workdir=root / f"d{i}",
                               freq=GOAL_MHZ[target], seed=seed)
            if res.fmax_mhz is None:
                click.echo(f"{name:44s} {target.value:6s} {'-':>9s} {'-':>5s}  {res.reason}")
                continue
            ok = "ok" if res.fmax_mhz >= GOAL_MHZ[target] else "MISS"
            path = " -> ".join(res.critical_path)
            click.echo(f"{name:44s} {target.value:6s} {res.fmax_mhz:9.2f} {ok:>5s}  {path}")


if __name__ == "__main__":
    main()
