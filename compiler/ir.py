"""The fixed-point dataflow IR: a closed set of ops and one immutable node type.

A graph is the *spine* of a feed-forward SNN::

    INPUT -> DENSE -> LIF -> DENSE -> LIF -> ... -> OUTPUT

Each :class:`Node` carries its op, the integer format of the value it produces (``fmt``), its
operands (``src``) and a typed, frozen argument (one dataclass per op). Nodes compare and hash
by identity (``eq=False``); :func:`structurally_equal` compares two graphs by content. Edits
never mutate: a pass builds new nodes with :func:`dataclasses.replace`, usually through
:func:`rewrite`.

A graph lives in one of two stages, told apart by its parameters:

``Stage.FLOAT``
    As the frontend produced it: DENSE carries float weights (and the float value of one
    input unit), LIF a float threshold, DENSE has no accumulator format yet.
``Stage.INTEGER``
    After ``passes.quantize``: every weight and threshold is an integer of the contract
    (``sim.quant``). ``passes.infer_widths`` then gives each DENSE its proven accumulator format
    and ``passes.partition`` assigns each DENSE + LIF pair to a core. No float remains;
    ``verify(g, lowered=True)`` checks all of that.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np

from spikesmith.sim.encoders import EncoderParams, input_max
from spikesmith.sim.fixed import FixedFormat, bits_for_range
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode

__all__ = [
    "SPIKE_FORMAT",
    "Arg",
    "Decision",
    "DenseArg",
    "Graph",
    "InputArg",
    "LIFArg",
    "Node",
    "Op",
    "OutputArg",
    "Stage",
    "build_spine",
    "input_format",
    "output_format",
    "rewrite",
    "size",
    "stage_of",
    "structurally_equal",
]

#: Format of a spike: one unsigned bit.
SPIKE_FORMAT = FixedFormat(1, signed=False)


class Op(enum.Enum):
    """The closed set of IR operations (the spine of a feed-forward SNN)."""

    #: No operands. Produces ``features`` unsigned values per timestep for ``timesteps``
    #: timesteps, encoded from 8-bit pixels by ``sim.encoders.encode`` with ``encoder``;
    #: ``fmt`` is exactly wide enough for ``sim.encoders.input_max(encoder)``.
    INPUT = "input"
    #: One operand (INPUT or LIF). Produces the synaptic input ``I = x @ W.T`` of
    #: ``n_out`` neurons, exact (``sim.ops.exact_matmul``); once widths are inferred ``fmt`` is a
    #: signed format proven to hold ``|I|`` (``sim.ops.accumulator_bound``).
    DENSE = "dense"
    #: One operand (DENSE). Integrates its operand with ``sim.lif.lif_step`` (state persists
    #: across timesteps, ``v[-1] = 0``) and produces one spike bit per neuron per timestep.
    LIF = "lif"
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


@dataclass(frozen=True)
class LIFArg:
    """Argument of ``Op.LIF``: the fields of ``sim.lif.LIFParams``.

    ``threshold`` is a float (in the float units of the trained model) in the float stage and
    an integer number of membrane LSBs in the integer stage.
    """

    threshold: int | float
    model: NeuronModel
    leak_shift: int
    reset: ResetMode
    membrane: FixedFormat

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
                         reset=self.reset, membrane=self.membrane)


@dataclass(frozen=True)
class OutputArg:
    """Argument of ``Op.OUTPUT``: the decision rule."""

    rule: Decision = Decision.MAX_COUNT


#: Union of the per-op argument types.
Arg = InputArg | DenseArg | LIFArg | OutputArg


@dataclass(frozen=True, eq=False)
class Node:
    """One IR value.

    Parameters
    ----------
    op : Op
        What the node computes.
    fmt : FixedFormat or None
        Integer format of the value it produces; ``None`` only for a DENSE whose accumulator
        width is not inferred yet.
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


def build_spine(layers: Sequence[tuple[DenseArg, LIFArg]], *, encoder: EncoderParams,
                timesteps: int, names: Sequence[tuple[str, str]] | None = None,
                input_name: str = "input", output_name: str = "output") -> Graph:
    """Return the chain ``INPUT -> (DENSE -> LIF)* -> OUTPUT`` for the given arguments.

    Parameters
    ----------
    layers : sequence of (DenseArg, LIFArg)
        One pair per layer; the INPUT has ``layers[0][0].n_in`` features.
    encoder : EncoderParams
        Input encoding.
    timesteps : int
        Timesteps per sample.
    names : sequence of (str, str), optional
        ``(dense name, lif name)`` per layer; ``layers.{2k}`` and ``layers.{2k+1}`` by default.
    input_name, output_name : str
        Names of the INPUT and OUTPUT nodes.

    DENSE nodes get no accumulator format (``passes.infer_widths`` adds it); the INPUT,
    LIF and OUTPUT formats follow from the encoder and the sizes. The result is not verified.
    """
    if not layers:
        raise ValueError("layers must hold at least one (DenseArg, LIFArg) pair, not none")
    if names is None:
        names = [(f"layers.{2 * k}", f"layers.{2 * k + 1}") for k in range(len(layers))]
    if len(names) != len(layers):
        raise ValueError(f"names must have one pair per layer ({len(layers)}), not "
                         f"{len(names)}")
    x = Node(op=Op.INPUT, fmt=input_format(encoder), src=(),
             arg=InputArg(features=layers[0][0].n_in, encoder=encoder, timesteps=timesteps),
             name=input_name)
    nodes = [x]
    for (dense, lif), (dense_name, lif_name) in zip(layers, names, strict=True):
        d = Node(op=Op.DENSE, fmt=None, src=(x,), arg=dense, name=dense_name)
        x = Node(op=Op.LIF, fmt=SPIKE_FORMAT, src=(d,), arg=lif, name=lif_name)
        nodes += [d, x]
    out = Node(op=Op.OUTPUT, fmt=output_format(layers[-1][0].n_out), src=(x,), arg=OutputArg(),
               name=output_name)
    return Graph(nodes=(*nodes, out), outputs=(out,))


def size(node: Node) -> int:
    """Return the number of values ``node`` produces per timestep."""
    a = node.arg
    if isinstance(a, InputArg):
        return a.features
    if isinstance(a, DenseArg):
        return a.n_out
    if isinstance(a, LIFArg | OutputArg):
        return size(node.src[0]) if node.src else 0
    raise TypeError(f"node arg must be one of {Arg}, not {a!r}")


def stage_of(g: Graph) -> Stage:
    """Return the graph's stage, set by its first DENSE (``Stage.FLOAT`` if it has none).

    ``compiler.verify`` reports nodes that disagree with this stage.
    """
    for n in g.nodes:
        if isinstance(n.arg, DenseArg):
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
