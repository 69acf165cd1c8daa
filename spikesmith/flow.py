"""The train -> export -> verify -> estimate -> report flow over a run folder.

Each ``stage_*`` function locks the run folder (``RunFolder.locked``), checks its options
before any work or write, and runs its stage as a transaction (``stage.run_stage``): unless the
stage's record (``spikesmith.records``) is current for the same options, the stage works in a
staging folder, then commits its outputs and a record holding the content hashes of its inputs
and outputs (``RunFolder.commit``). Every stage prints one line: what it did, or that it was
skipped and why. Seeds are explicit, so re-running a stage with the same options and inputs
gives byte-identical outputs and records (wall time aside).
"""

from __future__ import annotations

import dataclasses
import json
import reprlib
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DATASETS, Dataset, load_dataset
from .records import Record
from .runfolder import RunFolder
from .sim.files import atomic_write_text
from .sim.limits import (
    EPOCHS,
    HIDDEN,
    LANES,
    MEMBRANE_BITS,
    PNR_SEEDS,
    SEED,
    TIMESTEPS,
    WEIGHT_BITS,
    IntRange,
)
from .stage import Entries, open_run, run_stage, say

__all__ = [
    "ZEROED_WARN_SHARE",
    "DemoOptions",
    "FlowError",
    "VerifyOptions",
    "check_limit",
    "check_options",
    "export_body",
    "network_entries",
    "quantization_warnings",
    "run_demo",
    "stage_estimate",
    "stage_export",
    "stage_report",
    "stage_train",
    "stage_verify",
    "warn_quantization",
]

CHECKPOINT = "checkpoint.safetensors"
IR_FILE = "network.ir"
HW_DIR = "hw"
#: Test samples whose golden-model spikes give the report's per-layer spike rates.
_RATE_SAMPLES = 100
#: Folder of the run that holds the waveforms written by ``verify --trace``.
_TRACE_DIR = "verify_trace"


class FlowError(ValueError):
    """A flow option or a run folder's content is not acceptable."""


@dataclass(frozen=True)
class DemoOptions:
    """Everything the train stage needs; recorded in ``config.json``.

    ``None`` fields take the dataset's recipe default (``spikesmith.recipes``). ``arch`` is
    ``None`` (or ``"dense"``) for the dataset's dense MLP, else a conv network's spec string or
    preset (``model.arch``, e.g. ``"conv"`` or ``"16c5-p2-32c3-p2-128-10"``). ``method`` is a
    ``model.methods.Method`` name (``bptt``, ``lt``, ``ltmd``, ``tebn``, ``ltmd+tebn``,
    ``ratebp``).
    """

    dataset: str = "digits"
    arch: str | None = None
    weight_bits: int | None = None
    membrane_bits: int | None = None
    timesteps: int | None = None
    epochs: int | None = None
    hidden: int | None = None
    seed: int = 0
    method: str = "bptt"
    #: Training loss (``model.losses.Loss`` value); ``ttfs`` also makes the output rule
    #: "first spike wins" (``compiler.ir.Decision.FIRST_SPIKE``) in the IR, golden model and top.
    loss: str = "ce"


#: The ``--loss`` names, in the order the documentation lists them.
LOSSES = ("ce", "count", "count+", "ce+", "ttfs")


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
    if opts.arch is not None:
        from .recipes import recipe_for

        try:
            recipe_for(opts.dataset, arch=opts.arch)
        except ValueError as exc:
            raise FlowError(f"--arch {reprlib.repr(opts.arch)}: {exc}") from None
    _check_method(opts)
    _check_loss(opts)
    for limit, value in ((WEIGHT_BITS, opts.weight_bits), (MEMBRANE_BITS, opts.membrane_bits),
                         (TIMESTEPS, opts.timesteps), (EPOCHS, opts.epochs),
                         (HIDDEN, opts.hidden), (SEED, opts.seed)):
        if value is not None:
            check_limit(limit, value)


