"""One call from a trained model to everything the later stages need."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn

from spikesmith.hw.lif.config import NetworkConfig
from spikesmith.sim.network import NetworkParams
from spikesmith.sim.quant import WeightQuantStats

from .frontend.torch import from_torch
from .ir import Graph
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
    config : NetworkConfig
        The core configurations ``hw/`` elaborates.
    quant_stats : Mapping[str, WeightQuantStats]
        Per DENSE node name (``layers.0``, ...), what weight quantisation zeroed and clipped
        (``compiler.passes.quantize.quantization_stats`` of the float graph).
    """

    graph: Graph
    params: NetworkParams
    config: NetworkConfig
    quant_stats: Mapping[str, WeightQuantStats] = field(default_factory=dict)


def compile_model(net: nn.Module, *, lanes: int = 1,
                  trace: Callable[[str, Graph], None] | None = None) -> CompiledNetwork:
    """Compile a trained ``spikesmith.model.SpikingMLP``: frontend, pipeline, lowering.

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
    return CompiledNetwork(graph=g, params=to_network_params(g), config=to_network_config(g),
                           quant_stats=quantization_stats(g0))
