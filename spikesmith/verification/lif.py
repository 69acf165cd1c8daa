"""Verify a generated LIF network against the integer golden model, bit for bit.

:func:`verify_network` compiles the Verilog files of a design folder as they are (so an edit
there shows up as mismatches), runs them in Verilator under cocotb through the free-running
harness of :mod:`spikesmith.hw.lif.harness` (words from the host model
:mod:`spikesmith.hw.lif.host`), and compares with :func:`spikesmith.sim.network.run_network` by
``==`` (:func:`compare`): the output layer's spikes at every timestep of every sample, and every
layer's membranes and spikes at every timestep of the first ``membrane_samples`` samples. The
first mismatch is a :class:`~spikesmith.verification.report.Mismatch`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.hw.lif.generate import GeneratedDesign, load_design
from spikesmith.hw.lif.harness import HarnessRun, run_harness
from spikesmith.hw.lif.host import (
    decode_output_events,
    decode_readback,
    events_to_spikes,
    pack_input_events,
)
from spikesmith.sim.encoders import Encoding
from spikesmith.sim.fixed import bits_for_range
from spikesmith.sim.network import NetworkParams, Trace, predict, run_network

from .report import Comparison, Mismatch, Tally, tally_layer

__all__ = ["LIFComparison", "VerifyReport", "compare", "network_config_for", "verify_network"]


@dataclass(frozen=True, eq=False)
class VerifyReport(Comparison):
    """Outcome of one verification run (``mismatches``, ``first``: :class:`Comparison`).

    Mismatches count differing spikes and membranes; the first names the sample, timestep,
    layer, neuron, expected and actual value.

    Attributes
    ----------
    samples : int
        Samples whose output spikes were compared at every timestep.
    membrane_samples : int
        Leading samples whose membranes and spikes of every layer were compared too.
    rtl_predictions : np.ndarray | None
        Class decisions from the RTL's own output spikes and output-layer membranes.
    cycles_per_sample : float
        Mean clock cycles per sample measured in Verilator.
    total_cycles : int
        Cycles of the whole run.
    wall_time_s : float
        Wall time of the call (golden model, build, simulation, comparison), seconds.
    sim_time_s : float
        Wall time of the Verilator build and run, seconds.
    waveform : Path | None
        FST waveform of one sample's run (see :func:`verify_network`), or ``None``.
    waveform_sample : int | None
        The sample in ``waveform``.
    """

    samples: int
    membrane_samples: int
    rtl_predictions: np.ndarray | None
    cycles_per_sample: float
    total_cycles: int
    wall_time_s: float
    sim_time_s: float
    waveform: Path | None = None
    waveform_sample: int | None = None


def network_config_for(params: NetworkParams, *, lanes: int | tuple[int, ...] = 8,
                       name: str = "fc") -> NetworkConfig:
    """Return a ``NetworkConfig`` for ``params`` with accumulators sized by ``params.bounds()``.

    For tests and benchmarks that start from ``sim`` parameters; the compiler's
    ``to_network_config`` is the flow's path.
    """
    lanes_t = lanes if isinstance(lanes, tuple) else (lanes,) * len(params.layers)
    in_bits = 8 if params.encoder.encoding is Encoding.DIRECT else 1
    cores = []
    for k, (layer, bound) in enumerate(zip(params.layers, params.bounds(), strict=True)):
        cores.append(LIFCoreConfig(
            name=f"{name}{k}", layer=layer,
            acc_bits=bits_for_range(-(bound << max(layer.lif.input_shifts, default=0)),
                                    bound << max(layer.lif.input_shifts, default=0)),
            input_bits=in_bits if k == 0 else 1, lanes=lanes_t[k]))
    return NetworkConfig(cores=tuple(cores), timesteps=params.timesteps, encoder=params.encoder)


@dataclass(frozen=True, eq=False)
class LIFComparison(Comparison):
    """Result of :func:`compare` (``mismatches``, ``first``: :class:`Comparison`).

    Attributes
    ----------
    rtl_predictions : np.ndarray | None
        Class decisions computed from the RTL's own output spikes and output membranes
        (``sim.network.predict``), or ``None`` when the output stream was malformed.
    """

    rtl_predictions: np.ndarray | None


def _layer(k: int, name: str) -> tuple[str, str]:
    return ("layer", f"{k} ({name})")


def compare(design: GeneratedDesign, trace: Trace, *, outputs: list[int],
            readback: list[list[int]], membrane_samples: int) -> LIFComparison:
    """Compare RTL outputs with ``trace``.

    The output layer's spikes (output stream) and its membranes and spikes (readback) are
    compared for every sample at every timestep; every other layer's membranes and spikes for
    the first ``membrane_samples`` samples. Mismatches are ordered by sample, then timestep,
    then layer, then neuron.
    """
    cores = design.manifest.cores
    t_n, batch = trace.spikes[-1].shape[:2]
    tally = Tally()
    last = cores[-1]
    n_layers = len(cores)
    try:
        got = events_to_spikes(decode_output_events(last.n_out, outputs), n=last.n_out,
                               timesteps=t_n, batch=batch)
    except ValueError as exc:
        tally.add(Mismatch(where=(_layer(n_layers - 1, last.name),),
                           quantity="output event stream",
                           expected=f"{batch} samples of {t_n} timesteps", actual=str(exc)))
        return LIFComparison.of(tally, rtl_predictions=None)
    tally_layer(tally, got, trace.spikes[-1], quantity="output spike", layer=n_layers - 1,
                name=last.name)
    rtl_final_v = None
    for k, c in enumerate(cores):
        ms = batch if k == n_layers - 1 else membrane_samples
        recs = readback[k]
        if len(recs) != ms * t_n * c.groups:
            tally.add(Mismatch(where=(_layer(k, c.name),), quantity="readback records",
                               expected=ms * t_n * c.groups, actual=len(recs)),
                      key=(0, 0, k, -1))
            continue
        if not ms:
            continue
        mem, spk = decode_readback(c, recs, samples=ms, timesteps=t_n)
        if k == n_layers - 1:
            rtl_final_v = mem[-1]
        exp_v = trace.membranes[k][:, :ms]
        exp_s = trace.spikes[k][:, :ms]
        for what, got_a, exp_a in (("membrane", mem, exp_v), ("spike", spk, exp_s)):
            tally_layer(tally, got_a, exp_a, quantity=what, layer=k, name=c.name)
    preds = None if rtl_final_v is None else predict(got.sum(axis=0, dtype=np.int64), rtl_final_v)
    return LIFComparison.of(tally, rtl_predictions=preds)


def _run(design: GeneratedDesign, inputs: np.ndarray, *, membrane_samples: int,
         build_dir: str | os.PathLike, waveform: Path | None = None) -> HarnessRun:
    """Run the harness on encoded ``inputs`` ``(T, batch, features)``."""
    cores = design.manifest.cores
    t_n, batch = inputs.shape[:2]
    events = pack_input_events(cores[0], inputs)
    limits = [membrane_samples * t_n * c.groups for c in cores[:-1]]
    limits.append(batch * t_n * cores[-1].groups)
    per_ts = sum(3 * c.groups + c.n_out + 16 for c in cores)
    max_cycles = 1000 + len(events) * (max(c.groups for c in cores) + 2) + (
        batch * t_n * per_ts * 4)
    return run_harness(design, build_dir=build_dir, events=events, n_samples=batch,
                       readback_limits=limits, max_cycles=max_cycles, waveform=waveform)


def _trace_sample(design: GeneratedDesign, trace: Trace, cmp: LIFComparison, *,
                  build_dir: str | os.PathLike, waveform: Path,
                  sample: int | None) -> int | None:
    """Write the waveform of ``sample`` (default: the first mismatch's); return the sample."""
    if sample is None and cmp.first is not None:
        sample = cmp.first.position("sample")
    if not isinstance(sample, int):
        return None
    build = Path(build_dir)
    waveform.parent.mkdir(parents=True, exist_ok=True)
    _run(design, trace.inputs[:, sample:sample + 1], membrane_samples=1,
         build_dir=build.with_name(build.name + "-trace"), waveform=waveform)
    return sample


def verify_network(*, design: GeneratedDesign | str | os.PathLike, params: NetworkParams,
                   images: np.ndarray, membrane_samples: int,
                   build_dir: str | os.PathLike, waveform: str | os.PathLike | None = None,
                   trace_sample: int | None = None) -> VerifyReport:
    """Run the design folder's Verilog on ``images`` and compare with ``sim.network``.

    Parameters
    ----------
    design : GeneratedDesign or path
        A design (or its folder) written by ``hw.lif.generate.generate``; the Verilog file in the
        folder is compiled as it is now.
    params : NetworkParams
        The golden model the Verilog must equal.
    images : np.ndarray
        ``uint8`` images ``(batch, features)``.
    membrane_samples : int
        How many leading samples also get membranes and spikes of every layer compared.
    build_dir : path
        Verilator build folder (reused when the sources did not change).
    waveform : path, optional
        After the comparison, run one sample alone (the same encoded input) in a tracing build
        (``<build_dir>-trace``) and write its FST waveform there: sample ``trace_sample``, or
        by default the sample of the first mismatch (nothing is written when all match).
    trace_sample : int, optional
        The sample to trace (index into ``images``).

    Raises
    ------
    ValueError
        If the design and ``params`` disagree on shapes, or ``membrane_samples`` or
        ``trace_sample`` is out of range.
    RuntimeError
        If Verilator is unusable or the simulation did not complete.
    """
    t0 = time.perf_counter()
    if not isinstance(design, GeneratedDesign):
        design = load_design(Path(design))
    cores = design.manifest.cores
    if [(c.n_in, c.n_out) for c in cores] != [(ly.n_in, ly.n_out) for ly in params.layers]:
        raise ValueError(
            "params layer shapes must match the design's cores "
            f"{[(c.n_in, c.n_out) for c in cores]}, not "
            f"{[(ly.n_in, ly.n_out) for ly in params.layers]}")
    images = np.asarray(images)
    batch = images.shape[0] if images.ndim == 2 else 0
    if not 0 <= membrane_samples <= batch:
        raise ValueError(f"membrane_samples must be in 0..{batch}, not {membrane_samples!r}")
    if trace_sample is not None and not 0 <= trace_sample < batch:
        raise ValueError(f"trace_sample must be in 0..{batch - 1}, not {trace_sample!r}")
    trace = run_network(params, images, record_membranes=True)
    t1 = time.perf_counter()
    run = _run(design, trace.inputs, membrane_samples=membrane_samples, build_dir=build_dir)
    sim_s = time.perf_counter() - t1
    cmp = compare(design, trace, outputs=run.outputs, readback=run.readback,
                  membrane_samples=membrane_samples)
    traced = None if waveform is None else _trace_sample(
        design, trace, cmp, build_dir=build_dir, waveform=Path(waveform), sample=trace_sample)
    done = run.sample_done_cycles
    cps = done[-1] / len(done) if done else 0.0
    return VerifyReport(samples=batch, membrane_samples=membrane_samples,
                        mismatches=cmp.mismatches, first=cmp.first,
                        rtl_predictions=cmp.rtl_predictions, cycles_per_sample=cps,
                        total_cycles=run.cycles,
                        wall_time_s=time.perf_counter() - t0, sim_time_s=sim_s,
                        waveform=None if traced is None else Path(waveform),
                        waveform_sample=traced)
