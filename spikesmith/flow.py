"""The train -> export -> verify -> estimate -> report flow over a run folder.

Each stage is a function of a :class:`~spikesmith.runfolder.RunFolder` and keyword options.
It reads what earlier stages wrote, writes its own artefacts atomically, merges its key figures
into ``summary.json`` and records its inputs, so a stage whose inputs have not changed is
skipped on a re-run (``force=True`` re-runs it). Seeds are explicit, so re-running a stage with
the same inputs gives byte-identical outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import reprlib
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .datasets import DATASETS, Dataset, load_dataset
from .runfolder import RunFolder
from .sim.files import atomic_write_text
from .sim.limits import LANES, MEMBRANE_BITS, TIMESTEPS, WEIGHT_BITS, IntRange

__all__ = [
    "ZEROED_WARN_SHARE",
    "DemoOptions",
    "FlowError",
    "check_limit",
    "check_options",
    "quantization_warnings",
    "run_demo",
    "stage_estimate",
    "stage_export",
    "stage_report",
    "stage_train",
    "stage_verify",
]

CHECKPOINT = "checkpoint.safetensors"
IR_FILE = "network.ir"
HW_DIR = "hw"
#: Folder of the run that holds the waveforms written by ``verify --trace``.
_TRACE_DIR = "verify_trace"


class FlowError(ValueError):
    """A flow option or a run folder's content is not acceptable."""


@dataclass(frozen=True)
class DemoOptions:
    """Everything the train stage needs; recorded in ``config.json``.

    ``None`` fields take the dataset's recipe default (``spikesmith.recipes``).
    """

    dataset: str = "digits"
    weight_bits: int | None = None
    membrane_bits: int | None = None
    timesteps: int | None = None
    epochs: int | None = None
    hidden: int | None = None
    seed: int = 0


def check_limit(limit: IntRange, value: object) -> int:
    """Return ``value`` if it lies in ``limit`` (a ``sim.limits`` record).

    Raises
    ------
    FlowError
        With the record's message, naming the parameter, the accepted range and the value.
    """
    try:
        return limit.check(value)
    except ValueError as exc:
        raise FlowError(str(exc)) from None


def check_options(opts: DemoOptions) -> None:
    """Validate options before anything is written.

    Raises
    ------
    FlowError
        Naming the option at fault and what is accepted.
    """
    if opts.dataset not in DATASETS:
        raise FlowError(
            f"unknown dataset {opts.dataset!r}: accepted datasets are {', '.join(DATASETS)} "
            "(both ship inside pip packages, no download needed)"
        )
    for limit, value in ((WEIGHT_BITS, opts.weight_bits), (MEMBRANE_BITS, opts.membrane_bits),
                         (TIMESTEPS, opts.timesteps)):
        if value is not None:
            check_limit(limit, value)
    if opts.epochs is not None and opts.epochs < 1:
        raise FlowError(f"epochs must be >= 1, not {opts.epochs}")
    if opts.hidden is not None and not 1 <= opts.hidden <= 4096:
        raise FlowError(f"hidden width must be in 1..4096, not {opts.hidden}")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_digest(run: RunFolder, *names: str) -> str:
    h = hashlib.sha256()
    for name in names:
        p = run.file(name)
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _up_to_date(run: RunFolder, stage: str, inputs: dict[str, Any]) -> bool:
    marker = run.file(f".{stage}.done")
    return marker.exists() and marker.read_text().strip() == _digest(inputs)


def _mark_done(run: RunFolder, stage: str, inputs: dict[str, Any]) -> None:
    atomic_write_text(run.file(f".{stage}.done"), _digest(inputs) + "\n")


def _dataset(run: RunFolder) -> Dataset:
    """Load the dataset named by the run folder's ``config.json``.

    Raises
    ------
    FlowError
        If ``config.json`` is not a JSON object naming a known dataset.
    """
    cfg = run.read_json(RunFolder.CONFIG)
    name = cfg.get("dataset") if isinstance(cfg, dict) else None
    if name not in DATASETS:
        found = (f"dataset {reprlib.repr(name)}" if isinstance(cfg, dict) and "dataset" in cfg
                 else "no 'dataset' key" if isinstance(cfg, dict)
                 else f"a JSON {type(cfg).__name__}")
        raise FlowError(f"{run.file(RunFolder.CONFIG)} must be a JSON object whose 'dataset' is "
                        f"one of {', '.join(DATASETS)}, found {found}; rerun `spikesmith train "
                        f"--run {run.path}` to rewrite it")
    return load_dataset(name, seed=0)


