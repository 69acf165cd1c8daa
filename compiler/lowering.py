"""Lowered IR to the records that ``sim/`` runs and ``hw/`` elaborates.

Both functions take a graph that ``verify(g, lowered=True)`` accepts (the output of
``compiler.pipeline.lower``) and only copy integers and enums out of it: no arithmetic is
re-derived here.
"""

from __future__ import annotations

import numpy as np

from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.network_config import ConvNetworkConfig
from spikesmith.hw.lif.config import LIFCoreConfig, NetworkConfig
from spikesmith.sim.conv import ConvLayer, PoolLayer
from spikesmith.sim.decision import OutputRule
from spikesmith.sim.network import DenseLayer, Layer, NetworkParams

from .ir import ConvArg, Decision, DenseArg, Graph, InputArg, LIFArg, Node, Op, OutputArg, PoolArg
from .passes import partition
from .verify import verify

__all__ = [
    "chain",
    "output_rule",
    "spine",
    "to_conv_network_config",
    "to_hardware_config",
    "to_network_config",
    "to_network_params",
]


def chain(g: Graph) -> tuple[Node, list[tuple[Node, Node] | Node], Node]:
    """Return ``(input, layers, output)`` of a verified graph's chain, where each layer is a
    ``(synapse, lif)`` pair (DENSE or CONV, then LIF) or a POOL node, in order.

    Raises
    ------
    ValueError
        If the output's decision rule is not one ``sim.network`` implements.
    """
    (out,) = g.outputs
    layers: list[tuple[Node, Node] | Node] = []
    node = out.src[0]
    while node.op in (Op.LIF, Op.POOL):
        if node.op is Op.POOL:
            layers.append(node)
            node = node.src[0]
        else:
            layers.append((node.src[0], node))
            node = node.src[0].src[0]
    layers.reverse()
    if not isinstance(out.arg, OutputArg) or not isinstance(out.arg.rule, Decision):
        raise ValueError(f"output rule must be a Decision, not {out.arg}")
    return node, layers, out


def output_rule(g: Graph) -> OutputRule:
    """Return the ``sim.decision.OutputRule`` of a verified graph's OUTPUT node."""
    (out,) = g.outputs
    return OutputRule(out.arg.rule.value)


def spine(g: Graph) -> tuple[Node, list[tuple[Node, Node]], Node]:
    """Return ``(input, [(dense, lif), ...], output)`` of a verified graph of DENSE layers.

    Raises
    ------
    ValueError
        If the output's decision rule is not one ``sim.network`` implements, or the graph has
        a CONV or POOL (see :func:`chain`).
    """
    inp, layers, out = chain(g)
    other = [n.name for n in g.nodes if n.op in (Op.CONV, Op.POOL)]
    if other:
        raise ValueError(f"a graph of dense layers only is expected here; {other} are CONV or "
                         "POOL nodes (the dense LIF cores of hw.lif do not run them)")
    return inp, layers, out


def to_network_params(g: Graph) -> NetworkParams:
    """Return the ``sim.network.NetworkParams`` of a lowered graph (dense, conv and pool
    layers).

    Raises
    ------
    compiler.verify.IRError
        If ``g`` is not a valid, integer-only graph with inferred widths and cores.
    """
    verify(g, lowered=True)
    inp, items, _out = chain(g)
    a: InputArg = inp.arg
    layers = tuple(_layer(item) for item in items)
    return NetworkParams(layers=layers, encoder=a.encoder, timesteps=a.timesteps,
                         rule=output_rule(g))


def _layer(item: tuple[Node, Node] | Node) -> Layer:
    """Return the ``sim`` record of one layer of a verified graph's chain."""
    if isinstance(item, Node):
        p: PoolArg = item.arg
        return PoolLayer(kernel=p.kernel, in_shape=p.in_shape)
    syn, lif = item
    if isinstance(syn.arg, DenseArg):
        return _dense_layer(syn, lif)
    c: ConvArg = syn.arg
    return ConvLayer(weights=np.array(c.weights),
                     bias=None if c.bias is None else np.array(c.bias), weight_bits=c.bits,
                     stride=c.stride, padding=c.padding, in_shape=c.in_shape,
                     lif=lif.arg.params())


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
    ValueError
        If ``g`` has a CONV or POOL (not run by the dense cores this config describes).
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


def _core(syn: Node, lif: Node, pool: Node | None) -> LIFCoreConfig | ConvCoreConfig:
    """Return the core of one DENSE/CONV + LIF pair (and the POOL after it) of a lowered
    graph: its name, lanes and accumulator width as the passes set them; 8-bit direct current
    into the first core, spikes everywhere else (the operand's width)."""
    a = syn.arg
    common = {"name": a.core, "acc_bits": syn.fmt.width, "input_bits": syn.src[0].fmt.width,
              "lanes": a.lanes}
    if isinstance(a, DenseArg):
        return LIFCoreConfig(layer=_dense_layer(syn, lif), **common)
    conv = _layer((syn, lif))
    return ConvCoreConfig(layer=conv, pool=None if pool is None else _layer(pool), **common)


def to_conv_network_config(g: Graph) -> ConvNetworkConfig:
    """Return the ``hw.conv.network_config.ConvNetworkConfig`` of a lowered graph: each CONV
    (with the POOL after it) a conv core, each DENSE a LIF core.

    Raises
    ------
    compiler.verify.IRError
        If ``g`` is not a valid lowered graph.
    ValueError
        If a POOL does not follow a CONV (the hardware pools in a conv core's output).
    """
    verify(g, lowered=True)
    inp, items, _out = chain(g)
    cores: list[LIFCoreConfig | ConvCoreConfig] = []
    for k, item in enumerate(items):
        if isinstance(item, Node):
            continue
        nxt = items[k + 1] if k + 1 < len(items) else None
        pool = nxt if isinstance(nxt, Node) else None
        cores.append(_core(*item, pool))
    for k, item in enumerate(items):
        prev = items[k - 1] if k else None
        if isinstance(item, Node) and not (isinstance(prev, tuple) and prev[0].op is Op.CONV):
            raise ValueError(f"{item.name} is a POOL that does not follow a CONV; the hardware "
                             "pools in a conv core's output")
    a: InputArg = inp.arg
    return ConvNetworkConfig(cores=tuple(cores), timesteps=a.timesteps, encoder=a.encoder)


def to_hardware_config(g: Graph) -> NetworkConfig | ConvNetworkConfig:
    """Return the cores that run a lowered graph: a ``NetworkConfig`` of dense LIF cores when
    it has no CONV or POOL, else a ``ConvNetworkConfig``."""
    if g.of_op(Op.CONV) or g.of_op(Op.POOL):
        return to_conv_network_config(g)
    return to_network_config(g)
