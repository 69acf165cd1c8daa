"""Verify a generated conv network (conv cores, then dense cores) against the golden model.

:func:`verify_conv_network` runs the Verilog file of a
:class:`~spikesmith.hw.conv.generate.GeneratedConvDesign` as it is on disk in Verilator through
the harness of :mod:`spikesmith.hw.conv.harness` (words from the host models
:mod:`spikesmith.hw.conv.host` and :mod:`spikesmith.hw.lif.host`) and compares, by ``==``, with
:func:`spikesmith.sim.network.run_network`: the output layer's spikes at every timestep of every
sample, and the membranes and spikes of every core (a conv core's before its pooling) at every
timestep of the first ``membrane_samples`` samples. It reports through the same
:class:`~spikesmith.verification.lif.VerifyReport` as the dense network.
"""

from __future__ import annotations

import os
import time

import numpy as np

from spikesmith.hw.conv import host as conv_host
from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.generate import GeneratedConvDesign
from spikesmith.hw.conv.harness import run_conv_harness
from spikesmith.hw.conv.network_config import ConvNetworkConfig
from spikesmith.hw.lif import host as lif_host
from spikesmith.hw.lif.generate import core_record
from spikesmith.sim.conv import PoolLayer
from spikesmith.sim.network import NetworkParams, Trace, predict, run_network

from .lif import VerifyReport
from .report import Mismatch, Tally, tally_layer

__all__ = ["verify_conv_network"]


def _layer_indices(params: NetworkParams) -> list[int]:
    """Index in ``params.layers`` of the layer each core computes (pool layers ride along)."""
    return [i for i, layer in enumerate(params.layers) if not isinstance(layer, PoolLayer)]


def _words(core) -> int:
    return core.state_words if isinstance(core, ConvCoreConfig) else core.groups


def _step_cycles(core) -> int:
    """A bound on one timestep's cycles of ``core``: every input active, then the pass."""
    per_event = core.kernel ** 2 * core.groups if isinstance(core, ConvCoreConfig) \
        else core.groups
    return core.layer.n_in * per_event + 3 * _words(core) + core.layer.n_out + 16


def _decode(core, records: list[int], *, samples: int, timesteps: int):
    if isinstance(core, ConvCoreConfig):
        return conv_host.decode_readback(core, records, samples=samples, timesteps=timesteps)
    return lif_host.decode_readback(core_record(core), records, samples=samples,
                                    timesteps=timesteps)


def _compare(config: ConvNetworkConfig, params: NetworkParams, trace: Trace, *,
             outputs: list[int], readback: list[list[int]], membrane_samples: int
             ) -> tuple[Tally, np.ndarray | None]:
    """Compare the harness's outputs with ``trace``; return the tally and the RTL's class
    decisions (``None`` if the output stream is malformed)."""
    tally = Tally()
    t_n, batch = trace.spikes[-1].shape[:2]
    cores, layers = config.cores, _layer_indices(params)
    last = len(cores) - 1
    try:
        got = lif_host.events_to_spikes(
            lif_host.decode_output_events(cores[-1].n_out, outputs), n=cores[-1].n_out,
            timesteps=t_n, batch=batch)
    except ValueError as exc:
        tally.add(Mismatch(where=(("layer", f"{last} ({cores[-1].name})"),),
                           quantity="output event stream",
                           expected=f"{batch} samples of {t_n} timesteps", actual=str(exc)))
        return tally, None
    tally_layer(tally, got, trace.spikes[-1], quantity="output spike", layer=last,
                name=cores[-1].name)
    final_v = None
    for k, (core, idx) in enumerate(zip(cores, layers, strict=True)):
        ms = batch if k == last else membrane_samples
        if len(readback[k]) != ms * t_n * _words(core):
            tally.add(Mismatch(where=(("layer", f"{k} ({core.name})"),),
                               quantity="readback records", expected=ms * t_n * _words(core),
                               actual=len(readback[k])), key=(0, 0, k, -1))
            continue
        if not ms:
            continue
        mem, spk = _decode(core, readback[k], samples=ms, timesteps=t_n)
        final_v = mem[-1] if k == last else final_v
        tally_layer(tally, mem, trace.membranes[idx][:, :ms], quantity="membrane", layer=k,
                    name=core.name)
        tally_layer(tally, spk, trace.spikes[idx][:, :ms], quantity="spike", layer=k,
                    name=core.name)
    preds = None if final_v is None else predict(got.sum(axis=0, dtype=np.int64), final_v)
    return tally, preds


def verify_conv_network(*, design: GeneratedConvDesign, params: NetworkParams,
                        images: np.ndarray, membrane_samples: int,
                        build_dir: str | os.PathLike) -> VerifyReport:
    """Run ``design``'s Verilog file (as it is on disk) on ``images`` and compare with
    ``sim.network``.

    Parameters
    ----------
    design : GeneratedConvDesign
        A conv network written by ``hw.conv.generate.generate_conv_network`` (its ``config``
        gives the cores; its ``verilog`` file is compiled as it is now).
    params : NetworkParams
        The golden model the Verilog must equal.
    images : np.ndarray
        ``uint8`` images ``(batch, features)``.
    membrane_samples : int
        How many leading samples also get every core's membranes and spikes compared.
    build_dir : path
        Verilator build folder (reused when the sources did not change).

    Raises
    ------
    ValueError
        If the design's cores do not compute ``params``' layers, its output core is a conv core
        (``ConvNetworkConfig.output_problem``), or ``membrane_samples`` is out of range.
    RuntimeError
        If Verilator is unusable or the simulation did not complete.
    """
    t0 = time.perf_counter()
    config = design.config
    if not isinstance(config, ConvNetworkConfig):
        raise ValueError("design must be a conv network (generate_conv_network)")
    if (problem := config.output_problem()) is not None:
        raise ValueError(problem)
    layers = _layer_indices(params)
    shapes = [(c.layer.n_in, c.layer.n_out) for c in config.cores]
    if shapes != [(params.layers[i].n_in, params.layers[i].n_out) for i in layers]:
        raise ValueError(f"the design's cores {shapes} do not compute params' layers")
    images = np.asarray(images)
    batch = images.shape[0] if images.ndim == 2 else 0
    if not 0 <= membrane_samples <= batch:
        raise ValueError(f"membrane_samples must be in 0..{batch}, not {membrane_samples!r}")
    trace = run_network(params, images, record_membranes=True)
    t_n, cores = params.timesteps, config.cores
    first = cores[0]
    events = (conv_host.pack_feature_events(first, trace.inputs)
              if isinstance(first, ConvCoreConfig)
              else lif_host.pack_input_events(first, trace.inputs))
    limits = [membrane_samples * t_n * _words(c) for c in cores[:-1]]
    limits.append(batch * t_n * _words(cores[-1]))
    max_cycles = 1000 + 2 * batch * t_n * sum(_step_cycles(c) for c in cores)
    t1 = time.perf_counter()
    run = run_conv_harness(design, build_dir=build_dir, events=events, n_samples=batch,
                           readback_limits=limits, max_cycles=max_cycles)
    sim_s = time.perf_counter() - t1
    tally, preds = _compare(config, params, trace, outputs=run.outputs, readback=run.readback,
                            membrane_samples=membrane_samples)
    done = run.sample_done_cycles
    return VerifyReport.of(tally, samples=batch, membrane_samples=membrane_samples,
                           rtl_predictions=preds,
                           cycles_per_sample=done[-1] / len(done) if done else 0.0,
                           total_cycles=run.cycles, wall_time_s=time.perf_counter() - t0,
                           sim_time_s=sim_s, waveform=None, waveform_sample=None)
