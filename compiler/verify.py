"""The IR checks itself: a per-op rule table and :func:`verify`.

:data:`RULES` states, for each op, its operand count, the ops its operands may be, its
argument type and a check of its argument, format and shapes (for CONV and POOL: the
geometry of ``sim.conv``, the operand's size and map, the bias against the membrane of the
LIF it feeds, OR pooling of spikes only). Graph-wide rules (names, order, the chain shape of
the spine, the stage) are checked by :func:`verify` itself. Every problem
is collected, then one :class:`IRError` lists them all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spikesmith.sim.conv import check_shape, conv_weight_bound
from spikesmith.sim.encoders import EncoderParams
from spikesmith.sim.fixed import FixedFormat, bits_for_range
from spikesmith.sim.lif import LIFParams
from spikesmith.sim.limits import LANES, LAYER_WIDTH, TIMESTEPS, WEIGHT_BITS, IntRange
from spikesmith.sim.ops import accumulator_bound

from .errors import CompilerError
from .ir import (
    SPIKE_FORMAT,
    ConvArg,
    Decision,
    DenseArg,
    Graph,
    InputArg,
    LIFArg,
    Node,
    Op,
    OutputArg,
    PoolArg,
    Stage,
    SynapseArg,
    feature_shape,
    input_format,
    output_format,
    size,
    stage_of,
)

__all__ = ["NAME_PATTERN", "RULES", "IRError", "Rule", "verify"]

#: Accepted node names: a dotted path of identifiers-with-digits, like ``layers.0``.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")


class IRError(CompilerError):
    """A graph breaks IR rules; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"IR verification failed with {len(problems)} problem(s):\n{lines}")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _out_of_range(limit: IntRange, value: object) -> list[str]:
    """Return ``[]`` if ``value`` is in the ``sim.limits`` record, else its one problem."""
    try:
        limit.check(value)
    except ValueError as exc:
        return [str(exc)]
    return []


def _is_pos_float(x: object) -> bool:
    return isinstance(x, float) and math.isfinite(x) and x > 0


def _check_input(n: Node, stage: Stage) -> list[str]:
    a: InputArg = n.arg
    out = []
    out += [f"features: {p}" for p in _out_of_range(LAYER_WIDTH, a.features)]
    out += _out_of_range(TIMESTEPS, a.timesteps)
    if not isinstance(a.encoder, EncoderParams):
        out.append(f"encoder must be an EncoderParams, not {a.encoder!r}")
    elif n.fmt != input_format(a.encoder):
        out.append(f"format must be {input_format(a.encoder)} for {a.encoder.encoding.value} "
                   f"encoding, not {n.fmt}")
    return out


def _operand_problems(n: Node, n_in: int) -> list[str]:
    if n.src and n_in != size(n.src[0]):
        return [(f"weights have {n_in} inputs but operand {n.src[0].name!r} produces "
                f"{size(n.src[0])} values")]
    return []


def _float_synapse(n: Node, arrays: list[np.ndarray]) -> list[str]:
    """Float-stage rules shared by DENSE and CONV (weights and, for CONV, the bias)."""
    a: DenseArg | ConvArg = n.arg
    out = []
    if not all(np.issubdtype(w.dtype, np.floating) for w in arrays):
        out.append(f"weights must be float in a float-stage graph, not "
                   f"{[str(w.dtype) for w in arrays]}")
    elif not all(np.all(np.isfinite(w)) for w in arrays):
        out.append("weights must be finite")
    if not _is_pos_float(a.input_scale):
        out.append(f"input_scale must be a positive finite float in the float stage, "
                   f"not {a.input_scale!r}")
    if n.fmt is not None:
        out.append(f"a float {n.op.name} has no accumulator format yet, not {n.fmt}")
    if a.core is not None or a.lanes is not None:
        out.append(f"a float {n.op.name} cannot be partitioned; run passes.quantize first")
    return out


