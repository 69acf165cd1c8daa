"""Pass ``infer_widths``: give every value a format that provably holds it.

Per-op analysis by ``functools.singledispatch`` on the node argument:

* DENSE: ``|I| <= sim.ops.accumulator_bound(W, input_max=operand.fmt.max_value)`` for every
  input the operand's format can carry (every partial sum too, in any order), so the signed
  accumulator of ``sim.fixed.bits_for_range(-bound, bound)`` bits never overflows. It is
  marked ``Overflow.WRAP``: with the bound proven, no saturation logic is needed.
* CONV: the same with ``|I| <= sim.conv.conv_weight_bound(W, b, input_max=...)``, i.e.
  ``max_o (|b[o]| + input_max * sum |W[o]|)`` over one output channel's ``C_in*K*K`` taps.
* A DENSE or CONV whose LIF has a per-timestep input shift table ``e`` (``sim.lif``): the
  bound is shifted left by ``max(e)``, since the core accumulates the shifted products
  ``w << e[t]`` (and a CONV's shifted bias ``b << e[t]``).
* LIF: the membrane is saturating (``sim.lif.charge`` clamps to it); the pass marks it so.
* INPUT, POOL, OUTPUT: their formats are fixed by the encoder, spikes and the class count;
  kept.

Needs an integer-stage graph (run ``quantize`` first).
"""

from __future__ import annotations

import dataclasses
from functools import singledispatch

from spikesmith.sim.conv import conv_weight_bound
from spikesmith.sim.fixed import FixedFormat, Overflow, bits_for_range
from spikesmith.sim.ops import accumulator_bound

from ..ir import ConvArg, DenseArg, Graph, LIFArg, Node, rewrite

__all__ = ["accumulator_format", "bound_format", "infer_widths"]


def bound_format(bound: int) -> FixedFormat:
    """Return the narrowest signed, wrapping format holding ``-bound .. bound``."""
    return FixedFormat(bits_for_range(-bound, bound), overflow=Overflow.WRAP)


def accumulator_format(weights, *, input_max: int) -> FixedFormat:
    """Return the narrowest signed format holding ``|x @ weights.T|`` for ``0 <= x <= input_max``.

    The bound is ``sim.ops.accumulator_bound``; the format wraps (it never needs to).
    """
    return bound_format(accumulator_bound(weights, input_max=input_max))


@singledispatch
def _infer(arg: object, node: Node, shift: int = 0) -> Node:
    return node


def _require_integer(arg: DenseArg | ConvArg, node: Node) -> None:
    if not arg.is_integer:
        raise ValueError(f"node {node.name!r}: weights must be integers to infer widths, not "
                         f"{arg.weights.dtype}; run passes.quantize first")


@_infer.register
def _(arg: DenseArg, node: Node, shift: int = 0) -> Node:
    _require_integer(arg, node)
    bound = accumulator_bound(arg.weights, input_max=node.src[0].fmt.max_value)
    return dataclasses.replace(node, fmt=bound_format(bound << shift))


@_infer.register
def _(arg: ConvArg, node: Node, shift: int = 0) -> Node:
    _require_integer(arg, node)
    bound = conv_weight_bound(arg.weights, arg.bias, input_max=node.src[0].fmt.max_value)
    return dataclasses.replace(node, fmt=bound_format(bound << shift))


@_infer.register
def _(arg: LIFArg, node: Node, shift: int = 0) -> Node:
    membrane = dataclasses.replace(arg.membrane, overflow=Overflow.SATURATE)
    return dataclasses.replace(node, arg=dataclasses.replace(arg, membrane=membrane))


def infer_widths(g: Graph) -> Graph:
    """Return ``g`` with every DENSE and CONV accumulator format inferred and membranes
    saturating.

    Raises
    ------
    ValueError
        If a DENSE or CONV still has float weights.
    """
    shifts = {id(n.src[0]): max(n.arg.input_shifts, default=0)
              for n in g.nodes if isinstance(n.arg, LIFArg) and n.src}
    return rewrite(g, lambda old, new: _infer(new.arg, new, shifts.get(id(old), 0)))
