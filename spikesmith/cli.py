"""The ``spikesmith`` command line: demo | train | import | export | verify | estimate | report.

Every command works on a run folder (``--run``). Errors in the user's input are reported as one
paragraph naming what is wrong and what is accepted, with a non-zero exit status, before
anything is written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .datasets import DATASETS
from .sim import limits
from .sim.limits import (
    CHECK_EVERY,
    EPOCHS,
    HIDDEN,
    LANES,
    MEMBRANE_BITS,
    NEURONS_PER_CLASS,
    PNR_SEEDS,
    POPULATION,
    PROCESSES,
    RATIOS,
    SEED,
    SEEDS,
    TIME_BINS,
    TIMESTEPS,
    WEIGHT_BITS,
    IntRange,
    show_value,
)
from .sleep_study import MAX_SLEEP_RATIO, TEST_IMAGES, TRAIN_IMAGES

__all__ = ["main"]

_LANES_HELP = f"Synapse lanes per core, {LANES.describe()}."

_run_option = click.option(
    "--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Run folder holding every artefact of the flow.",
)



class _Limited(click.ParamType):
    """An integer option checked against a ``sim.limits`` record while the command line is
    parsed (before any work); a rejection is click's usage error, exit status 2."""

    name = "integer"

    def __init__(self, limit: IntRange) -> None:
        self.limit = limit

    def convert(self, value, param, ctx):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = value
        try:
            return self.limit.check(number)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def _user_errors():
    """Exception types that mean bad input, reported without a traceback."""
    from .flow import FlowError
    from .runfolder import RunFolderError

    types: list[type[Exception]] = [FlowError, RunFolderError]
    try:
        from .model.checkpoint import CheckpointError

        types.append(CheckpointError)
    except ImportError:
        pass
    try:
        from .compiler.errors import CompilerError

        types.append(CompilerError)
    except ImportError:
        pass
    try:
        from .hw.lif.manifest import ManifestError

        types.append(ManifestError)
    except ImportError:
        pass
    return tuple(types)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="spikesmith")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Spiking networks from PyTorch training to bit-exact verified FPGA gateware.

    Size limits on what is read from files can be raised with the environment variable
    SPIKESMITH_LIMITS, e.g. SPIKESMITH_LIMITS="file_bytes=200000000,layer_width=131072".
    """
    if limits.LIMITS_PROBLEM is not None:  # a malformed SPIKESMITH_LIMITS: before any command
        ctx.fail(limits.LIMITS_PROBLEM)


#: ``model.methods.Method.names()``, spelt out so that ``--help`` does not import torch
#: (``tests/model/test_methods.py`` checks they are equal).
METHODS = ("bptt", "lt", "ltmd", "tebn", "ltmd+tebn", "ratebp")


def _limited_help(text: str, limit: IntRange) -> str:
    return f"{text}, {limit.describe()}."


def _train_options(f):
    options = [
        click.option("--dataset", type=str, default="digits", show_default=True,
                     help=f"Dataset shipped with a pip package: {', '.join(DATASETS)}."),
        click.option("--arch", type=str, default=None,
                     help="Network: 'dense' (the dataset's MLP, the default), a conv preset "
                          "('conv') or a spec string such as 16c5-p2-32c3-p2-128-10 "
                          "(<C>c<K>[s<S>][p<P>] conv, p<k> OR pooling, <N> dense)."),
        click.option("--weight-bits", type=_Limited(WEIGHT_BITS), default=None,
                     help=_limited_help("Signed weight width (default from the dataset recipe)",
                                        WEIGHT_BITS)),
        click.option("--membrane-bits", type=_Limited(MEMBRANE_BITS), default=None,
                     help=_limited_help("Signed membrane width (default from the dataset "
                                        "recipe)", MEMBRANE_BITS)),
        click.option("--timesteps", type=_Limited(TIMESTEPS), default=None,
                     help=_limited_help("Timesteps per sample", TIMESTEPS)),
        click.option("--epochs", type=_Limited(EPOCHS), default=None,
                     help=_limited_help("Training epochs", EPOCHS)),
        click.option("--hidden", type=_Limited(HIDDEN), default=None,
                     help=_limited_help("Hidden layer width", HIDDEN)),
        click.option("--seed", type=_Limited(SEED), default=0, show_default=True,
                     help=_limited_help("Training seed", SEED)),
        click.option("--method", type=click.Choice(METHODS), default="bptt",
                     show_default=True,
                     help="Training method: plain BPTT, learnable tanh thresholds (lt), lt "
                          "with moderate dropout and the consistency loss (ltmd), temporal "
                          "effective BN folded into per-timestep input shifts (tebn), both "
                          "(ltmd+tebn), or rate-based backpropagation (ratebp); dense and "
                          "conv networks (conv: per-channel thresholds)."),
        click.option("--loss", type=click.Choice(["ce", "count", "count+", "ce+", "ttfs"]),
                     default="ce", show_default=True,
                     help="Training loss: ce (cross-entropy of the counts), count (MSE to "
                          "target counts), count+ (count, gradient normalised per spike), ce+ "
                          "(cross-entropy, normalised per spike), ttfs (time to first spike; "
                          "the hardware then decides by the first output spike and stops the "
                          "sample there; dense networks only)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _options(**kw):
    from .flow import DemoOptions

    return DemoOptions(**kw)


@main.command()
@_run_option
@_train_options
@click.option("--lanes", type=int, default=8, show_default=True, help=_LANES_HELP)
@click.option("--verify-samples", type=int, default=None,
              help="Samples checked in Verilator (default: test split, at least 500).")
@click.option("--membrane-samples", type=int, default=100, show_default=True,
              help="Samples whose every membrane is compared at every timestep.")
@click.option("--no-pnr", is_flag=True, help="Skip nextpnr (Fmax).")
@click.option("--force", is_flag=True, help="Re-run stages even if up to date.")
def demo(run_dir, lanes, verify_samples, membrane_samples, no_pnr, force, **kw):
    """Run the whole flow: train, export, verify, estimate, report."""
    from .flow import VerifyOptions, run_demo

    try:
        run_demo(run_dir, _options(**kw), lanes=lanes,
                 verify=VerifyOptions(samples=verify_samples, membrane_samples=membrane_samples),
                 pnr=not no_pnr, force=force)
    except _user_errors() as exc:
        _fail(exc)


@main.command()
@_run_option
@_train_options
@click.option("--force", is_flag=True, help="Re-train even if up to date.")
def train(run_dir, force, **kw):
    """Train a quantisation-aware SNN and write its checkpoint."""
    from .flow import stage_train

    try:
        stage_train(run_dir, _options(**kw), force=force)
    except _user_errors() as exc:
        _fail(exc)


@main.command()
@_run_option
@click.option("--lanes", type=int, default=8, show_default=True, help=_LANES_HELP)
@click.option("--force", is_flag=True)
@click.option("--nir", "nir", is_flag=True,
              help="Also write network.nir: the integer network as a NIR graph.")
def export(run_dir, lanes, force, nir):
    """Lower the checkpoint to the integer IR and generate Verilog."""
    from .flow import stage_export

    try:
        if nir:
            from .nir_stage import stage_export_nir

            stage_export_nir(run_dir, lanes=lanes, force=force)
        else:
            stage_export(run_dir, lanes=lanes, force=force)
    except _user_errors() as exc:
        _fail(exc)


@main.command("import")
@_run_option
@click.option("--nir", "nir_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="NIR graph to import (nir.write's HDF5 file).")
@click.option("--dataset", type=str, default="digits", show_default=True,
              help=f"Dataset for calibration and accuracy: {', '.join(DATASETS)}.")
@click.option("--timesteps", type=_Limited(TIMESTEPS), default=None,
              help="Timesteps per sample (default: the graph's metadata, else 8).")
@click.option("--encoding", type=click.Choice(["direct", "rate", "latency"]), default=None,
              help="Input encoding (default: the graph's metadata, else direct: pixels / 255 "
                   "as a constant current).")
@click.option("--dt", type=float, default=None,
              help="Euler step of the graph's time constants (default: the graph's metadata, "
                   "else 1e-4 as snnTorch writes; Norse writes 1e-3).")
@click.option("--weight-bits", type=_Limited(WEIGHT_BITS), default=None,
              help="Signed weight width (default: the graph's metadata, else 8).")
@click.option("--membrane-bits", type=_Limited(MEMBRANE_BITS), default=None,
              help="Signed membrane width (default: calibrated on the training split).")
@click.option("--reset", type=click.Choice(["zero", "subtract"]), default=None,
              help="Reset of neurons without spikesmith metadata (default: zero, NIR's reset "
                   "to v_reset).")
@click.option("--force", is_flag=True, help="Re-import even if up to date.")
def import_(run_dir, nir_file, force, **kw):
    """Import a NIR graph (snnTorch, Norse, ...) as the run's network."""
    from .nir_stage import ImportOptions, stage_import

    try:
        stage_import(run_dir, ImportOptions(nir=str(nir_file), **kw), force=force)
    except _user_errors() as exc:
        _fail(exc)


