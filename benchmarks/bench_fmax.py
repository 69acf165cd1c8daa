"""Fmax of the LIF core on iCE40 UP5K and ECP5-25F (nextpnr), beside a naive LIF neuron.

Usage: ``python benchmarks/bench_fmax.py [--workdir DIR] [--seed N]``. Each design runs inside
``hw.harness.FmaxHarness`` so that every path is register to register. Goals: ECP5-25
>= 125 MHz, iCE40 UP5K >= 40 MHz.
"""

import tempfile
from pathlib import Path

import click
import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikeforge.compiler.cores import LIFCoreConfig
from spikeforge.hw.harness import FmaxHarness
from spikeforge.hw.lif_core import LIFCore
from spikeforge.hw.synth import Target, ToolError, place_and_route, synthesize
from spikeforge.sim.fixed import FixedFormat
from spikeforge.sim.lif import LIFParams

GOAL_MHZ = {Target.ICE40: 40.0, Target.ECP5: 125.0}

# (n_in, n_out, weight_bits, acc_bits, membrane_bits, lanes)
CASES = [
    (64, 32, 4, 12, 16, 1),
    (64, 32, 4, 12, 16, 4),
    (64, 32, 8, 16, 16, 4),
    (128, 64, 4, 12, 16, 8),
]


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


def _core(n_in, n_out, wb, ab, mb, lanes):
    rng = np.random.default_rng(0)
    w = rng.integers(-(1 << (wb - 1)), 1 << (wb - 1), size=(n_out, n_in))
    return LIFCore(
        LIFCoreConfig(
            name="core",
            weights=w,
            weight_bits=wb,
            acc_bits=ab,
            input_bits=1,
            lif=LIFParams(threshold=100, membrane=FixedFormat(mb)),
            lanes=lanes,
        )
    )


def _fmax(make, *, target, workdir: Path, seed: int):
    syn = synthesize(FmaxHarness(make()), target=target, top="harness", workdir=workdir)
    return place_and_route(syn.netlist, target=target, freq_mhz=GOAL_MHZ[target], seed=seed)


@click.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=None)
@click.option("--seed", type=int, default=1, show_default=True)
def main(workdir: Path | None, seed: int) -> None:
    """Print Fmax per design and target, with the critical path of the LIF cores."""
    root = Path(workdir or tempfile.mkdtemp(prefix="bench_fmax_"))
    designs = [("naive LIF neuron", NaiveLIF)]
    designs += [
        (f"LIFCore {c[0]}x{c[1]} w{c[2]} acc{c[3]} v{c[4]} P={c[5]}", lambda c=c: _core(*c))
        for c in CASES
    ]
    click.echo(f"{'design':44s} {'target':6s} {'Fmax MHz':>9s} {'goal':>5s}  critical path")
    for i, (name, make) in enumerate(designs):
        for target in (Target.ICE40, Target.ECP5):
            try:
                res = _fmax(make, target=target, workdir=root / f"d{i}", seed=seed)
            except ToolError as exc:
                click.echo(
                    f"{name:44s} {target.value:6s} {'-':>9s} {'FAIL':>5s}  "
                    f"{str(exc).splitlines()[-2]}"
                )
                continue
            ok = "ok" if res.fmax_mhz >= GOAL_MHZ[target] else "MISS"
            path = " -> ".join(res.critical_signals())
            click.echo(f"{name:44s} {target.value:6s} {res.fmax_mhz:9.2f} {ok:>5s}  {path}")


if __name__ == "__main__":
    main()