def _integer_synapse(n: Node, arrays: list[np.ndarray], bound: Callable[[int], int]
                     ) -> list[str]:
    """Integer-stage rules shared by DENSE and CONV; ``bound(input_max)`` is the proven
    bound on ``|I|`` of the op."""
    a: DenseArg | ConvArg = n.arg
    w = arrays[0]
    if not all(np.issubdtype(x.dtype, np.integer) for x in arrays):
        return [(f"weights must be integers after quantisation, not "
                f"{[str(x.dtype) for x in arrays]}")]
    out = []
    top = (1 << (a.bits - 1)) - 1
    if w.min() < -top - 1 or w.max() > top:
        out.append(f"weights must fit {a.bits} signed bits, not range "
                   f"[{int(w.min())}, {int(w.max())}]")
    if a.input_scale is not None:
        out.append(f"input_scale must be None after quantisation, not {a.input_scale!r}")
    if n.fmt is not None:
        if not n.fmt.signed or n.fmt.frac != 0:
            out.append(f"accumulator format must be signed with no fractional bits, not {n.fmt}")
        elif n.src and n.src[0].fmt is not None:
            b = bound(n.src[0].fmt.max_value)
            if not n.fmt.contains(-b, b):
                out.append(f"accumulator format {n.fmt} cannot hold the proven bound "
                           f"|I| <= {b}; it needs {bits_for_range(-b, b)} bits")
    if (a.core is None) != (a.lanes is None):
        out.append(f"core and lanes must be set together, not core={a.core!r} "
                   f"lanes={a.lanes!r}")
    if a.core is not None and not (isinstance(a.core, str) and a.core.isidentifier()):
        out.append(f"core must be an identifier, not {a.core!r}")
    if a.lanes is not None:
        out += _out_of_range(LANES, a.lanes)
    return out


def _check_dense(n: Node, stage: Stage) -> list[str]:
    a: DenseArg = n.arg
    w = a.weights
    if a.bits not in WEIGHT_BITS:
        return _out_of_range(WEIGHT_BITS, a.bits)
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
        return [f"weights must be a non-empty 2-D array, not shape {w.shape}"]
    out = _operand_problems(n, w.shape[1])
    if stage is Stage.FLOAT:
        return out + _float_synapse(n, [w])
    return out + _integer_synapse(n, [w], lambda m: accumulator_bound(w, input_max=m))


def _map_operand(n: Node, in_shape: tuple[int, int, int]) -> list[str]:
    """The operand of a CONV or POOL must produce ``in_shape``'s values (and that map, if it
    produces one)."""
    src = n.src[0]
    if math.prod(in_shape) != size(src):
        return [(f"in_shape {in_shape} reads {math.prod(in_shape)} values but operand "
                f"{src.name!r} produces {size(src)}")]
    shape = feature_shape(src)
    if shape is not None and shape != in_shape:
        return [f"in_shape {in_shape} differs from the {shape} map of operand {src.name!r}"]
    return []


def _check_conv(n: Node, stage: Stage) -> list[str]:
    a: ConvArg = n.arg
    w = a.weights
    if a.bits not in WEIGHT_BITS:
        return _out_of_range(WEIGHT_BITS, a.bits)
    if w.ndim != 4 or min(w.shape) < 1 or w.shape[2] != w.shape[3]:
        return [f"weights must be a non-empty (C_out, C_in, K, K) array, not shape {w.shape}"]
    try:
        check_shape(a.in_shape)
        a.out_shape  # noqa: B018 -- validates kernel, stride, padding and sizes
    except (ValueError, TypeError) as exc:
        return [str(exc)]
    out = _map_operand(n, a.in_shape)
    if w.shape[1] != a.in_shape[0]:
        out.append(f"weights read {w.shape[1]} channels, in_shape has {a.in_shape[0]}")
    arrays = [w]
    if a.bias is not None:
        if a.bias.shape != (w.shape[0],):
            return [*out, f"bias must have shape ({w.shape[0]},), not {a.bias.shape}"]
        arrays.append(a.bias)
    if stage is Stage.FLOAT:
        return out + _float_synapse(n, arrays)
    return out + _integer_synapse(
        n, arrays, lambda m: conv_weight_bound(w, a.bias, input_max=m))


