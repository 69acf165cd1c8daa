"""The hardware of a lowered IR graph, whichever cores run it: generation and verification.

A graph of dense layers runs on the dense LIF cores (``hw.lif``: ``NetworkConfig``, the
``design.json`` manifest, :func:`~spikesmith.verification.lif.verify_network`); a graph with
convolutions runs on conv cores followed by dense cores (``hw.conv``: ``ConvNetworkConfig``,
:func:`~spikesmith.verification.conv.verify_conv_network`).
``compiler.lowering.to_hardware_config`` decides which; this module is the one place where the
flow's stages branch on it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .compiler.ir import ConvArg, Graph, Node, PoolArg
from .compiler.lowering import chain, output_rule, to_hardware_config, to_network_params
from .hw.conv.config import ConvCoreConfig
from .hw.conv.network_config import ConvNetworkConfig
from .sim.conv import ConvLayer, PoolLayer, scatter_taps
from .sim.network import NetworkParams, run_network
from .verification.lif import VerifyReport

__all__ = [
    "analytic_cycles_per_sample",
    "core_summaries",
    "generate_hardware",
    "layer_summaries",
    "synaptic_ops",
    "verify_hardware",
]


def core_summaries(graph: Graph) -> list[dict[str, Any]]:
    """Return one record per core of ``graph``'s hardware: name, kind, inputs, outputs,
    accumulator and weight bits, threshold, lanes."""
    out = []
    for c in to_hardware_config(graph).cores:
        out.append({"name": c.name, "kind": "conv" if isinstance(c, ConvCoreConfig) else "dense",
                    "n_in": c.layer.n_in, "n_out": c.layer.n_out, "acc_bits": c.acc_bits,
                    "threshold": c.lif.threshold, "weight_bits": c.layer.weight_bits,
                    "lanes": c.lanes})
    return out


def layer_summaries(graph: Graph) -> list[dict[str, Any]]:
    """Return one record per layer of ``graph`` in order, with its ``kind`` (``conv``,
    ``pool`` or ``dense``), its input and output sizes (maps as ``[C, H, W]``) and, for conv and
    dense layers, the weight and accumulator bits, threshold, core and lanes."""
    _inp, items, _out = chain(graph)
    out = []
    for item in items:
        if isinstance(item, Node):
            p: PoolArg = item.arg
            out.append({"kind": "pool", "kernel": p.kernel, "in": list(p.in_shape),
                        "out": list(p.out_shape)})
            continue
        syn, lif = item
        a = syn.arg
        entry: dict[str, Any] = {"kind": "conv" if isinstance(a, ConvArg) else "dense"}
        if isinstance(a, ConvArg):
            entry.update({"in": list(a.in_shape), "out": list(a.out_shape),
                          "kernel": int(a.weights.shape[-1]), "stride": a.stride,
                          "padding": a.padding})
        else:
            entry.update({"in": a.n_in, "out": a.n_out})
        entry.update({"weight_bits": a.bits, "acc_bits": syn.fmt.width,
                      "threshold": lif.arg.threshold, "core": a.core, "lanes": a.lanes})
        out.append(entry)
    return out


def _refuse_first_spike(graph: Graph) -> None:
    """Raise ``CompilerError`` if ``graph`` decides by the first spike: the conv cores do not
    implement that output rule (only the dense top, ``hw.lif.first_spike``, does)."""
    from .sim.decision import OutputRule

    if output_rule(graph) is OutputRule.FIRST_SPIKE:
        from .compiler.errors import CompilerError

        raise CompilerError("the first_spike output rule is implemented by the dense cores "
                            "only; a network with conv layers needs rule=max_count")


def generate_hardware(graph: Graph, out_dir: str | os.PathLike) -> Path:
    """Write the Verilog (and, for dense cores, RTLIL and ``design.json``) of ``graph`` into
    ``out_dir``; return the Verilog file."""
    config = to_hardware_config(graph)
    if isinstance(config, ConvNetworkConfig):
        _refuse_first_spike(graph)
        if (problem := config.output_problem()) is not None:
            from .compiler.errors import CompilerError

            raise CompilerError(problem)
        from .hw.conv.generate import generate_conv_network

        return generate_conv_network(config, out_dir).verilog
    from .hw.lif.generate import generate

    return generate(config, out_dir, rule=output_rule(graph)).verilog


def verify_hardware(graph: Graph, design_dir: str | os.PathLike, *, images: np.ndarray,
                    membrane_samples: int, build_dir: str | os.PathLike,
                    waveform: Path | None = None, trace_sample: int | None = None
                    ) -> VerifyReport:
    """Compile the Verilog in ``design_dir`` as it is and compare it with ``graph``'s golden
    model on ``images`` (see the two verification modules).

    Raises
    ------
    ValueError
        If a waveform is asked of a conv or first-spike network (not yet supported by their
        harnesses).
    """
    params = to_network_params(graph)
    config = to_hardware_config(graph)
    if isinstance(config, ConvNetworkConfig):
        if waveform is not None:
            raise ValueError("--trace is not yet available for conv networks")
        from .hw.conv.generate import conv_network_design
        from .verification.conv import verify_conv_network

        return verify_conv_network(design=conv_network_design(config, design_dir),
                                   params=params, images=images,
                                   membrane_samples=membrane_samples, build_dir=build_dir)
    from .sim.decision import OutputRule

    if params.rule is OutputRule.FIRST_SPIKE:
        if waveform is not None:
            raise ValueError("--trace is not yet available for first-spike networks")
        from .verification.first_spike import first_spike_verify_report

        return first_spike_verify_report(design_dir, params, images, build_dir=build_dir)
    from .verification.lif import verify_network

    return verify_network(design=design_dir, params=params, images=images,
                          membrane_samples=membrane_samples, build_dir=build_dir,
                          waveform=waveform, trace_sample=trace_sample)


def analytic_cycles_per_sample(graph: Graph, params: NetworkParams, images: np.ndarray
                               ) -> float | None:
    """Mean cycles per sample that ``hw.lif.estimate.estimate_cycles`` predicts from the golden
    model's own event counts (input events and spikes of every layer per timestep); for a
    network with conv cores, ``hw.conv.estimate.network_sample_cycles`` (its slowest core)."""
    config = to_hardware_config(graph)
    trace = run_network(params, images, record_membranes=False)
    if isinstance(config, ConvNetworkConfig):
        from .hw.conv.estimate import network_sample_cycles

        idx = [i for i, layer in enumerate(params.layers) if not isinstance(layer, PoolLayer)]
        ins = [trace.inputs if i == 0 else trace.spikes[i - 1] for i in idx]
        return sum(network_sample_cycles(config, [x[:, b] for x in ins],
                                         [trace.spikes[i][:, b] for i in idx])
                   for b in range(images.shape[0])) / max(1, images.shape[0])
    from .hw.lif.estimate import estimate_cycles

    total = 0
    for b in range(images.shape[0]):
        events = [int(np.count_nonzero(trace.inputs[t, b])) for t in range(params.timesteps)]
        total += estimate_cycles(config, input_events_per_step=events,
                                 spikes=[s[:, b] for s in trace.spikes])
    return total / max(1, images.shape[0])


def _reach(layer: ConvLayer) -> np.ndarray:
    """Outputs per channel that an input at each position reaches, ``(C_in*H*W,)``."""
    c_in, h, w = layer.in_shape
    per_pos = np.array([[len(scatter_taps(layer, y=y, x=x)) for x in range(w)]
                        for y in range(h)], dtype=np.int64)
    return np.tile(per_pos.reshape(-1), c_in)


def synaptic_ops(params: NetworkParams, images: np.ndarray) -> int:
    """Synaptic operations the hardware performs on ``images``: an input event of a dense
    layer updates all its neurons (``n_out``); one of a conv layer updates ``C_out`` neurons at
    every output position it reaches (``sim.conv.scatter_taps``); pooling does none. Summed
    over layers, timesteps and samples."""
    trace = run_network(params, images, record_membranes=False)
    inputs = [trace.inputs, *trace.spikes[:-1]]
    total = 0
    for x, layer in zip(inputs, params.layers, strict=True):
        active = np.asarray(x) != 0
        if isinstance(layer, ConvLayer):
            total += int(active.sum(axis=(0, 1)) @ _reach(layer)) * layer.out_shape[0]
        elif not isinstance(layer, PoolLayer):
            total += int(active.sum()) * layer.n_out
    return total
