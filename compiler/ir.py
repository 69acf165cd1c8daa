"""The fixed-point dataflow IR: a closed set of ops and one immutable node type.

A graph is the *spine* of a feed-forward SNN, a chain of synapse + neuron pairs and spike
pools::

    INPUT -> DENSE -> LIF -> DENSE -> LIF -> ... -> OUTPUT
    INPUT -> CONV -> LIF -> POOL -> CONV -> LIF -> POOL -> DENSE -> LIF -> OUTPUT

Values are flat vectors; a feature map ``(C, H, W)`` is flattened channel-major
(``sim.conv``), so a Flatten before a DENSE is free and has no op.

Each :class:`Node` carries its op, the integer format of the value it produces (``fmt``), its
operands (``src``) and a typed, frozen argument (one dataclass per op). Nodes compare and hash
by identity (``eq=False``); :func:`structurally_equal` compares two graphs by content. Edits
never mutate: a pass builds new nodes with :func:`dataclasses.replace`, usually through
:func:`rewrite`.

A graph lives in one of two stages, told apart by its parameters:

``Stage.FLOAT``
    As the frontend produced it: DENSE and CONV carry float weights (and the float value of
    one input unit), LIF a float threshold, DENSE and CONV have no accumulator format yet.
``Stage.INTEGER``
    After ``passes.quantize``: every weight and threshold is an integer of the contract
    (``sim.quant``). ``passes.infer_widths`` then gives each DENSE and CONV its proven
    accumulator format and ``passes.partition`` assigns each DENSE + LIF and CONV + LIF pair
    to a core. No float remains;
    ``verify(g, lowered=True)`` checks all of that.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from spikesmith.sim.conv import MapSizes, conv_geometry, pool_geometry
from spikesmith.sim.encoders import EncoderParams, input_max
from spikesmith.sim.fixed import FixedFormat, bits_for_range
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode

__all__ = [
    "SPIKE_FORMAT",
    "Arg",
    "ConvArg",
    "Decision",
    "DenseArg",
    "Graph",
    "InputArg",
    "LIFArg",
    "Node",
    "Op",
    "OutputArg",
    "PoolArg",
    "SpineLayer",
    "Stage",
    "SynapseArg",
    "build_spine",
    "feature_shape",
    "input_format",
    "output_format",
    "rewrite",
    "size",
    "stage_of",
    "structurally_equal",
    "with_output_rule",
]

#: Format of a spike: one unsigned bit.
SPIKE_FORMAT = FixedFormat(1, signed=False)


class Op(enum.Enum):
    """The closed set of IR operations (the spine of a feed-forward SNN)."""

    #: No operands. Produces ``features`` unsigned values per timestep for ``timesteps``
    #: timesteps, encoded from 8-bit pixels by ``sim.encoders.encode`` with ``encoder``;
    #: ``fmt`` is exactly wide enough for ``sim.encoders.input_max(encoder)``.
    INPUT = "input"
    #: One operand (INPUT, LIF or POOL). Produces the synaptic input ``I = x @ W.T`` of
    #: ``n_out`` neurons, exact (``sim.ops.exact_matmul``); once widths are inferred ``fmt`` is a
    #: signed format proven to hold ``|I|`` (``sim.ops.accumulator_bound``).
    DENSE = "dense"
    #: One operand (INPUT, LIF or POOL) read as a ``(C_in, H, W)`` map. Produces the synaptic
    #: input ``I`` of the ``(C_out, H_out, W_out)`` neurons of a 2-D convolution with bias,
    #: exact (``sim.conv.conv_synaptic_input``); once widths are inferred ``fmt`` is a signed
    #: format proven to hold ``|I|`` (``sim.conv.conv_weight_bound``).
    CONV = "conv"
    #: One operand (DENSE or CONV). Integrates its operand with ``sim.lif.lif_step`` (state
    #: persists across timesteps, ``v[-1] = 0``) and produces one spike bit per neuron per
    #: timestep.
    LIF = "lif"
    #: One operand of spikes (LIF, POOL, or a one-bit INPUT) read as a ``(C, H, W)`` map.
    #: Produces its OR pooling over ``k x k`` windows with stride ``k`` (``sim.conv.or_pool``),
    #: one spike bit per pooled position; no state.
    POOL = "pool"
    #: One operand (LIF). Produces the class decision of ``arg.rule`` over all timesteps as an
    #: unsigned index in ``0 .. n - 1``.
    OUTPUT = "output"


class Stage(enum.Enum):
    """Whether a graph's parameters are still float or already integers."""

    FLOAT = "float"
    INTEGER = "integer"