def _check_loss(opts: DemoOptions) -> None:
    """A known loss that the network and the method can take: ``ttfs`` needs the dense cores'
    first-spike top and the spike times of plain BPTT; ``ltmd`` trains with its own
    consistency loss (cross-entropy)."""
    if opts.loss not in LOSSES:
        raise FlowError(f"unknown loss {opts.loss!r}: accepted losses are {', '.join(LOSSES)}")
    if opts.loss == "ttfs" and opts.arch not in (None, "dense"):
        raise FlowError("--loss ttfs decides by the first output spike, which only the dense "
                        "cores implement; conv networks (--arch) take the other losses")
    if opts.loss == "ttfs" and opts.method != "bptt":
        raise FlowError(f"--loss ttfs trains on output spike times with --method bptt only, "
                        f"not {opts.method}")
    if opts.loss != "ce" and opts.method in ("ltmd", "ltmd+tebn"):
        raise FlowError(f"--method {opts.method} trains with its two-pass consistency loss "
                        f"(cross-entropy); it cannot take --loss {opts.loss}")


def _check_method(opts: DemoOptions) -> None:
    """A known method (every method trains dense and conv networks: ``model.method_net``,
    ``model.method_convnet``, ``model.ratebp``)."""
    from .model.methods import Method

    if opts.method not in Method.names():
        raise FlowError(f"--method {reprlib.repr(opts.method)}: accepted methods are "
                        f"{', '.join(Method.names())}")


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


def _recipe(opts: DemoOptions):
    from .recipes import recipe_for

    overrides = {k: v for k, v in {
        "weight_bits": opts.weight_bits, "membrane_bits": opts.membrane_bits,
        "timesteps": opts.timesteps, "epochs": opts.epochs,
        "hidden": (opts.hidden,) if opts.hidden is not None else None,
        "loss": opts.loss if opts.loss != "ce" else None,
    }.items() if v is not None}
    from .model.methods import Method

    return dataclasses.replace(recipe_for(opts.dataset, arch=opts.arch), seed=opts.seed,
                               method=Method(opts.method), **overrides)


def _train_body(opts: DemoOptions, progress: bool) -> Callable[[Path], Entries]:
    def body(out: Path) -> Entries:
        from .model.checkpoint import save_checkpoint
        from .recipes import train_recipe

        recipe = _recipe(opts)
        ds = load_dataset(opts.dataset, seed=0)
        net, history = train_recipe(recipe, ds, progress=progress)
        atomic_write_text(out / RunFolder.CONFIG, json.dumps(
            {**asdict(opts), "recipe": recipe.to_dict()}, indent=2, sort_keys=True) + "\n")
        save_checkpoint(out / CHECKPOINT, net,
                        extra={"dataset": opts.dataset, "recipe": recipe.to_dict()})
        result, summary = network_entries(net, ds, loss=opts.loss)
        return {"loss": list(history.loss), "test_accuracy": list(history.test_accuracy),
                **result}, {**summary, "method": opts.method}
    return body


def network_entries(net: Any, ds: Dataset, *, loss: str = "ce") -> Entries:
    """Return the record entries of a trained (or imported) network evaluated on ``ds``'s test
    split: the ``accuracy_*`` figures, and the summary's ``dataset``, ``arch`` (the spec
    string, ``model.arch``; a dense MLP's is its layer widths, e.g. ``128-10``), ``sizes``,
    ``accuracy``
    (``float``: float forward; ``float_fake_quantized``: float neurons, fake-quantised weights;
    ``quantized``: the hardware-exact integer evaluation), widths, timesteps, encoding, the
    training ``loss`` and the ``output_rule`` (``first_spike`` for ``ttfs``, which all three
    accuracies then use)."""
    from .model.train import evaluate, hardware_accuracy
    from .sim.decision import OutputRule

    rule = OutputRule.FIRST_SPIKE if loss == "ttfs" else OutputRule.MAX_COUNT
    first = rule is OutputRule.FIRST_SPIKE
    acc = {"float": evaluate(net, ds.x_test, ds.y_test, quantized=False, first_spike=first),
           "float_fake_quantized": evaluate(net, ds.x_test, ds.y_test, quantized=True,
                                            first_spike=first),
           "quantized": hardware_accuracy(net, ds.x_test, ds.y_test, rule=rule)}
    result = {f"accuracy_{k}": v for k, v in acc.items()}
    from .model.convnet import SpikingConvNet

    arch = str(net.arch) if isinstance(net, SpikingConvNet) else "-".join(
        str(n) for n in net.sizes[1:])
    summary = {"dataset": ds.name, "arch": arch, "sizes": list(net.sizes), "accuracy": acc,
               "weight_bits": net.weight_bits, "membrane_bits": net.membrane_bits,
               "timesteps": net.timesteps, "encoding": net.encoder.encoding.value,
               "loss": loss, "output_rule": rule.value}
    return result, summary