@main.command()
@_run_option
@click.option("--samples", type=int, default=None,
              help="Samples checked (default: test split, at least 500).")
@click.option("--membrane-samples", type=int, default=100, show_default=True)
@click.option("--force", is_flag=True)
@click.option("--trace", is_flag=True,
              help="Write an FST waveform of the first mismatching sample into the run folder.")
@click.option("--trace-sample", type=int, default=None,
              help="Write the waveform of this sample instead (implies --trace).")
def verify(run_dir, samples, membrane_samples, force, trace, trace_sample):
    """Run the run folder's Verilog in Verilator and compare with the golden model."""
    from .flow import VerifyOptions, stage_verify

    try:
        report = stage_verify(run_dir, VerifyOptions(samples=samples,
                                                     membrane_samples=membrane_samples,
                                                     trace=trace, trace_sample=trace_sample),
                              force=force)
    except _user_errors() as exc:
        _fail(exc)
    wave = report.get("waveform")
    if wave:
        click.echo(f"waveform: {Path(run_dir) / wave}")
    if report["mismatches"]:
        seen = f"; waveform: {Path(run_dir) / wave}" if wave else ""
        click.echo(f"MISMATCH: {report['mismatches']} mismatches; first: {report['first']}"
                   f"{seen}", err=True)
        sys.exit(1)