def _prepare(run_dir: Any) -> RunFolder:
    return run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)


def stage_train(run_dir: Any, opts: DemoOptions, *, force: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Train a quantisation-aware network and write ``checkpoint.safetensors``.

    Writes ``config.json``, ``train.json`` and ``summary.json`` keys ``dataset``,
    ``accuracy.float`` (float forward, unquantised weights and thresholds),
    ``accuracy.float_fake_quantized`` (float neurons, fake-quantised weights),
    ``accuracy.quantized`` (hardware-exact integer evaluation), ``weight_bits``,
    ``membrane_bits``, ``timesteps``.

    Raises
    ------
    FlowError
        On bad options, before anything is written.
    """
    check_options(opts)
    run = _prepare(run_dir)
    inputs = asdict(opts)
    if not force and _up_to_date(run, "train", inputs):
        return run.read_json("train.json")
    from .model.checkpoint import save_checkpoint
    from .model.train import evaluate, hardware_accuracy
    from .recipes import recipe_for, train_recipe

    overrides = {k: v for k, v in {
        "weight_bits": opts.weight_bits, "membrane_bits": opts.membrane_bits,
        "timesteps": opts.timesteps, "epochs": opts.epochs,
        "hidden": (opts.hidden,) if opts.hidden is not None else None,
    }.items() if v is not None}
    recipe = dataclasses.replace(recipe_for(opts.dataset), seed=opts.seed, **overrides)
    ds = load_dataset(opts.dataset, seed=0)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_json(RunFolder.CONFIG, {**inputs, "recipe": recipe.to_dict()})
    t0 = time.perf_counter()
    net, history = train_recipe(recipe, ds, progress=progress)
    seconds = time.perf_counter() - t0
    acc_float = evaluate(net, ds.x_test, ds.y_test, quantized=False)
    acc_qat = evaluate(net, ds.x_test, ds.y_test, quantized=True)
    acc_quant = hardware_accuracy(net, ds.x_test, ds.y_test)
    save_checkpoint(run.file(CHECKPOINT), net,
                    extra={"dataset": opts.dataset, "recipe": recipe.to_dict()})
    result = {
        "loss": list(history.loss),
        "test_accuracy": list(history.test_accuracy),
        "train_seconds": seconds,
        "accuracy_float": acc_float,
        "accuracy_float_fake_quantized": acc_qat,
        "accuracy_quantized": acc_quant,
    }
    run.write_json("train.json", result)
    run.update_summary({
        "dataset": opts.dataset,
        "sizes": list(net.sizes),
        "accuracy": {"float": acc_float, "float_fake_quantized": acc_qat,
                     "quantized": acc_quant},
        "weight_bits": net.weight_bits,
        "membrane_bits": net.membrane_bits,
        "timesteps": net.timesteps,
        "encoding": net.encoder.encoding.value,
        "train_seconds": round(seconds, 2),
    })
    _mark_done(run, "train", inputs)
    return result


def _load_graph(run: RunFolder):
    from .compiler.irfile import load_ir

    return load_ir(run.require(IR_FILE, stage="export"))


#: Share of a layer's weights that quantise to 0 above which ``export`` prints a warning.
#: A layer whose weights mostly become 0 mostly computes nothing: typically one outlier weight
#: set the per-layer scale ``max|w| / (2**(b-1) - 1)`` (one weight of 1e30 zeroes all the
#: others). Measured on the digits demo network's float weights: about 1 % become 0 at 8 bits,
#: 15-19 % at 4 bits, 36-43 % at 3 bits, so 50 % leaves room for healthy layers down to 3 bits;
#: at 2 bits (codes -1, 0, 1) a bell-shaped layer is mostly 0 by design and the warning is
#: expected.
ZEROED_WARN_SHARE = 0.5


def quantization_warnings(layers: dict[str, dict[str, Any]]) -> list[str]:
    """Return one warning line per layer whose zeroed share exceeds ``ZEROED_WARN_SHARE`` or
    that has clipped weights.

    ``layers`` maps layer names to ``sim.quant.WeightQuantStats.to_dict()`` records, as
    ``export.json`` key ``quantization.layers`` holds them.
    """
    out = []
    for name, st in layers.items():
        if st["zeroed_share"] > ZEROED_WARN_SHARE:
            out.append(
                f"[spikesmith] warning: layer {name}: {st['zeroed']} of {st['weights']} weights "
                f"({100 * st['zeroed_share']:.2f} %) are nonzero but quantise to 0 (scale "
                f"{st['scale']:.4g} per code), above the {100 * ZEROED_WARN_SHARE:.0f} % warning "
                "level; an outlier weight may have set the scale")
        if st["clipped"]:
            out.append(f"[spikesmith] warning: layer {name}: {st['clipped']} of {st['weights']} "
                       f"weights were clipped to the largest code (scale {st['scale']:.4g})")
    return out


def _warn_quantization(result: dict[str, Any]) -> dict[str, Any]:
    for line in quantization_warnings(result.get("quantization", {}).get("layers", {})):
        print(line, file=sys.stderr)
    return result


def stage_export(run_dir: Any, *, lanes: int = 8, force: bool = False) -> dict[str, Any]:
    """Lower the checkpoint to ``network.ir`` and generate Verilog into ``hw/``.

    ``export.json`` and ``summary.json`` key ``quantization`` record, per layer, the weights
    that quantised to 0 and were clipped (``sim.quant.WeightQuantStats``); a layer above
    ``ZEROED_WARN_SHARE`` gets a warning line on stderr (``quantization_warnings``), also when
    the stage is skipped as up to date.

    Raises
    ------
    FlowError
        If ``lanes`` is outside ``sim.limits.LANES``.
    model.checkpoint.CheckpointError, compiler.errors.CompilerError
        On a corrupted checkpoint or an unsupported network, before anything is written.
    """
    check_limit(LANES, lanes)
    run = _prepare(run_dir)
    ckpt = run.require(CHECKPOINT, stage="train")
    inputs = {"lanes": lanes, "checkpoint": _file_digest(run, CHECKPOINT)}
    if not force and _up_to_date(run, "export", inputs):
        return _warn_quantization(run.read_json("export.json"))
    from .compiler.driver import compile_model
    from .compiler.irfile import save_ir
    from .hw.lif.generate import generate
    from .model.checkpoint import load_checkpoint

    net = load_checkpoint(ckpt)
    compiled = compile_model(net, lanes=lanes)
    save_ir(run.file(IR_FILE), compiled.graph)
    design = generate(compiled.config, run.file(HW_DIR))
    result = {
        "lanes": lanes,
        "verilog": str(design.verilog.relative_to(run.path)),
        "cores": [
            {"name": c.name, "n_in": c.n_in, "n_out": c.n_out, "acc_bits": c.acc_bits,
             "threshold": c.lif.threshold, "weight_bits": c.weight_bits}
            for c in compiled.config.cores
        ],
        "quantization": {
            "zeroed_warn_share": ZEROED_WARN_SHARE,
            "layers": {name: st.to_dict() for name, st in compiled.quant_stats.items()},
        },
    }
    run.write_json("export.json", result)
    run.update_summary({"lanes": lanes,
                        "acc_bits": [c.acc_bits for c in compiled.config.cores],
                        "quantization": result["quantization"]})
    _mark_done(run, "export", inputs)
    return _warn_quantization(result)


def _verify_images(ds: Dataset, samples: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Test split first, then training images, up to ``samples`` (default: max(test, 500))."""
    n_test = len(ds.x_test)
    want = max(n_test, 500) if samples is None else samples
    total = n_test + len(ds.x_train)
    if not 1 <= want <= total:
        raise FlowError(f"samples must be in 1..{total} for {ds.name}, not {want}")
    x = np.concatenate([ds.x_test, ds.x_train])[:want]
    y = np.concatenate([ds.y_test, ds.y_train])[:want]
    return x, y, min(want, n_test)


def _analytic_cycles_per_sample(graph: Any, params: Any, images: np.ndarray) -> float:
    """Mean cycles per sample predicted by ``hw.lif.estimate.estimate_cycles`` from the golden
    model's own event counts (input events and spikes of every layer per timestep)."""
    from .compiler.lowering import to_network_config
    from .hw.lif.estimate import estimate_cycles
    from .sim.network import run_network

    config = to_network_config(graph)
    trace = run_network(params, images, record_membranes=False)
    total = 0
    for b in range(images.shape[0]):
        events = [int(np.count_nonzero(trace.inputs[t, b])) for t in range(params.timesteps)]
        total += estimate_cycles(config, input_events_per_step=events,
                                 spikes=[s[:, b] for s in trace.spikes])
    return total / max(1, images.shape[0])


def _synaptic_ops(params: Any, images: np.ndarray) -> int:
    """Synaptic operations the hardware performs on ``images``: every input event of a layer
    updates all of that layer's neurons (``events * n_out``), summed over layers and steps."""
    from .sim.network import run_network

    trace = run_network(params, images, record_membranes=False)
    inputs = [trace.inputs, *trace.spikes[:-1]]
    return int(sum(np.count_nonzero(x) * layer.n_out
                   for x, layer in zip(inputs, params.layers, strict=True)))


def stage_verify(run_dir: Any, *, samples: int | None = None, membrane_samples: int = 100,
                 force: bool = False, trace: bool = False,
                 trace_sample: int | None = None) -> dict[str, Any]:
    """Compile the run folder's Verilog in Verilator and compare it with ``sim/`` bit for bit.

    The reference is the golden model of the run folder's ``network.ir``; the device under
    test is the Verilog in ``hw/`` as it is on disk, so an edited weight there is reported.
    ``accuracy.hardware`` is measured from the RTL's own output spikes on the test split.
    With ``trace`` (or a ``trace_sample``) the stage always runs and writes the FST waveform
    of sample ``trace_sample`` (default: the first mismatching one, none if all match) to
    ``verify_trace/sample<N>.fst``; the result's ``waveform`` names it (relative to the run).
    """
    run = _prepare(run_dir)
    graph = _load_graph(run)
    design_dir = run.require(HW_DIR, stage="export")
    ds = _dataset(run)
    x, y, n_test = _verify_images(ds, samples)
    if not 0 <= membrane_samples <= len(x):
        raise FlowError(f"membrane samples must be in 0..{len(x)}, not {membrane_samples}")
    if trace_sample is not None and not 0 <= trace_sample < len(x):
        raise FlowError(f"trace sample must be in 0..{len(x) - 1}, not {trace_sample}")
    trace = trace or trace_sample is not None
    inputs = {"samples": len(x), "membrane_samples": membrane_samples,
              "design": _file_digest(run, HW_DIR, IR_FILE)}
    if not force and not trace and _up_to_date(run, "verify", inputs):
        return run.read_json("verify.json")
    from .compiler.lowering import to_network_params
    from .verification.lif import verify_network

    params = to_network_params(graph)
    wave_dir = run.file(_TRACE_DIR)
    shutil.rmtree(wave_dir, ignore_errors=True)
    rep = verify_network(design=design_dir, params=params, images=x,
                         membrane_samples=membrane_samples,
                         build_dir=run.file(".build") / "verilator",
                         waveform=wave_dir / "trace.fst" if trace else None,
                         trace_sample=trace_sample)
    waveform = None
    if rep.waveform is not None:
        waveform = f"{_TRACE_DIR}/sample{rep.waveform_sample}.fst"
        rep.waveform.rename(run.file(waveform))
    rtl_pred = np.asarray(rep.rtl_predictions)
    analytic_cps = _analytic_cycles_per_sample(graph, params, x[:100])
    synops_measured = _synaptic_ops(params, x) / rep.total_cycles if rep.total_cycles else 0.0
    acc_hw = float(np.mean(rtl_pred[:n_test] == y[:n_test]))
    result = {
        "samples": rep.samples,
        "membrane_samples": rep.membrane_samples,
        "mismatches": rep.mismatches,
        "first": rep.first_mismatch,
        "cycles_per_sample": rep.cycles_per_sample,
        "total_cycles": rep.total_cycles,
        "wall_seconds": round(rep.wall_time_s, 2),
        "test_samples": n_test,
        "accuracy_hardware": acc_hw,
        "cycles_per_sample_analytic": analytic_cps,
        "synops_per_cycle": synops_measured,
        "waveform": waveform,
    }
    run.write_json("verify.json", result)
    run.update_summary({
        "verify": {"samples": rep.samples, "membrane_samples": rep.membrane_samples,
                   "mismatches": rep.mismatches, "first_mismatch": rep.first_mismatch},
        "accuracy": {"hardware": acc_hw},
        "cycles_per_sample": rep.cycles_per_sample,
        "synops_per_cycle": {"measured": synops_measured},
        "cycles_per_sample_analytic": {
            "value": analytic_cps,
            "rel_error": (analytic_cps - rep.cycles_per_sample) / rep.cycles_per_sample
            if rep.cycles_per_sample else None,
            "note": "hw.lif.estimate cycle model summed over layers (an upper bound: the generated "
                    "top overlaps layers), mean of the first 100 verified samples",
        },
    })
    _mark_done(run, "verify", inputs)
    return result


def stage_estimate(run_dir: Any, *, pnr: bool = True, force: bool = False) -> dict[str, Any]:
    """Run Yosys (and nextpnr) on the generated network; analytic estimates beside each figure
    (``spikesmith.estimate``)."""
    from .compiler.lowering import to_network_config
    from .estimate import ESTIMATE_FILE, estimate_design, write_estimate

    run = _prepare(run_dir)
    graph = _load_graph(run)
    inputs = {"pnr": pnr, "design": _file_digest(run, IR_FILE)}
    if not force and _up_to_date(run, "estimate", inputs):
        return run.read_json(ESTIMATE_FILE)
    rep = estimate_design(to_network_config(graph), workdir=run.file(".build") / "synth", pnr=pnr)
    result = write_estimate(run, rep)
    _mark_done(run, "estimate", inputs)
    return result


def stage_report(run_dir: Any) -> str:
    """Write ``report.md`` and its plots; return its path."""
    from .compiler.lowering import to_network_params
    from .report import write_report
    from .sim.network import run_network

    run = _prepare(run_dir)
    graph = _load_graph(run)
    params = to_network_params(graph)
    ds = _dataset(run)
    trace = run_network(params, ds.x_test[:1], record_membranes=False)
    raster = [trace.inputs[:, 0, :]] + [s[:, 0, :] for s in trace.spikes]
    names = ["input"] + [f"layer {i + 1}" for i in range(len(trace.spikes))]
    return str(run.file(write_report(run, raster=raster, raster_names=names)))


def run_demo(run_dir: Any, opts: DemoOptions, *, lanes: int = 8, verify_samples: int | None = None,
             membrane_samples: int = 100, pnr: bool = True, force: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """Run every stage on one run folder and return the summary."""
    check_options(opts)
    check_limit(LANES, lanes)
    run = _prepare(run_dir)
    say = print if progress else (lambda *_: None)
    t0 = time.perf_counter()
    say(f"[spikesmith] run folder: {run.path.resolve()}")
    say("[spikesmith] 1/5 train")
    stage_train(run, opts, force=force, progress=progress)
    say("[spikesmith] 2/5 export (IR + Verilog)")
    stage_export(run, lanes=lanes, force=force)
    say("[spikesmith] 3/5 verify (Verilator vs golden model)")
    ver = stage_verify(run, samples=verify_samples, membrane_samples=membrane_samples,
                       force=force)
    say("[spikesmith] 4/5 estimate (Yosys, nextpnr)")
    stage_estimate(run, pnr=pnr, force=force)
    say("[spikesmith] 5/5 report")
    report = stage_report(run)
    summary = run.summary()
    acc = summary.get("accuracy", {})
    say(f"[spikesmith] accuracy float {acc.get('float', 0):.4f}  quantized "
        f"{acc.get('quantized', 0):.4f}  hardware {acc.get('hardware', 0):.4f}")
    say(f"[spikesmith] verified {ver['samples']} samples ({ver['membrane_samples']} with every "
        f"membrane): {ver['mismatches']} mismatches")
    say(f"[spikesmith] report: {report}  ({time.perf_counter() - t0:.1f} s)")
    say(f"[spikesmith] run folder: {run.path.resolve()}")
    if ver["mismatches"]:
        raise FlowError(f"RTL and golden model differ: {ver['first']}")
    return summary