def stage_train(run_dir: Any, opts: DemoOptions, *, force: bool = False,
                progress: bool = True) -> dict[str, Any]:
    """Train a quantisation-aware network; write ``checkpoint.safetensors`` and ``config.json``.

    The record ``train.json`` holds the per-epoch history and the accuracies; its summary
    entries are ``dataset``, ``sizes``, ``accuracy.float`` (float forward, unquantised weights
    and thresholds), ``accuracy.float_fake_quantized`` (float neurons, fake-quantised weights),
    ``accuracy.quantized`` (hardware-exact integer evaluation), ``weight_bits``,
    ``membrane_bits``, ``timesteps``, ``encoding``, ``loss`` (``opts.loss``) and
    ``output_rule`` (``first_spike`` for ``ttfs``, else ``max_count``). Returns the record's
    ``result``.

    Raises
    ------
    FlowError
        On bad options, before anything is written.
    """
    check_options(opts)
    with open_run(run_dir, create=True) as run:
        return _train(run, opts, force=force, progress=progress).result


def _train(run: RunFolder, opts: DemoOptions, *, force: bool, progress: bool) -> Record:
    return run_stage(run, "train", options=asdict(opts), inputs=(),
                      body=_train_body(opts, progress), force=force)


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


def warn_quantization(result: dict[str, Any]) -> dict[str, Any]:
    """Print the export record's quantisation warnings on stderr; return ``result``."""
    for line in quantization_warnings(result.get("quantization", {}).get("layers", {})):
        print(line, file=sys.stderr)
    return result


def stage_export(run_dir: Any, *, lanes: int = 8, force: bool = False) -> dict[str, Any]:
    """Lower the checkpoint to ``network.ir`` and generate Verilog into ``hw/``.

    The record ``export.json`` and the summary key ``quantization`` hold, per layer, the
    weights that quantised to 0 and were clipped (``sim.quant.WeightQuantStats``); a layer above
    ``ZEROED_WARN_SHARE`` gets a warning line on stderr (``quantization_warnings``), also when
    the stage is skipped as up to date. Returns the record's ``result``.

    Raises
    ------
    FlowError
        If ``lanes`` is outside ``sim.limits.LANES``.
    model.checkpoint.CheckpointError, compiler.errors.CompilerError
        On a corrupted checkpoint or an unsupported network, before anything is written.
    """
    check_limit(LANES, lanes)
    with open_run(run_dir) as run:
        return _export(run, lanes=lanes, force=force).result


def export_body(run: RunFolder, lanes: int) -> Callable[[Path], Entries]:
    """The export stage's work: lower ``run``'s checkpoint and generate its hardware into a
    staging folder (``stage.run_stage``'s body); the ``import`` stage reuses it."""
    def body(out: Path) -> Entries:
        from .compiler.driver import compile_model
        from .compiler.irfile import save_ir
        from .hardware import core_summaries, generate_hardware, layer_summaries
        from .model.checkpoint import load_checkpoint

        compiled = compile_model(load_checkpoint(run.file(CHECKPOINT)), lanes=lanes)
        graph = _with_rule(run, compiled.graph)
        save_ir(out / IR_FILE, graph)
        verilog = generate_hardware(graph, out / HW_DIR)
        quantization = {
            "zeroed_warn_share": ZEROED_WARN_SHARE,
            "layers": {name: st.to_dict() for name, st in compiled.quant_stats.items()},
        }
        cores = core_summaries(graph)
        result = {
            "lanes": lanes,
            "verilog": verilog.relative_to(out).as_posix(),
            "cores": cores,
            "quantization": quantization,
        }
        summary = {"lanes": lanes, "acc_bits": [c["acc_bits"] for c in cores],
                   "layers": layer_summaries(graph), "quantization": quantization}
        return result, summary
    return body


