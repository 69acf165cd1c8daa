"""Pass ``quantize``: fold float weights and thresholds into the integers of the contract.

Per DENSE + LIF or CONV + LIF pair, through ``sim.quant`` only:

* ``w_int, s = sim.quant.quantize_weights(w, bits=bits)``;
* ``theta_int = sim.quant.quantize_threshold(theta, scale=s, input_scale=input_scale,
  membrane_bits=membrane.width)`` where ``input_scale`` is the synapse op's float input unit;
  per-channel thresholds each by the same rule, ``theta_int`` then their maximum;
* a CONV bias: ``b_int = sim.quant.quantize_bias(b, scale=s, input_scale=input_scale)`` (that
  it fits the membrane is a rule ``compiler.verify`` checks).

The pass is a per-op table of transforms. Integer-stage nodes are left as they are, so the
pass is idempotent. ``quantization_stats`` reports, per float DENSE, what the pass will zero
and clip (``sim.quant.weight_quant_stats``, the same arithmetic).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from spikesmith.sim.quant import (
    WeightQuantStats,
    quantize_bias,
    quantize_threshold,
    quantize_weights,
    weight_quant_stats,
)

from ..errors import QuantizationError
from ..ir import ConvArg, DenseArg, Graph, LIFArg, Node, Op, SynapseArg, rewrite

__all__ = ["quantization_stats", "quantize"]


def _dense(old: Node, new: Node) -> Node:
    a: DenseArg = new.arg
    if a.is_integer:
        return new
    w_int, _scale = quantize_weights(a.weights, bits=a.bits)
    return dataclasses.replace(new, arg=dataclasses.replace(a, weights=w_int, input_scale=None))


def _conv(old: Node, new: Node) -> Node:
    a: ConvArg = new.arg
    if a.is_integer:
        return new
    w_int, scale = quantize_weights(a.weights, bits=a.bits)
    bias = None if a.bias is None else quantize_bias(a.bias, scale=scale,
                                                      input_scale=a.input_scale)
    return dataclasses.replace(new, arg=dataclasses.replace(a, weights=w_int, bias=bias,
                                                            input_scale=None))


def _lif(old: Node, new: Node) -> Node:
    a: LIFArg = new.arg
    if a.is_integer:
        return new
    # The scale comes from the *float* weights of the operand before this rewrite.
    dense: SynapseArg = old.src[0].arg
    _w, scale = quantize_weights(dense.weights, bits=dense.bits)
    def fold(t: float) -> int:
        return quantize_threshold(t, scale=scale, input_scale=dense.input_scale,
                                  membrane_bits=a.membrane.width)
    channels = tuple(fold(t) for t in a.channel_thresholds)
    return dataclasses.replace(new, arg=dataclasses.replace(
        a, threshold=max(channels) if channels else fold(a.threshold),
        channel_thresholds=channels))


#: Transform per op; ops not listed are kept.
_RULES: dict[Op, Callable[[Node, Node], Node]] = {Op.DENSE: _dense, Op.CONV: _conv,
                                                  Op.LIF: _lif}


def quantize(g: Graph) -> Graph:
    """Return ``g`` with every float weight and threshold folded to integers.

    Raises
    ------
    compiler.errors.QuantizationError
        If a threshold does not fit its membrane (``sim.quant.quantize_threshold``); the
        message is prefixed with the LIF node's name.
    """
    def step(old: Node, new: Node) -> Node:
        fn = _RULES.get(new.op)
        if fn is None:
            return new
        try:
            return fn(old, new)
        except ValueError as exc:
            raise QuantizationError(f"node {new.name!r}: {exc}") from exc
    return rewrite(g, step)


def quantization_stats(g: Graph) -> dict[str, WeightQuantStats]:
    """Return, per float-stage DENSE or CONV node name in graph order, what ``quantize`` does
    to its weights (integer-stage nodes are already quantised and are not listed).

    Raises
    ------
    compiler.errors.QuantizationError
        If a DENSE's weights are not finite; the message is prefixed with the node's name.
    """
    out: dict[str, WeightQuantStats] = {}
    for n in g.nodes:
        if n.op in (Op.DENSE, Op.CONV) and not n.arg.is_integer:
            try:
                out[n.name] = weight_quant_stats(n.arg.weights, bits=n.arg.bits)
            except ValueError as exc:
                raise QuantizationError(f"node {n.name!r}: {exc}") from exc
    return out
