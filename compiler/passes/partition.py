"""Pass ``partition``: one LIF core per DENSE + LIF pair.

Each DENSE gets ``core`` (an identifier made from its name, unique in the graph) and the
number of synapse ``lanes`` of that core; the LIF it feeds runs on the same core. The
hardware core is ``hw.lif.lif_core``, configured by the ``hw.lif.config.LIFCoreConfig`` that
``compiler.lowering.to_network_config`` emits.
"""

from __future__ import annotations

import dataclasses
import re

from spikesmith.sim.limits import LANES

from ..ir import DenseArg, Graph, Node, Op, rewrite

__all__ = ["core_name", "partition"]


def core_name(node_name: str) -> str:
    """Return an identifier for the core of DENSE ``node_name`` (``layers.0`` -> ``layers_0``)."""
    ident = re.sub(r"\W", "_", node_name)
    return ident if ident.isidentifier() else f"core_{ident}"


def partition(g: Graph, *, lanes: int) -> Graph:
    """Return ``g`` with every DENSE assigned to its own core with ``lanes`` synapse lanes.

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
        if new.op is not Op.DENSE:
            return new
        a: DenseArg = new.arg
        base = name = core_name(new.name)
        k = 1
        while name in used:
            name = f"{base}_{k}"
            k += 1
        used.add(name)
        return dataclasses.replace(new, arg=dataclasses.replace(a, core=name, lanes=lanes))
    return rewrite(g, assign)