def _with_rule(run: RunFolder, graph: Any) -> Any:
    """Return ``graph`` with the output rule of the run's training loss (``config.json``'s
    ``loss``: ``ttfs`` decides by the first spike; every other loss, or none, by count)."""
    from .compiler.ir import Decision, with_output_rule

    cfg = run.read_json(RunFolder.CONFIG) if run.file(RunFolder.CONFIG).is_file() else {}
    if isinstance(cfg, dict) and cfg.get("loss") == "ttfs":
        return with_output_rule(graph, Decision.FIRST_SPIKE)
    return graph


def _export(run: RunFolder, *, lanes: int, force: bool) -> Record:
    run.require(CHECKPOINT, stage="train")
    record = run_stage(run, "export", options={"lanes": lanes}, inputs=(CHECKPOINT,),
                        body=export_body(run, lanes), force=force)
    warn_quantization(record.result)
    return record


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


@dataclass(frozen=True)
class VerifyOptions:
    """Options of the verify stage, checked against the run's dataset before any work.

    Parameters
    ----------
    samples : int, optional
        Samples run in Verilator: the test split first, then training images (default: the
        test split, at least 500; ``CONV_VERIFY_SAMPLES`` for a network with conv cores).
    membrane_samples : int
        Samples whose every membrane is compared at every timestep.
    trace : bool
        Write the FST waveform of the first mismatching sample (always runs the stage).
    trace_sample : int, optional
        Write the waveform of this sample instead (implies ``trace``).
    """

    samples: int | None = None
    membrane_samples: int = 100
    trace: bool = False
    trace_sample: int | None = None

    def check(self, ds: Dataset) -> VerifyOptions:
        """Return the options with ``samples`` resolved for ``ds`` and ``trace`` implied.

        Raises
        ------
        FlowError
            Naming the option, the accepted range and the value.
        """
        n_test, total = len(ds.x_test), len(ds.x_test) + len(ds.x_train)
        samples = max(n_test, 500) if self.samples is None else self.samples
        if not isinstance(samples, int) or not 1 <= samples <= total:
            raise FlowError(f"samples must be in 1..{total} for {ds.name}, not {samples!r}")
        if not 0 <= self.membrane_samples <= samples:
            raise FlowError(f"membrane samples must be in 0..{samples} (the samples checked), "
                            f"not {self.membrane_samples!r}")
        if self.trace_sample is not None and not 0 <= self.trace_sample < samples:
            raise FlowError(f"trace sample must be in 0..{samples - 1}, not "
                            f"{self.trace_sample!r}")
        return dataclasses.replace(self, samples=samples,
                                   trace=self.trace or self.trace_sample is not None)


#: Default samples of the verify stage for a network with conv cores (the issue asks for at
#: least 500; the dense default, the whole test split, costs a conv network several times the
#: simulated cycles per sample).
CONV_VERIFY_SAMPLES = 500