def _check_pool(n: Node, stage: Stage) -> list[str]:
    a: PoolArg = n.arg
    out = []
    if n.fmt != SPIKE_FORMAT:
        out.append(f"format must be {SPIKE_FORMAT} (spikes), not {n.fmt}")
    try:
        a.out_shape  # noqa: B018 -- validates kernel and shape
    except (ValueError, TypeError) as exc:
        return [*out, str(exc)]
    src = n.src[0]
    if src.fmt != SPIKE_FORMAT:
        out.append(f"operand {src.name!r} must carry spikes ({SPIKE_FORMAT}) to be OR-pooled, "
                   f"not {src.fmt}")
    return out + _map_operand(n, a.in_shape)


def _bias_problems(n: Node, a: LIFArg) -> list[str]:
    """A CONV bias in the integer stage must fit the membrane of the LIF it feeds."""
    syn = n.src[0].arg if n.src else None
    if not isinstance(syn, ConvArg) or syn.bias is None or not syn.is_integer:
        return []
    b = syn.bias
    if b.size and np.issubdtype(b.dtype, np.integer) and not a.membrane.contains(
            int(b.min()), int(b.max())):
        return [(f"the bias of {n.src[0].name!r}, range [{int(b.min())}, {int(b.max())}], "
                f"must fit the membrane {a.membrane}")]
    return []


def _check_lif(n: Node, stage: Stage) -> list[str]:
    a: LIFArg = n.arg
    out = []
    if n.fmt != SPIKE_FORMAT:
        out.append(f"format must be {SPIKE_FORMAT} (spikes), not {n.fmt}")
    if not isinstance(a.membrane, FixedFormat):
        return [*out, f"membrane must be a FixedFormat, not {a.membrane!r}"]
    channels: tuple = ()
    if stage is Stage.FLOAT:
        if not _is_pos_float(a.threshold):
            out.append(f"threshold must be a positive finite float in the float stage, "
                       f"not {a.threshold!r}")
        threshold = 1
        out += _float_channel_problems(a)
    elif not a.is_integer:
        out.append(f"threshold must be an integer after quantisation, not {a.threshold!r}")
        threshold = 1
    else:
        threshold, channels = a.threshold, a.channel_thresholds
    try:
        LIFParams(threshold=threshold, model=a.model, leak_shift=a.leak_shift, reset=a.reset,
                  membrane=a.membrane, input_shifts=a.input_shifts, channel_thresholds=channels)
    except (TypeError, ValueError) as exc:
        out.append(str(exc))
    if a.membrane.frac != 0:
        out.append(f"membrane must have no fractional bits, not {a.membrane}")
    return out + _bias_problems(n, a) + _shift_problems(n, a) + _channel_problems(n, a)


def _float_channel_problems(a: LIFArg) -> list[str]:
    """Float-stage per-channel thresholds: positive finite floats whose maximum is the
    layer's threshold."""
    c = a.channel_thresholds
    if not c:
        return []
    if not isinstance(c, tuple) or not all(_is_pos_float(x) for x in c):
        return [(f"channel_thresholds must be positive finite floats in the float stage, not "
                 f"{c!r}")]
    if a.threshold != max(c):
        return [f"threshold must be max(channel_thresholds) = {max(c)!r}, not {a.threshold!r}"]
    return []


def _channel_problems(n: Node, a: LIFArg) -> list[str]:
    """Per-channel thresholds need a CONV operand (the conv core's threshold table) with one
    entry per output channel."""
    if not a.channel_thresholds or not n.src:
        return []
    syn = n.src[0]
    if not isinstance(syn.arg, ConvArg):
        return [(f"per-channel thresholds need a CONV operand; {syn.name!r} is {syn.op.name} "
                 "(the dense core has one threshold per layer)")]
    c_out = int(np.shape(syn.arg.weights)[0])
    if len(a.channel_thresholds) != c_out:
        return [(f"channel_thresholds has {len(a.channel_thresholds)} entries for the "
                 f"{c_out} output channels of {syn.name!r}")]
    return []


