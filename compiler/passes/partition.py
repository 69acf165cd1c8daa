"""Pass ``partition``: one core per DENSE + LIF or CONV + LIF pair.

Each DENSE or CONV gets ``core`` (an identifier made from its name, unique in the graph) and
the number of ``lanes`` of that core; the LIF it feeds runs on the same core. The hardware
core of a DENSE is ``hw.lif.lif_core``, configured by the ``hw.lif.config.LIFCoreConfig``
that ``compiler.lowering.to_network_config`` emits; a CONV runs on the conv core of
``hw/conv/`` (lanes over output channels). A POOL is address arithmetic between cores and
gets no core.
"""

from __future__ import annotations

import dataclasses
import re

from spikesmith.sim.limits import LANES

from ..ir import Graph, Node, Op, SynapseArg, rewrite

__all__ = ["core_name", "partition"]


def core_name(node_name: str) -> str:
    """Return an identifier for the core of ``node_name`` (``layers.0`` -> ``layers_0``)."""
    ident = re.sub(r"\W", "_", node_name)
    return ident if ident.isidentifier() else f"core_{ident}"


def partition(g: Graph, *, lanes: int) -> Graph:
    """Return ``g`` with every DENSE and CONV assigned to its own core with ``lanes`` lanes.

    Parameters
    ----------
    g : Graph
        An integer-stage graph.
    lanes : int
        Synapse lanes per core, in ``sim.limits.LANES``.

    Raises
    ------
    ValueError
        If ``lanes`` is outside ``sim.limits.LANES``.
    """
    LANES.check(lanes)
    used: set[str] = set()

    def assign(_old: Node, new: Node) -> Node:
        if new.op not in (Op.DENSE, Op.CONV):
            return new
        a: SynapseArg = new.arg
        base = name = core_name(new.name)
        k = 1
        while name in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name)
        return dataclasses.replace(new, arg=dataclasses.replace(a, core=name, lanes=lanes))
    return rewrite(g, assign)