def _verify_images(ds: Dataset, samples: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The test split first, then training images, ``samples`` in all; and how many are test."""
    x = np.concatenate([ds.x_test, ds.x_train])[:samples]
    y = np.concatenate([ds.y_test, ds.y_train])[:samples]
    return x, y, min(samples, len(ds.x_test))


def stage_verify(run_dir: Any, opts: VerifyOptions = VerifyOptions(), *,
                 force: bool = False) -> dict[str, Any]:
    """Compile the run folder's Verilog in Verilator and compare it with ``sim/`` bit for bit.

    The reference is the golden model of the run folder's ``network.ir``; the device under
    test is the Verilog in ``hw/`` as it is on disk, so an edited weight there is reported
    (and, since ``hw/`` then differs from what export wrote, the result is not part of the
    current chain). ``accuracy.hardware`` is measured from the RTL's own output spikes on the
    test split. With ``opts.trace`` the stage always runs and writes the FST waveform of sample
    ``opts.trace_sample`` (default: the first mismatching one, none if all match) to
    ``verify_trace/sample<N>.fst``; the result's ``waveform`` names it (relative to the run).
    Returns the record's ``result``.
    """
    with open_run(run_dir) as run:
        return _verify(run, opts, force=force).result


def _verify(run: RunFolder, opts: VerifyOptions, *, force: bool) -> Record:
    from .compiler.ir import Op

    graph = _load_graph(run)
    run.require(HW_DIR, stage="export")
    ds = _dataset(run)
    if opts.samples is None and graph.of_op(Op.CONV):
        opts = dataclasses.replace(opts, samples=CONV_VERIFY_SAMPLES)
    opts = opts.check(ds)
    if opts.trace and graph.of_op(Op.CONV):
        raise FlowError("verify --trace is not available for conv networks yet; run verify "
                        "without --trace (the mismatch message names the first difference)")
    return run_stage(run, "verify", options=asdict(opts),
                      inputs=(IR_FILE, HW_DIR, RunFolder.CONFIG),
                      body=_verify_body(run, graph, ds, opts), force=force or opts.trace)


def _verify_body(run: RunFolder, graph: Any, ds: Dataset,
                 opts: VerifyOptions) -> Callable[[Path], Entries]:
    def body(out: Path) -> Entries:
        from .compiler.lowering import to_hardware_config, to_network_params
        from .estimate import core_cycles_per_sample, network_cycles_per_sample
        from .hardware import layer_summaries, synaptic_ops, verify_hardware

        x, y, n_test = _verify_images(ds, opts.samples)
        params = to_network_params(graph)
        rep = verify_hardware(graph, run.file(HW_DIR), images=x,
                              membrane_samples=opts.membrane_samples,
                              build_dir=run.file(".build") / "verilator",
                              waveform=out / _TRACE_DIR / "trace.fst" if opts.trace else None,
                              trace_sample=opts.trace_sample)
        waveform = None
        if rep.waveform is not None:
            waveform = f"{_TRACE_DIR}/sample{rep.waveform_sample}.fst"
            rep.waveform.rename(out / waveform)
        # one golden run: each core's cycles alone per sample, and the network's from them
        # (as spikesmith.hardware.analytic_cycles_per_sample)
        config = to_hardware_config(graph)
        per_core = core_cycles_per_sample(config, params, x[:100])
        analytic_cps = network_cycles_per_sample(config, per_core)
        means = iter(per_core.mean(axis=0).tolist())
        layer_cycles = [next(means) if "core" in ly else None for ly in layer_summaries(graph)]
        synops = synaptic_ops(params, x) / rep.total_cycles if rep.total_cycles else 0.0
        acc_hw = float(np.mean(np.asarray(rep.rtl_predictions)[:n_test] == y[:n_test]))
        result = {
            "samples": rep.samples, "membrane_samples": rep.membrane_samples,
            "mismatches": rep.mismatches, "first": rep.first_mismatch,
            "cycles_per_sample": rep.cycles_per_sample, "total_cycles": rep.total_cycles,
            "test_samples": n_test, "accuracy_hardware": acc_hw,
            "cycles_per_sample_analytic": analytic_cps, "synops_per_cycle": synops,
            "waveform": waveform, "cycle_model": _cycle_model_note(params),
            "layer_cycles_per_sample_analytic": layer_cycles,
        }
        return result, _verify_summary(result)
    return body


def _cycle_model_note(params: Any) -> str:
    """Say which cycle model ``hardware.analytic_cycles_per_sample`` used for ``params``."""
    from .sim.conv import ConvLayer

    if any(isinstance(layer, ConvLayer) for layer in params.layers):
        return ("hw.conv.estimate: the slowest core's cycles (a lower bound: the cores overlap "
                "through their event FIFOs), mean of the first 100 verified samples")
    return ("hw.lif.estimate cycle model summed over layers (an upper bound: the generated top "
            "overlaps layers), mean of the first 100 verified samples")


def _verify_summary(r: dict[str, Any]) -> dict[str, Any]:
    cps, analytic = r["cycles_per_sample"], r["cycles_per_sample_analytic"]
    analytic_entry = {
        "value": analytic,
        "rel_error": (analytic - cps) / cps if cps and analytic is not None else None,
        "note": r.get("cycle_model", ""),
    }
    return {
        "verify": {"samples": r["samples"], "membrane_samples": r["membrane_samples"],
                   "mismatches": r["mismatches"], "first_mismatch": r["first"]},
        "accuracy": {"hardware": r["accuracy_hardware"]},
        "cycles_per_sample": cps,
        "synops_per_cycle": {"measured": r["synops_per_cycle"]},
        "cycles_per_sample_analytic": analytic_entry,
        **({"layers": [{} if c is None else {"analytic_cycles_per_sample": c}
                       for c in r["layer_cycles_per_sample_analytic"]]}
           if r.get("layer_cycles_per_sample_analytic") else {}),
    }


def stage_estimate(run_dir: Any, *, pnr: bool = True, seeds: int = 1,
                   force: bool = False) -> dict[str, Any]:
    """Run Yosys (and nextpnr with placer seeds ``1..seeds``) on the generated network;
    analytic estimates beside each figure (``spikesmith.estimate``). Returns the record's
    ``result``."""
    PNR_SEEDS.check(seeds)
    with open_run(run_dir) as run:
        return _estimate(run, pnr=pnr, seeds=seeds, force=force).result


def _estimate(run: RunFolder, *, pnr: bool, force: bool, seeds: int = 1) -> Record:
    graph = _load_graph(run)

    def body(out: Path) -> Entries:
        from .compiler.lowering import to_hardware_config
        from .estimate import estimate_design, estimate_entries
        from .hardware import layer_summaries

        return estimate_entries(estimate_design(
            to_hardware_config(graph), workdir=run.file(".build") / "synth", pnr=pnr,
            seeds=tuple(range(1, seeds + 1))), layers=layer_summaries(graph))

    # one seed keeps the options of records written before seeds could be chosen
    options = {"pnr": pnr, **({"seeds": seeds} if seeds > 1 else {})}
    return run_stage(run, "estimate", options=options, inputs=(IR_FILE,), body=body,
                     force=force)


def stage_report(run_dir: Any) -> str:
    """Write ``report.md`` and its plots from the current records; return its path."""
    with open_run(run_dir) as run:
        _report(run)
        return str(run.file("report.md"))


def _report(run: RunFolder) -> Record:
    graph = _load_graph(run)
    ds = _dataset(run)
    summary = run.summary()

    def body(out: Path) -> Entries:
        from .compiler.lowering import to_network_params
        from .report import write_report
        from .sim.conv import ConvLayer
        from .sim.network import run_network

        params = to_network_params(graph)
        trace = run_network(params, ds.x_test[:_RATE_SAMPLES], record_membranes=False)
        raster = [trace.inputs[:, 0, :]] + [s[:, 0, :] for s in trace.spikes]
        names = ["input"] + [f"layer {i + 1}" for i in range(len(trace.spikes))]
        rates = [float(np.mean(s)) for s in trace.spikes]
        conv = next((k for k, ly in enumerate(params.layers) if isinstance(ly, ConvLayer)), None)
        fmap = None if conv is None else trace.spikes[conv][:, 0, :].sum(axis=0).reshape(
            params.layers[conv].out_shape)
        write_report(out, summary, raster=raster, raster_names=names, layer_rates=rates,
                     feature_map=fmap)
        return {"stages": summary["stages"]}, {}

    return run_stage(run, "report", options={}, inputs=(IR_FILE, RunFolder.CONFIG), body=body,
                      force=False)


def run_demo(run_dir: Any, opts: DemoOptions, *, lanes: int = 8,
             verify: VerifyOptions = VerifyOptions(), pnr: bool = True, force: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """Run every stage on one run folder and return the summary.

    Every option (the verify options against the dataset's size included) is checked before
    any work or write.
    """
    check_options(opts)
    check_limit(LANES, lanes)
    verify.check(load_dataset(opts.dataset, seed=0))  # the verify stage fills in the defaults
    t0 = time.perf_counter()
    with open_run(run_dir, create=True) as run:
        say(f"run folder: {run.path.resolve()}")
        _train(run, opts, force=force, progress=progress)
        _export(run, lanes=lanes, force=force)
        ver = _verify(run, verify, force=force).result
        _estimate(run, pnr=pnr, force=force)
        _report(run)
        summary = run.summary()
    acc = summary.get("accuracy", {})
    say(f"accuracy float {acc.get('float', 0):.4f}  quantized {acc.get('quantized', 0):.4f}  "
         f"hardware {acc.get('hardware', 0):.4f}")
    say(f"verified {ver['samples']} samples ({ver['membrane_samples']} with every membrane): "
         f"{ver['mismatches']} mismatches")
    say(f"report: {run.file('report.md')}  ({time.perf_counter() - t0:.1f} s)")
    say(f"run folder: {run.path.resolve()}")
    if ver["mismatches"]:
        raise FlowError(f"RTL and golden model differ: {ver['first']}")
    return summary