def _shift_problems(n: Node, a: LIFArg) -> list[str]:
    """An input shift table needs an accumulator of its DENSE or CONV operand that holds the
    shifted bound ``|I| << max(e)`` (the bias of a CONV is part of ``I``)."""
    if not a.input_shifts or not isinstance(a.input_shifts, tuple) or not n.src:
        return []
    syn = n.src[0]
    if syn.fmt is None or not syn.arg.is_integer or not syn.src or syn.src[0].fmt is None:
        return []
    try:
        top = syn.src[0].fmt.max_value
        b = (conv_weight_bound(syn.arg.weights, syn.arg.bias, input_max=top)
             if isinstance(syn.arg, ConvArg) else
             accumulator_bound(syn.arg.weights, input_max=top))
        b <<= max(a.input_shifts)
    except (TypeError, ValueError):
        return []
    if not syn.fmt.contains(-b, b):
        return [(f"the accumulator {syn.fmt} of {syn.name!r} cannot hold the shifted bound "
                f"|I << {max(a.input_shifts)}| <= {b}; it needs {bits_for_range(-b, b)} bits")]
    return []


def _check_output(n: Node, stage: Stage) -> list[str]:
    a: OutputArg = n.arg
    out = []
    if not isinstance(a.rule, Decision):
        out.append(f"rule must be a Decision, not {a.rule!r}")
    if n.src and n.fmt != output_format(size(n)):
        out.append(f"format must be {output_format(size(n))} for {size(n)} classes, "
                   f"not {n.fmt}")
    return out


@dataclass(frozen=True)
class Rule:
    """What a node of one op must satisfy.

    Parameters
    ----------
    arity : int
        Number of operands.
    operands : frozenset[Op]
        Ops each operand may have.
    arg : type
        Type of the argument.
    check : Callable[[Node, Stage], list[str]]
        Checks argument, format and shapes; returns the problems found (operands already
        checked for count and op).
    """

    arity: int
    operands: frozenset[Op]
    arg: type
    check: Callable[[Node, Stage], list[str]]


#: The synapse ops: they carry weights, an accumulator format and a core.
_SYNAPSE_OPS = frozenset({Op.DENSE, Op.CONV})

#: The per-op rule table.
RULES: dict[Op, Rule] = {
    Op.INPUT: Rule(0, frozenset(), InputArg, _check_input),
    Op.DENSE: Rule(1, frozenset({Op.INPUT, Op.LIF, Op.POOL}), DenseArg, _check_dense),
    Op.CONV: Rule(1, frozenset({Op.INPUT, Op.LIF, Op.POOL}), ConvArg, _check_conv),
    Op.LIF: Rule(1, frozenset({Op.DENSE, Op.CONV}), LIFArg, _check_lif),
    Op.POOL: Rule(1, frozenset({Op.INPUT, Op.LIF, Op.POOL}), PoolArg, _check_pool),
    Op.OUTPUT: Rule(1, frozenset({Op.LIF}), OutputArg, _check_output),
}


def _check_node(n: Node, stage: Stage) -> list[str]:
    rule = RULES.get(n.op)
    if rule is None:
        return [f"op must be an Op, not {n.op!r}"]
    if not isinstance(n.arg, rule.arg):
        return [f"argument must be a {rule.arg.__name__}, not {type(n.arg).__name__}"]
    if n.fmt is not None and not isinstance(n.fmt, FixedFormat):
        return [f"format must be a FixedFormat, not {n.fmt!r}"]
    if len(n.src) != rule.arity:
        return [f"takes {rule.arity} operand(s), not {len(n.src)}"]
    bad = [s for s in n.src if s.op not in rule.operands]
    if bad:
        accepted = ", ".join(sorted(o.name for o in rule.operands))
        return [f"operand {s.name!r} is {s.op.name}; accepted: {accepted}" for s in bad]
    if n.op not in _SYNAPSE_OPS and n.fmt is None:
        return ["format must be set (only a DENSE or CONV may lack one before infer_widths)"]
    return rule.check(n, stage)