@main.command()
@_run_option
@click.option("--no-pnr", is_flag=True, help="Skip nextpnr (Fmax).")
@click.option("--seeds", type=_Limited(PNR_SEEDS), default=1, show_default=True,
              help=_limited_help("Place the network with nextpnr seeds 1..N and report the "
                                 "minimum and median Fmax", PNR_SEEDS))
@click.option("--force", is_flag=True)
def estimate(run_dir, no_pnr, seeds, force):
    """Synthesise with Yosys, place and route with nextpnr, compare with the analytic model."""
    from .flow import stage_estimate

    try:
        stage_estimate(run_dir, pnr=not no_pnr, seeds=seeds, force=force)
    except _user_errors() as exc:
        _fail(exc)


@main.command()
@_run_option
def report(run_dir):
    """Write report.md and plots from the run folder."""
    from .flow import stage_report

    try:
        path = stage_report(run_dir)
    except _user_errors() as exc:
        _fail(exc)
    click.echo(f"report: {path}")


def _dataset(ctx, param, value: str) -> str:
    if value not in DATASETS:
        raise click.BadParameter(f"unknown dataset {show_value(value)}: accepted datasets are "
                                 f"{', '.join(DATASETS)}")
    return value


def _method(ctx, param, value: str) -> str:
    from .learn_run import METHODS

    if value not in METHODS:
        raise click.BadParameter(f"unknown method {show_value(value)}: accepted methods are "
                                 f"{', '.join(METHODS)}")
    return value


