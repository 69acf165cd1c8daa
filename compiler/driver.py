"""One call from a trained model to everything the later stages need."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

from spikesmith.hw.lif.config import NetworkConfig
from spikesmith.sim.network import NetworkParams
from spikesmith.sim.quant import WeightQuantStats

from .frontend.torch import from_torch
from .ir import Graph, Op
from .lowering import to_network_config, to_network_params
from .passes.quantize import quantization_stats
from .pipeline import lower

__all__ = ["CompiledNetwork", "compile_model"]


@dataclass(frozen=True, eq=False)
class CompiledNetwork:
    """A compiled model.

    Attributes
    ----------
    graph : Graph
        The lowered IR (integer-only, widths inferred, partitioned).
    params : NetworkParams
        The integer network ``sim.network.run_network`` runs.
    config : NetworkConfig or None
        The dense LIF core configurations ``hw/`` elaborates; ``None`` for a graph with CONV
        or POOL nodes (``compiler.lowering.to_network_config`` describes dense cores only).
    quant_stats : Mapping[str, WeightQuantStats]
        Per DENSE or CONV node name (``layers.0``, ...), what weight quantisation zeroed and
        clipped (``compiler.passes.quantize.quantization_stats`` of the float graph).
    """

    graph: Graph
    params: NetworkParams
    config: NetworkConfig | None
    quant_stats: Mapping[str, WeightQuantStats] = field(default_factory=dict)


def compile_model(net: nn.Module, *, lanes: int = 1,
                  trace: Callable[[str, Graph], None] | None = None) -> CompiledNetwork:
    """Compile a trained ``spikesmith.model.SpikingMLP`` or ``SpikingConvNet``: frontend
    (BatchNorm folded), pipeline, lowering.

    Parameters
    ----------
    net : nn.Module
        The trained model (see ``compiler.frontend.torch.from_torch``).
    lanes : int
        Synapse lanes per LIF core, a power of two.
    trace : callable, optional
        Passed to ``compiler.pipeline.lower``.

    Raises
    ------
    compiler.errors.CompilerError
        A subclass from the frontend, the verifier or a pass; nothing is returned half-built.
    ValueError
        If ``lanes`` is not a power of two.
    """
    g0 = from_torch(net)
    g = lower(g0, lanes=lanes, trace=trace)
    dense_only = not g.of_op(Op.CONV) and not g.of_op(Op.POOL)
    return CompiledNetwork(graph=g, params=to_network_params(g),
                           config=to_network_config(g) if dense_only else None,
                           quant_stats=quantization_stats(g0))