def _graph_problems(g: Graph) -> list[str]:
    out = []
    seen: set[int] = set()
    names: set[str] = set()
    users: dict[int, int] = {}
    for k, n in enumerate(g.nodes):
        if not isinstance(n.name, str) or not NAME_PATTERN.fullmatch(n.name):
            out.append(f"node #{k}: name must match {NAME_PATTERN.pattern}, not {n.name!r}")
        elif n.name in names:
            out.append(f"node #{k}: name {n.name!r} is used twice")
        names.add(n.name)
        for s in n.src:
            if id(s) not in seen:
                out.append(f"node {n.name!r}: operand {s.name!r} is not an earlier node of "
                           f"the graph")
            users[id(s)] = users.get(id(s), 0) + 1
        seen.add(id(n))
    inputs = g.of_op(Op.INPUT)
    if len(inputs) != 1 or (g.nodes and g.nodes[0] is not inputs[0]):
        out.append(f"the graph must start with its one INPUT node, found {len(inputs)} INPUT "
                   f"node(s)")
    if not g.outputs:
        out.append("the graph must have at least one output")
    for o in g.outputs:
        if id(o) not in seen:
            out.append(f"output {o.name!r} is not a node of the graph")
        elif o.op is not Op.OUTPUT:
            out.append(f"output {o.name!r} must be an OUTPUT node, not {o.op.name}")
    out_ids = {id(o) for o in g.outputs}
    steps = {n.arg.timesteps for n in inputs if isinstance(n.arg, InputArg)}
    for n in g.nodes:
        shifts = getattr(n.arg, "input_shifts", ()) if n.op is Op.LIF else ()
        if shifts and len(steps) == 1 and len(shifts) not in steps:
            out.append(f"node {n.name!r}: the input shift table has {len(shifts)} entries, "
                       f"one per timestep of the {min(steps)} expected")
    for n in g.nodes:
        if n.op is Op.OUTPUT and id(n) not in out_ids:
            out.append(f"OUTPUT node {n.name!r} is not listed in the graph outputs")
        elif n.op is not Op.OUTPUT and users.get(id(n), 0) != 1:
            out.append(f"node {n.name!r} has {users.get(id(n), 0)} users; the spine is a "
                       f"chain, so every non-OUTPUT node feeds exactly one node")
    return out


def _stage_problems(g: Graph, stage: Stage, *, lowered: bool) -> list[str]:
    out = []
    for n in g.nodes:
        if isinstance(n.arg, DenseArg | ConvArg | LIFArg) and n.arg.is_integer != (
                stage is Stage.INTEGER):
            kind = "integer" if n.arg.is_integer else "float"
            out.append(f"node {n.name!r}: {kind} parameters in a {stage.value}-stage graph "
                       f"(the first DENSE or CONV sets the stage)")
    synapses = [n for n in g.nodes if n.op in _SYNAPSE_OPS and isinstance(n.arg, SynapseArg)]
    if lowered:
        if stage is not Stage.INTEGER:
            out.append("a lowered graph must be integer-only; run passes.quantize")
        out += [f"node {n.name!r}: accumulator width not inferred; run passes.infer_widths"
                for n in synapses if n.fmt is None]
        out += [f"node {n.name!r}: not assigned to a core; run passes.partition"
                for n in synapses if n.arg.core is None]
    cores = [n.arg.core for n in synapses if n.arg.core is not None]
    if cores and len(cores) != len(synapses):
        out.append("either every DENSE and CONV is assigned to a core or none is")
    dup = sorted({c for c in cores if cores.count(c) > 1})
    if dup:
        out.append(f"core names must be unique, not {dup}")
    return out


def verify(g: Graph, *, lowered: bool = False) -> None:
    """Check every rule of the IR on ``g``.

    Parameters
    ----------
    g : Graph
        The graph to check.
    lowered : bool
        Also require a fully lowered graph: integer-only, every accumulator width inferred,
        every DENSE + LIF pair assigned to a core.

    Raises
    ------
    IRError
        Listing every problem found, each naming its node.
    """
    if not isinstance(g, Graph):
        raise TypeError(f"g must be a Graph, not {g!r}")
    strangers = [f"graph entries must be Nodes, not {n!r}" for n in (*g.nodes, *g.outputs)
                 if not isinstance(n, Node)]
    if strangers:
        raise IRError(strangers)
    problems = _graph_problems(g)
    stage = stage_of(g)
    for n in g.nodes:
        kind = n.op.name if isinstance(n.op, Op) else repr(n.op)
        problems += [f"node {n.name!r} ({kind}): {p}" for p in _check_node(n, stage)]
    problems += _stage_problems(g, stage, lowered=lowered)
    if problems:
        raise IRError(problems)