class Decision(enum.Enum):
    """How the OUTPUT node turns output spikes into a class."""

    #: Most spikes over the ``T`` timesteps; ties to the larger final membrane, then to the
    #: lower index (``sim.network.predict``).
    MAX_COUNT = "max_count"
    #: The earliest output spike; ties to the lower index; no output spike in ``T`` timesteps
    #: is class 0. Final at the first output spike, so the hardware stops the sample there
    #: (``sim.decision.OutputRule.FIRST_SPIKE``, ``hw.lif.first_spike``).
    FIRST_SPIKE = "first_spike"


def _frozen_array(a: object) -> np.ndarray:
    arr = np.array(a, copy=True)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class InputArg:
    """Argument of ``Op.INPUT``.

    Parameters
    ----------
    features : int
        Input values per timestep (pixels).
    encoder : EncoderParams
        Encoding of the 8-bit pixels (``sim.encoders``).
    timesteps : int
        Number of timesteps ``T`` one sample is presented for.
    """

    features: int
    encoder: EncoderParams
    timesteps: int


@dataclass(frozen=True, eq=False)
class DenseArg:
    """Argument of ``Op.DENSE``.

    Parameters
    ----------
    weights : np.ndarray
        Weights ``(n_out, n_in)``: ``float64`` in the float stage, ``int64`` membrane LSBs per
        input unit in the integer stage. Stored as a read-only copy.
    bits : int
        Signed weight width (``sim.quant.check_weight_bits``).
    input_scale : float or None
        Float stage only: the float value of one input unit (1.0 for spikes, 1/255 for 8-bit
        direct current), used to fold the next LIF threshold. ``None`` in the integer stage.
    core : str or None
        Name of the LIF core this DENSE and the LIF after it run on (set by
        ``passes.partition``); an identifier.
    lanes : int or None
        Synapse lanes of that core (weights accumulated per cycle), a power of two.
    """

    weights: np.ndarray
    bits: int
    input_scale: float | None = None
    core: str | None = None
    lanes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _frozen_array(self.weights))

    @property
    def n_in(self) -> int:
        """Number of inputs."""
        return int(self.weights.shape[1]) if self.weights.ndim == 2 else 0

    @property
    def n_out(self) -> int:
        """Number of outputs (neurons fed)."""
        return int(self.weights.shape[0]) if self.weights.ndim == 2 else 0

    @property
    def is_integer(self) -> bool:
        """Whether the weights are integers (the integer stage)."""
        return bool(np.issubdtype(self.weights.dtype, np.integer))


def _shape3(shape: object) -> object:
    """A list of sizes becomes a tuple (frozen); anything else is kept for verify to judge."""
    return tuple(shape) if isinstance(shape, list) else shape


class _MapArg(MapSizes):
    """Sizes of a CONV or POOL argument. ``out_shape`` raises ``ValueError`` for an invalid
    geometry (``compiler.verify`` reports it); ``n_out`` is then 0, as ``DenseArg.n_out`` is
    for weights that are not 2-D."""

    @property
    def n_out(self) -> int:
        """Number of outputs ``C*H*W`` of ``out_shape``; 0 for an invalid geometry."""
        try:
            return super().n_out
        except (ValueError, TypeError):
            return 0


