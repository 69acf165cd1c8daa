"""Lowered IR to the records that ``sim/`` runs and ``hw/`` elaborates.

Both functions take a graph that ``verify(g, lowered=True)`` accepts (the output of
``compiler.pipeline.lower``) and only copy integers and enums out of it: no arithmetic is
re-derived here.
"""

from __future__ import annotations

import numpy as np

from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.sim.network import DenseLayer, NetworkParams

from .ir import Decision, DenseArg, Graph, InputArg, LIFArg, Node, Op, OutputArg
from .passes import partition
from .verify import verify

__all__ = ["spine", "to_network_config", "to_network_params"]


def spine(g: Graph) -> tuple[Node, list[tuple[Node, Node]], Node]:
    """Return ``(input, [(dense, lif), ...], output)`` of a verified graph's chain.

    Raises
    ------
    ValueError
        If the output's decision rule is not one ``sim.network`` implements.
    """
    (out,) = g.outputs
    pairs = []
    node = out.src[0]
    while node.op is Op.LIF:
        pairs.append((node.src[0], node))
        node = node.src[0].src[0]
    pairs.reverse()
    if not isinstance(out.arg, OutputArg) or out.arg.rule is not Decision.MAX_COUNT:
        raise ValueError(f"output rule must be {Decision.MAX_COUNT.value}, not {out.arg.rule}")
    return node, pairs, out


def to_network_params(g: Graph) -> NetworkParams:
    """Return the ``sim.network.NetworkParams`` of a lowered graph.

    Raises
    ------
    compiler.verify.IRError
        If ``g`` is not a valid, integer-only graph with inferred widths and cores.
    """
    verify(g, lowered=True)
    inp, pairs, _out = spine(g)
    a: InputArg = inp.arg
    layers = tuple(_dense_layer(dense, lif) for dense, lif in pairs)
    return NetworkParams(layers=layers, encoder=a.encoder, timesteps=a.timesteps)


def _dense_layer(dense: Node, lif: Node) -> DenseLayer:
    """Return the ``sim`` record of one DENSE + LIF pair of a verified graph."""
    d: DenseArg = dense.arg
    n: LIFArg = lif.arg
    return DenseLayer(weights=np.array(d.weights), weight_bits=d.bits, lif=n.params())


def to_network_config(g: Graph, *, lanes: int | None = None) -> NetworkConfig:
    """Return the ``hw.lif.config.NetworkConfig`` of a lowered graph.

    Parameters
    ----------
    g : Graph
        Output of ``compiler.pipeline.lower``.
    lanes : int, optional
        Re-partition with this many synapse lanes per core first (``passes.partition``);
        by default the lanes the graph was partitioned with are used.

    Raises
    ------
    compiler.verify.IRError
        If ``g`` is not a valid lowered graph.
    """
    if lanes is not None:
        g = partition(g, lanes=lanes)
    verify(g, lowered=True)
    inp, pairs, _out = spine(g)
    a: InputArg = inp.arg
    cores = []
    for dense, lif in pairs:
        d: DenseArg = dense.arg
        # 8-bit direct current into the first core, spikes everywhere else: the operand's width.
        cores.append(LIFCoreConfig(
            name=d.core, layer=_dense_layer(dense, lif), acc_bits=dense.fmt.width,
            input_bits=dense.src[0].fmt.width, lanes=d.lanes,
        ))
    return NetworkConfig(cores=tuple(cores), timesteps=a.timesteps, encoder=a.encoder)