def _input(ctx, param, value: str) -> str:
    from .frontend_features import parse_input

    try:
        parse_input(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@main.command()
@_run_option
@click.option("--dataset", type=str, default="mnist5k", show_default=True, callback=_dataset,
              help=f"Dataset shipped with a pip package: {', '.join(DATASETS)}.")
@click.option("--method", type=str, default="s2stdp", show_default=True, callback=_method,
              help="Learning rule: s2stdp, sstdp or rstdp.")
@click.option("--neurons-per-class", type=_Limited(NEURONS_PER_CLASS), default=5,
              show_default=True,
              help="M: neurons per class (1 = S2-STDP, 2 = PCN, 5 = NCG), "
                   f"{NEURONS_PER_CLASS.describe()}.")
@click.option("--time-bins", type=_Limited(TIME_BINS), default=256, show_default=True,
              help=f"K: spike-time bins, {TIME_BINS.describe()} (the learning core's 12 "
                   "fractional time bits hold log2 K).")
@click.option("--epochs", type=_Limited(EPOCHS), default=10, show_default=True,
              help=_limited_help("Training epochs", EPOCHS))
@click.option("--seed", type=_Limited(SEED), default=0, show_default=True,
              help=_limited_help("Seed of the initial weights and the LFSR lanes", SEED))
@click.option("--rtl", is_flag=True,
              help="Also train the learning core in Verilator in lockstep and compare.")
@click.option("--check-every", type=_Limited(CHECK_EVERY), default=1, show_default=True,
              help="With --rtl: compare every weight/threshold after every N-th sample, "
                   f"{CHECK_EVERY.describe()}.")
@click.option("--input", "input_", type=str, default="pixels", show_default=True,
              callback=_input,
              help="Readout input: pixels (latency-coded) or a frozen spiking front end "
                   "snn-h<W>[x<W2>...][-t<T>][-e<E>], e.g. snn-h256x64.")
def learn(run_dir, dataset, method, neurons_per_class, time_bins, epochs, seed, rtl,
          check_every, input_):
    """Train the S2-STDP + NCG readout on latency-coded pixels or front-end spikes (golden
    model, optionally RTL)."""
    from .learn_run import METHODS, learn_to_run_folder

    try:
        s = learn_to_run_folder(run_dir, dataset=dataset, method=METHODS[method],
                                neurons_per_class=neurons_per_class, time_bins=time_bins,
                                epochs=epochs, seed=seed, rtl=rtl, check_every=check_every,
                                input=input_)
    except ValueError as exc:  # the run folder's summary or front-end cache (options: above)
        _fail(exc)
    acc = s["accuracy"]
    click.echo(f"accuracy: float reference {acc['float_reference']:.4f}, integer "
               f"{acc['integer']:.4f}" + (f", rtl {acc['rtl']:.4f}" if "rtl" in acc else ""))
    if rtl:
        v = s["verify"]
        click.echo(f"lockstep: {v['samples']} samples checked, {v['mismatches']} mismatches")
        if v["mismatches"]:
            click.echo(f"MISMATCH: {v['first_mismatch']}", err=True)
            sys.exit(1)
    click.echo(f"run folder: {run_dir}")


def _numbers(text: str, *, what: str, parse, limit: IntRange) -> tuple:
    """Comma-separated numbers of a study option; their count checked against ``limit``."""
    try:
        values = tuple(parse(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{what}, not {show_value(text)}") from None
    try:
        limit.check(len(values))
    except ValueError as exc:
        raise click.BadParameter(f"{what}; {exc}") from None
    return values


def _ratios(ctx, param, text: str) -> tuple[float, ...]:
    what = (f"--ratios must be comma-separated numbers in 0..{MAX_SLEEP_RATIO:g}, e.g. "
            "0,0.1,0.5")
    values = _numbers(text, what=what, parse=float, limit=RATIOS)
    if not all(0 <= v <= MAX_SLEEP_RATIO for v in values):  # inf and nan fail too
        raise click.BadParameter(f"{what}, not {show_value(text)}")
    return values


def _seeds(ctx, param, text: str) -> tuple[int, ...]:
    what = f"--seeds must be comma-separated integers, each {SEED.describe()}"
    values = _numbers(text, what=what, parse=int, limit=SEEDS)
    for seed in values:
        try:
            SEED.check(seed)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


@main.command("sleep-study")
@_run_option
@click.option("--ratios", default="0,0.1,0.2,0.3,0.5", show_default=True, callback=_ratios,
              help="Sleep ratios (sleep length = ratio x preceding wake interval), "
                   f"{RATIOS.lo}..{RATIOS.hi} of them, each in 0..{MAX_SLEEP_RATIO:g}.")
@click.option("--seeds", default="0,1,2", show_default=True, callback=_seeds,
              help="Seeds (connectivity, input spike trains and noise), "
                   f"{SEEDS.lo}..{SEEDS.hi} of them, each {SEED.describe()}.")
@click.option("--train-images", type=_Limited(TRAIN_IMAGES), default=3000, show_default=True,
              help=_limited_help("Training images of mnist5k", TRAIN_IMAGES))
@click.option("--test-images", type=_Limited(TEST_IMAGES), default=None,
              help=_limited_help(f"Test images of mnist5k (default: all {TEST_IMAGES.hi})",
                                 TEST_IMAGES))
@click.option("--exc", "n_exc", type=_Limited(POPULATION), default=200, show_default=True,
              help=f"Excitatory neurons, {POPULATION.describe()}.")
@click.option("--inh", "n_inh", type=_Limited(POPULATION), default=50, show_default=True,
              help=f"Inhibitory neurons, {POPULATION.describe()}.")
@click.option("--processes", type=_Limited(PROCESSES), default=2, show_default=True,
              help=f"Worker processes, {PROCESSES.describe()}.")
def sleep_study(run_dir, ratios, seeds, train_images, test_images, n_exc, n_inh, processes):
    """Recurrent STDP with sleep phases on mnist5k (15x15), across sleep ratios and seeds."""
    from .sleep_study import run_sleep_study

    try:
        result = run_sleep_study(ratios=ratios, seeds=seeds, n_train=train_images,
                                 n_test=test_images, n_exc=n_exc, n_inh=n_inh,
                                 out_dir=run_dir, processes=processes)
    except ValueError as exc:
        _fail(exc)
    click.echo(f"sleep study written to {run_dir} ({result.__class__.__name__})")


if __name__ == "__main__":
    main()