@dataclass(frozen=True, eq=False)
class ConvArg(_MapArg):
    """Argument of ``Op.CONV`` (the equations are ``sim.conv``'s).

    Parameters
    ----------
    weights : np.ndarray
        Weights ``(C_out, C_in, K, K)``: ``float64`` in the float stage, ``int64`` membrane
        LSBs per input unit in the integer stage. Stored as a read-only copy.
    bits : int
        Signed weight width (``sim.quant.check_weight_bits``).
    in_shape : tuple[int, int, int]
        The operand read as a ``(C_in, H, W)`` map, channel-major.
    stride : int
        Stride ``S`` along both axes.
    padding : int
        Zero padding ``P`` on every border.
    bias : np.ndarray or None
        Bias per output channel ``(C_out,)``, ``float64`` in the float stage (in the float
        units of the trained model), ``int64`` membrane LSBs in the integer stage; ``None``
        for no bias. Stored as a read-only copy.
    input_scale : float or None
        Float stage only: the float value of one input unit, as ``DenseArg.input_scale``.
    core : str or None
        Name of the conv core this CONV and the LIF after it run on (``passes.partition``).
    lanes : int or None
        Lanes of that core (output channels updated per cycle), a power of two.
    """

    weights: np.ndarray
    bits: int
    in_shape: tuple[int, int, int]
    stride: int = 1
    padding: int = 0
    bias: np.ndarray | None = None
    input_scale: float | None = None
    core: str | None = None
    lanes: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _frozen_array(self.weights))
        object.__setattr__(self, "in_shape", _shape3(self.in_shape))
        if self.bias is not None:
            object.__setattr__(self, "bias", _frozen_array(self.bias))

    @property
    def kernel(self) -> int:
        """Kernel size ``K`` (0 for weights that are not 4-D)."""
        return int(self.weights.shape[2]) if self.weights.ndim == 4 else 0

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """Output map ``(C_out, H_out, W_out)`` (``sim.conv.conv_geometry``)."""
        if self.weights.ndim != 4:
            raise ValueError(f"weights must be 4-D (C_out, C_in, K, K), not {self.weights.shape}")
        return conv_geometry(in_shape=self.in_shape, out_channels=int(self.weights.shape[0]),
                             kernel=self.kernel, stride=self.stride, padding=self.padding)

    @property
    def is_integer(self) -> bool:
        """Whether the weights are integers (the integer stage)."""
        return bool(np.issubdtype(self.weights.dtype, np.integer))


