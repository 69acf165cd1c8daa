"""The lowering pipeline: one explicit, ordered list of named passes.

``verify`` runs on the input graph and after every pass; the last check requires a fully
lowered graph (integer-only, widths inferred, cores assigned).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from .ir import Graph
from .passes import infer_widths, partition, quantize
from .verify import IRError, verify

__all__ = ["lower", "passes"]


def passes(*, lanes: int) -> tuple[tuple[str, Callable[[Graph], Graph]], ...]:
    """Return the pipeline as ``(name, pass)`` pairs, in the order they run."""
    return (
        ("quantize", quantize),
        ("infer_widths", infer_widths),
        ("partition", partial(partition, lanes=lanes)),
    )


def lower(g: Graph, *, lanes: int = 1,
          trace: Callable[[str, Graph], None] | None = None) -> Graph:
    """Lower a graph from the frontend to integer-only, width-inferred, partitioned IR.

    Parameters
    ----------
    g : Graph
        A float- or integer-stage graph (every pass is idempotent).
    lanes : int
        Synapse lanes per LIF core, a power of two.
    trace : callable, optional
        Called as ``trace(name, graph)`` with ``"input"`` and then after every pass.

    Raises
    ------
    compiler.verify.IRError
        If the input or the output of a pass breaks an IR rule (the message names the pass).
    compiler.errors.QuantizationError
        If a threshold does not fit its membrane.
    ValueError
        If a pass is given a bad option (e.g. ``lanes`` not a power of two).
    """
    _checked("input", g, lowered=False)
    if trace is not None:
        trace("input", g)
    steps = passes(lanes=lanes)
    for k, (name, fn) in enumerate(steps):
        g = fn(g)
        _checked(name, g, lowered=k == len(steps) - 1)
        if trace is not None:
            trace(name, g)
    return g


def _checked(name: str, g: Graph, *, lowered: bool) -> None:
    try:
        verify(g, lowered=lowered)
    except IRError as exc:
        where = "input graph" if name == "input" else f"after pass {name!r}"
        raise IRError([f"{where}: {p}" for p in exc.problems]) from exc