@dataclass(frozen=True)
class PoolArg(_MapArg):
    """Argument of ``Op.POOL``: OR pooling (``sim.conv.or_pool``).

    Parameters
    ----------
    kernel : int
        Window and stride ``k``.
    in_shape : tuple[int, int, int]
        The operand read as a ``(C, H, W)`` map, channel-major.
    """

    kernel: int
    in_shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_shape", _shape3(self.in_shape))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """Output map ``(C, H // k, W // k)`` (``sim.conv.pool_geometry``)."""
        return pool_geometry(in_shape=self.in_shape, kernel=self.kernel)


#: The argument of a synapse op (DENSE or CONV): what a LIF integrates.
SynapseArg = DenseArg | ConvArg


@dataclass(frozen=True)
class LIFArg:
    """Argument of ``Op.LIF``: the fields of ``sim.lif.LIFParams``.

    ``threshold`` is a float (in the float units of the trained model) in the float stage and
    an integer number of membrane LSBs in the integer stage. ``input_shifts`` is the optional
    per-timestep left shift table of the synaptic input (``sim.lif``; folded TEBN scales),
    one entry per timestep, empty for none; the same in both stages. ``channel_thresholds``
    is the optional per-output-channel threshold table of a LIF after a CONV (floats in the
    float stage, integers after ``passes.quantize``; ``threshold`` is then their maximum),
    empty for one threshold per layer.
    """

    threshold: int | float
    model: NeuronModel
    leak_shift: int
    reset: ResetMode
    membrane: FixedFormat
    input_shifts: tuple[int, ...] = ()
    channel_thresholds: tuple[int | float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("input_shifts", "channel_thresholds"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def is_integer(self) -> bool:
        """Whether the threshold is an integer (the integer stage)."""
        return isinstance(self.threshold, int) and not isinstance(self.threshold, bool)

    def params(self) -> LIFParams:
        """Return the ``sim.lif.LIFParams`` of an integer-stage LIF (validated there).

        Raises
        ------
        ValueError
            If the threshold is not an integer in range or a field is invalid.
        """
        if not self.is_integer:
            raise ValueError(f"threshold must be an integer to build LIFParams, not "
                             f"{self.threshold!r}; run passes.quantize first")
        return LIFParams(threshold=self.threshold, model=self.model, leak_shift=self.leak_shift,
                         reset=self.reset, membrane=self.membrane,
                         input_shifts=self.input_shifts,
                         channel_thresholds=self.channel_thresholds)


@dataclass(frozen=True)
class OutputArg:
    """Argument of ``Op.OUTPUT``: the decision rule."""

    rule: Decision = Decision.MAX_COUNT


#: Union of the per-op argument types.
Arg = InputArg | DenseArg | ConvArg | LIFArg | PoolArg | OutputArg


@dataclass(frozen=True, eq=False)
class Node:
    """One IR value.

    Parameters
    ----------
    op : Op
        What the node computes.
    fmt : FixedFormat or None
        Integer format of the value it produces; ``None`` only for a DENSE or CONV whose
        accumulator width is not inferred yet.
    src : tuple[Node, ...]
        Operands.
    arg : Arg
        The op's typed argument.
    name : str
        Unique name within the graph (from the source model, e.g. ``layers.0``).
    """

    op: Op
    fmt: FixedFormat | None
    src: tuple[Node, ...]
    arg: Arg
    name: str

    def __repr__(self) -> str:
        srcs = ", ".join(s.name for s in self.src)
        return f"<Node {self.name} {self.op.name}({srcs}) {self.fmt}>"


@dataclass(frozen=True, eq=False)
class Graph:
    """Nodes in topological order plus the graph outputs.

    Parameters
    ----------
    nodes : tuple[Node, ...]
        Every node, operands before users.
    outputs : tuple[Node, ...]
        The result nodes (the OUTPUT ops).
    """

    nodes: tuple[Node, ...]
    outputs: tuple[Node, ...]

    def node(self, name: str) -> Node:
        """Return the node called ``name``.

        Raises
        ------
        KeyError
            If there is none.
        """
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}; nodes are {[n.name for n in self.nodes]}")

    def of_op(self, op: Op) -> tuple[Node, ...]:
        """Return the nodes of one op, in order."""
        return tuple(n for n in self.nodes if n.op is op)


def input_format(encoder: EncoderParams) -> FixedFormat:
    """Return the format of INPUT values: unsigned, just wide enough for ``input_max``."""
    return FixedFormat(bits_for_range(0, input_max(encoder), signed=False), signed=False)


def output_format(classes: int) -> FixedFormat:
    """Return the format of an OUTPUT decision: an unsigned index in ``0 .. classes - 1``."""
    return FixedFormat(bits_for_range(0, max(classes - 1, 0), signed=False), signed=False)


#: One layer of :func:`build_spine`: a synapse + neuron pair, or a pool.
SpineLayer = tuple[SynapseArg, LIFArg] | PoolArg


def _default_names(layers: Sequence[SpineLayer]) -> list[tuple[str, str] | str]:
    """``layers.{k}`` numbered over the nodes: a pair takes two numbers, a pool one."""
    names: list[tuple[str, str] | str] = []
    k = 0
    for layer in layers:
        if isinstance(layer, PoolArg):
            names.append(f"layers.{k}")
            k += 1
        else:
            names.append((f"layers.{k}", f"layers.{k + 1}"))
            k += 2
    return names


def build_spine(layers: Sequence[SpineLayer], *, encoder: EncoderParams, timesteps: int,
                names: Sequence[tuple[str, str] | str] | None = None,
                input_name: str = "input", output_name: str = "output") -> Graph:
    """Return the chain ``INPUT -> ((DENSE | CONV) -> LIF | POOL)* -> OUTPUT``.

    Parameters
    ----------
    layers : sequence of (DenseArg | ConvArg, LIFArg) or PoolArg
        One pair per synapse layer, one ``PoolArg`` per pool; the INPUT has ``n_in`` features
        of the first layer.
    encoder : EncoderParams
        Input encoding.
    timesteps : int
        Timesteps per sample.
    names : sequence of (str, str) or str, optional
        ``(synapse name, lif name)`` per pair and one name per pool; by default ``layers.{k}``
        with ``k`` counting the nodes after the input (``layers.0``, ``layers.1`` for the first
        pair).
    input_name, output_name : str
        Names of the INPUT and OUTPUT nodes.

    DENSE and CONV nodes get no accumulator format (``passes.infer_widths`` adds it); the
    INPUT, LIF, POOL and OUTPUT formats follow from the encoder and the sizes. The result is
    not verified.
    """
    if not layers:
        raise ValueError("layers must hold at least one (DenseArg, LIFArg) pair, not none")
    if names is None:
        names = _default_names(layers)
    if len(names) != len(layers):
        raise ValueError(f"names must have one entry per layer ({len(layers)}), not "
                         f"{len(names)}")
    first = layers[0] if isinstance(layers[0], PoolArg) else layers[0][0]
    x = Node(op=Op.INPUT, fmt=input_format(encoder), src=(),
             arg=InputArg(features=first.n_in, encoder=encoder, timesteps=timesteps),
             name=input_name)
    nodes = [x]
    for layer, name in zip(layers, names, strict=True):
        if isinstance(layer, PoolArg):
            x = Node(op=Op.POOL, fmt=SPIKE_FORMAT, src=(x,), arg=layer, name=name)
            nodes.append(x)
            continue
        syn, lif = layer
        op = Op.CONV if isinstance(syn, ConvArg) else Op.DENSE
        d = Node(op=op, fmt=None, src=(x,), arg=syn, name=name[0])
        x = Node(op=Op.LIF, fmt=SPIKE_FORMAT, src=(d,), arg=lif, name=name[1])
        nodes += [d, x]
    out = Node(op=Op.OUTPUT, fmt=output_format(size(x)), src=(x,), arg=OutputArg(),
               name=output_name)
    return Graph(nodes=(*nodes, out), outputs=(out,))


def size(node: Node) -> int:
    """Return the number of values ``node`` produces per timestep."""
    a = node.arg
    if isinstance(a, InputArg):
        return a.features
    if isinstance(a, DenseArg | ConvArg | PoolArg):
        return a.n_out
    if isinstance(a, LIFArg | OutputArg):
        return size(node.src[0]) if node.src else 0
    raise TypeError(f"node arg must be one of {Arg}, not {a!r}")


def feature_shape(node: Node) -> tuple[int, int, int] | None:
    """Return the ``(C, H, W)`` map ``node`` produces, or ``None`` for a flat vector.

    CONV and POOL produce maps and a LIF passes its operand's on; INPUT, DENSE and OUTPUT
    values are flat (a CONV or POOL reading them states its own ``in_shape``). ``None`` also
    for an invalid geometry (``compiler.verify`` reports it).
    """
    a = node.arg
    if isinstance(a, ConvArg | PoolArg):
        try:
            return a.out_shape
        except (ValueError, TypeError):
            return None
    if isinstance(a, LIFArg) and node.src:
        return feature_shape(node.src[0])
    return None


def stage_of(g: Graph) -> Stage:
    """Return the graph's stage, set by its first DENSE or CONV (``Stage.FLOAT`` if none).

    ``compiler.verify`` reports nodes that disagree with this stage.
    """
    for n in g.nodes:
        if isinstance(n.arg, DenseArg | ConvArg):
            return Stage.INTEGER if n.arg.is_integer else Stage.FLOAT
    return Stage.FLOAT


def rewrite(g: Graph, fn: Callable[[Node, Node], Node]) -> Graph:
    """Rebuild ``g`` node by node, in order.

    For every node, ``fn(old, new)`` is called where ``new`` is ``old`` with its operands
    already replaced by their rewritten versions; it returns the node to use (``new`` itself
    to keep it). ``old.src`` still reaches the original operands, so a transform may read
    pre-rewrite values of its inputs.
    """
    done: dict[int, Node] = {}
    out: list[Node] = []
    for n in g.nodes:
        src = tuple(done[id(s)] for s in n.src)
        new = n if all(a is b for a, b in zip(src, n.src, strict=True)) else _replace_src(n, src)
        new = fn(n, new)
        done[id(n)] = new
        out.append(new)
    return Graph(nodes=tuple(out), outputs=tuple(done[id(o)] for o in g.outputs))


def _replace_src(n: Node, src: tuple[Node, ...]) -> Node:
    return Node(op=n.op, fmt=n.fmt, src=src, arg=n.arg, name=n.name)


def _value_equal(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b)))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _arg_equal(a: Arg, b: Arg) -> bool:
    if type(a) is not type(b):
        return False
    return all(_value_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))


def structurally_equal(a: Graph, b: Graph) -> bool:
    """Return whether two graphs have the same nodes, formats, arguments, edges and outputs.

    Arrays compare by dtype, shape and values; numbers also by type (``1 != 1.0`` here).
    """
    if len(a.nodes) != len(b.nodes) or len(a.outputs) != len(b.outputs):
        return False
    ia = {id(n): k for k, n in enumerate(a.nodes)}
    ib = {id(n): k for k, n in enumerate(b.nodes)}
    for x, y in zip(a.nodes, b.nodes, strict=True):
        if (x.op is not y.op or x.name != y.name or x.fmt != y.fmt
                or [ia.get(id(s)) for s in x.src] != [ib.get(id(s)) for s in y.src]
                or not _arg_equal(x.arg, y.arg)):
            return False
    return [ia.get(id(o)) for o in a.outputs] == [ib.get(id(o)) for o in b.outputs]


def with_output_rule(g: Graph, rule: Decision) -> Graph:
    """Return ``g`` with its OUTPUT nodes deciding by ``rule`` (everything else shared).

    Raises
    ------
    TypeError
        If ``rule`` is not a ``Decision``.
    """
    if not isinstance(rule, Decision):
        raise TypeError(f"rule must be a Decision, not {rule!r}")

    def fn(_old: Node, new: Node) -> Node:
        if new.op is not Op.OUTPUT:
            return new
        return replace(new, arg=OutputArg(rule=rule))

    return rewrite(g, fn)
