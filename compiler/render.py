"""Text form of the IR: a printer and a strict parser that round-trip exactly.

``render(parse(text)) == text`` for every text ``parse`` accepts, and ``parse(render(g))`` is
structurally equal to ``g`` (``ir.structurally_equal``). The form, one node per line::

    spikesmith-ir 1
    input = INPUT() u8.0:floor:saturate features=6 encoding=direct seed=44257 timesteps=4
    layers.0 = DENSE(input) s12.0:floor:wrap bits=8 shape=2x6 weights=int input_scale=- \
core=layers_0 lanes=2
      -3 0 127 5 1 -2
      8 -127 3 0 0 1
    layers.1 = LIF(layers.0) u1.0:floor:saturate threshold=12 model=lif leak_shift=4 \
reset=subtract membrane=s16.0:floor:saturate
    output = OUTPUT(layers.1) u1.0:floor:saturate rule=max_count
    outputs output

(the two lines ending in ``\\`` are single lines in the text). A DENSE line is followed by one
line per weight row: two spaces, then the row's numbers separated by single spaces. A CONV
line (``shape=<C_out>x<C_in>x<K>x<K> in_shape=<C>x<H>x<W> stride=.. padding=..
weights=int|float bias=-|int|float ...``) is followed by one row per output channel (its
``C_in*K*K`` weights, channel-major then row-major) and, when it has a bias, one row of the
``C_out`` biases; a POOL line is ``kernel=<k> in_shape=<C>x<H>x<W>``. Integers
are decimal; floats use Python's shortest round-trip ``repr`` (exact). ``-`` stands for "not
set" (a DENSE without an inferred accumulator format, an unset optional field). Tokens are
separated by exactly one space; there are no blank lines or comments, and the text ends with a
newline, so a truncated file is always detected.

CONV and POOL extend version 1 without changing it: every version-1 text of a dense network
parses and renders exactly as before, and a reader without these ops rejects them by name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.limits import LAYER_WEIGHTS, LAYER_WIDTH, TIMESTEPS, IntRange

from .errors import CompilerError
from .ir import (
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
)

__all__ = ["HEADER", "IRSyntaxError", "parse", "render"]

#: First line of every IR text; the number is the format version.
HEADER = "spikesmith-ir 1"

#: A decimal integer in its one spelling: ASCII digits, no sign on zero, no leading zeros.
_INT = re.compile(r"0|-?[1-9][0-9]*")
_CALL = re.compile(r"([A-Z]+)\(([^()]*)\)")
#: Longest integer token: int64 has at most 19 digits, plus a sign. Checked before ``int()``.
_INT_CHARS = 20
_INT64 = (-(1 << 63), (1 << 63) - 1)
#: Longest float token (``repr`` of a float has at most 24 characters).
_FLOAT_CHARS = 32
#: Characters of a faulty token or line quoted in an error message.
_QUOTE_CHARS = 60
_NODE_FORM = ("'<name> = <OP>(<operands>) <format or -> key=value ...' with OP one of "
              + ", ".join(o.name for o in Op))


class IRSyntaxError(CompilerError):
    """Malformed IR text.

    Attributes
    ----------
    line : int
        1-based line number of the fault.
    found : str
        What was found there.
    expected : str
        What is accepted there.
    """

    def __init__(self, line: int, found: str, expected: str) -> None:
        self.line = line
        self.found = found
        self.expected = expected
        super().__init__(f"line {line}: expected {expected}, found {_excerpt(found)}")


def _excerpt(found: str) -> str:
    """Quote at most ``_QUOTE_CHARS`` characters of ``found`` (``repr``), with an ellipsis and
    the full length when cut, so a message never repeats a whole line of garbage."""
    if len(found) <= _QUOTE_CHARS:
        return repr(found)
    return f"{found[:_QUOTE_CHARS]!r}... ({len(found)} characters)"


class _BadTokenError(Exception):
    """A token does not parse; ``expected`` says what is accepted."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


# --- token codecs -------------------------------------------------------------------------

def _p_int(tok: str) -> int:
    if len(tok) > _INT_CHARS or not _INT.fullmatch(tok) or not (
            _INT64[0] <= int(tok) <= _INT64[1]):
        raise _BadTokenError(f"a decimal integer without leading zeros or '+' in "
                             f"{_INT64[0]}..{_INT64[1]} (64-bit signed)")
    return int(tok)


def _p_limited(limit: IntRange) -> Callable[[str], int]:
    """A decimal integer in a ``sim.limits`` range (a size, bounded before it is used)."""
    def parse_limited(tok: str) -> int:
        if len(tok) > _INT_CHARS or not _INT.fullmatch(tok) or int(tok) not in limit:
            raise _BadTokenError(f"{limit.describe()} (sim.limits {limit.name})")
        return int(tok)
    return parse_limited


def _p_float(tok: str) -> float:
    if len(tok) > _FLOAT_CHARS:
        raise _BadTokenError(f"a float of at most {_FLOAT_CHARS} characters in shortest "
                             "round-trip form (Python repr)")
    try:
        x = float(tok)
    except ValueError:
        x = None
    if x is None or repr(x) != tok or _INT.fullmatch(tok):
        raise _BadTokenError("a float in shortest round-trip form (Python repr), e.g. 0.25 "
                             "or 1e-05")
    return x


def _p_number(tok: str) -> int | float:
    if len(tok) <= _INT_CHARS and _INT.fullmatch(tok):
        return _p_int(tok)
    try:
        return _p_float(tok)
    except _BadTokenError as exc:
        raise _BadTokenError("a decimal integer or a float in shortest round-trip form") from exc


def _p_enum(kind: type) -> Callable[[str], Any]:
    def parse_enum(tok: str) -> Any:
        try:
            return kind(tok)
        except ValueError as exc:
            raise _BadTokenError(f"one of {[m.value for m in kind]}") from exc
    return parse_enum


def _p_optional(inner: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(tok: str) -> Any:
        if tok == "-":
            return None
        try:
            return inner(tok)
        except _BadTokenError as exc:
            raise _BadTokenError(f"'-' or {exc.expected}") from exc
    return parse_optional


def _p_format(tok: str) -> FixedFormat:
    try:
        return FixedFormat.parse(tok)
    except (ValueError, TypeError) as exc:
        raise _BadTokenError("a number format '{s|u}<width>.<frac>:<rounding>:<overflow>', e.g. "
                   "s16.0:floor:saturate") from exc


def _p_shifts(tok: str) -> tuple[int, ...]:
    """A per-timestep table: one decimal integer per timestep, joined by ``,`` (``-``: none,
    written when a later optional field is present)."""
    if tok == "-":
        return ()
    expected = (f"at most {TIMESTEPS.hi} small decimal integers joined by ',' (one per "
                "timestep), e.g. 0,1,1,2")
    toks = tok.split(",")
    if len(toks) > TIMESTEPS.hi or not all(len(t) <= 3 and _INT.fullmatch(t) for t in toks):
        raise _BadTokenError(expected)
    return tuple(int(t) for t in toks)


def _p_numbers(tok: str) -> tuple[int | float, ...]:
    """A per-channel table: numbers (:func:`_p_number`) joined by ``,``, at most
    ``LAYER_WIDTH.hi`` of them."""
    toks = tok.split(",")
    if len(toks) > LAYER_WIDTH.hi:
        raise _BadTokenError(f"at most {LAYER_WIDTH.hi} numbers joined by ','")
    return tuple(_p_number(t) for t in toks)


def _p_ident(tok: str) -> str:
    if not tok.isidentifier():
        raise _BadTokenError("an identifier")
    return tok


def _p_shape(tok: str) -> tuple[int, int]:
    expected = (f"'<rows>x<columns>' with rows and columns {LAYER_WIDTH.describe()} and at most "
                f"{LAYER_WEIGHTS.hi} weights (sim.limits), e.g. 16x64")
    m = re.fullmatch(r"([1-9][0-9]{0,5})x([1-9][0-9]{0,5})", tok)
    if not m:
        raise _BadTokenError(expected)
    shape = int(m.group(1)), int(m.group(2))
    if not all(n in LAYER_WIDTH for n in shape) or shape[0] * shape[1] not in LAYER_WEIGHTS:
        raise _BadTokenError(expected)
    return shape


def _p_dims(count: int, total: IntRange, example: str) -> Callable[[str], tuple[int, ...]]:
    """``count`` sizes joined by ``x``, each in ``LAYER_WIDTH``, their product in ``total``."""
    expected = (f"{count} sizes joined by 'x', each {LAYER_WIDTH.describe()} and their product "
                f"in {total.lo}..{total.hi} (sim.limits), e.g. {example}")
    pattern = re.compile("x".join([r"([1-9][0-9]{0,5})"] * count))

    def parse_dims(tok: str) -> tuple[int, ...]:
        m = pattern.fullmatch(tok)
        dims = tuple(int(v) for v in m.groups()) if m else ()
        if not m or not all(n in LAYER_WIDTH for n in dims) or math.prod(dims) not in total:
            raise _BadTokenError(expected)
        return dims
    return parse_dims


_DTYPES = {"int": np.dtype(np.int64), "float": np.dtype(np.float64)}


def _p_dtype(tok: str) -> np.dtype:
    if tok not in _DTYPES:
        raise _BadTokenError(f"one of {list(_DTYPES)}")
    return _DTYPES[tok]


def _d_number(x: object) -> str:
    if isinstance(x, float):
        return repr(float(x))
    return str(int(x))


def _d_optional(x: object, dump: Callable[[Any], str] = str) -> str:
    return "-" if x is None else dump(x)


def _d_dtype(w: np.ndarray) -> str:
    return "int" if np.issubdtype(w.dtype, np.integer) else "float"


def _d_dims(dims: tuple[int, ...]) -> str:
    return "x".join(map(str, dims))


# --- per-op argument tables ---------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    key: str
    dump: Callable[[Any], str]
    load: Callable[[str], Any]
    #: An optional trailing field: printed only when ``dump`` gives a non-empty string, and
    #: absent from every text written before it existed.
    optional: bool = False


#: A block of number rows after a node line: its ``(rows, columns)`` and dtype.
_Block = tuple[tuple[int, int], np.dtype]


@dataclass(frozen=True)
class _ArgSpec:
    fields: tuple[_Field, ...]
    #: Build the argument from the parsed fields and the row blocks.
    build: Callable[[dict[str, Any], list[np.ndarray]], Any]
    #: The row blocks that follow the node line, from its parsed fields.
    blocks: Callable[[dict[str, Any]], list[_Block]] = lambda _v: []
    #: The row blocks of an argument, as 2-D arrays, for the printer.
    dump_blocks: Callable[[Any], list[np.ndarray]] = lambda _a: []


def _build_dense(v: dict[str, Any], blocks: list[np.ndarray]) -> DenseArg:
    return DenseArg(weights=blocks[0], bits=v["bits"], input_scale=v["input_scale"],
                    core=v["core"], lanes=v["lanes"])


def _conv_blocks(v: dict[str, Any]) -> list[_Block]:
    c_out, c_in, k, k2 = v["shape"]
    out = [((c_out, c_in * k * k2), v["weights"])]
    return out if v["bias"] is None else [*out, ((1, c_out), v["bias"])]


def _build_conv(v: dict[str, Any], blocks: list[np.ndarray]) -> ConvArg:
    return ConvArg(weights=blocks[0].reshape(v["shape"]), bits=v["bits"],
                   in_shape=v["in_shape"], stride=v["stride"], padding=v["padding"],
                   bias=blocks[1][0] if len(blocks) > 1 else None,
                   input_scale=v["input_scale"], core=v["core"], lanes=v["lanes"])


def _dump_conv(a: ConvArg) -> list[np.ndarray]:
    w = [a.weights.reshape(a.weights.shape[0], -1)]
    return w if a.bias is None else [*w, a.bias.reshape(1, -1)]


#: Fields shared by the synapse ops (after their shape and weight fields).
_SYNAPSE_TAIL = (
    _Field("input_scale", lambda a: _d_optional(a.input_scale, _d_number),
           _p_optional(_p_float)),
    _Field("core", lambda a: _d_optional(a.core), _p_optional(_p_ident)),
    _Field("lanes", lambda a: _d_optional(a.lanes), _p_optional(_p_int)),
)
_IN_SHAPE = _Field("in_shape", lambda a: _d_dims(a.in_shape), _p_dims(3, LAYER_WIDTH, "1x28x28"))


_SPECS: dict[Op, _ArgSpec] = {
    Op.INPUT: _ArgSpec(
        (
            _Field("features", lambda a: str(a.features), _p_limited(LAYER_WIDTH)),
            _Field("encoding", lambda a: a.encoder.encoding.value, _p_enum(Encoding)),
            _Field("seed", lambda a: str(a.encoder.seed), _p_int),
            _Field("timesteps", lambda a: str(a.timesteps), _p_limited(TIMESTEPS)),
        ),
        lambda v, _w: InputArg(features=v["features"], timesteps=v["timesteps"],
                               encoder=EncoderParams(v["encoding"], v["seed"])),
    ),
    Op.DENSE: _ArgSpec(
        (
            _Field("bits", lambda a: str(a.bits), _p_int),
            _Field("shape", lambda a: "x".join(map(str, a.weights.shape)), _p_shape),
            _Field("weights", lambda a: _d_dtype(a.weights), _p_dtype),
            *_SYNAPSE_TAIL,
        ),
        _build_dense,
        lambda v: [(v["shape"], v["weights"])],
        lambda a: [a.weights],
    ),
    Op.CONV: _ArgSpec(
        (
            _Field("bits", lambda a: str(a.bits), _p_int),
            _Field("shape", lambda a: _d_dims(a.weights.shape),
                   _p_dims(4, LAYER_WEIGHTS, "16x1x5x5")),
            _IN_SHAPE,
            _Field("stride", lambda a: str(a.stride), _p_limited(LAYER_WIDTH)),
            _Field("padding", lambda a: str(a.padding), _p_int),
            _Field("weights", lambda a: _d_dtype(a.weights), _p_dtype),
            _Field("bias", lambda a: _d_optional(a.bias, _d_dtype), _p_optional(_p_dtype)),
            *_SYNAPSE_TAIL,
        ),
        _build_conv,
        _conv_blocks,
        _dump_conv,
    ),
    Op.LIF: _ArgSpec(
        (
            _Field("threshold", lambda a: _d_number(a.threshold), _p_number),
            _Field("model", lambda a: a.model.value, _p_enum(NeuronModel)),
            _Field("leak_shift", lambda a: str(a.leak_shift), _p_int),
            _Field("reset", lambda a: a.reset.value, _p_enum(ResetMode)),
            _Field("membrane", lambda a: str(a.membrane), _p_format),
            _Field("input_shifts", lambda a: ",".join(map(str, a.input_shifts)), _p_shifts,
                   optional=True),
            _Field("channel_thresholds",
                   lambda a: ",".join(map(_d_number, a.channel_thresholds)), _p_numbers,
                   optional=True),
        ),
        lambda v, _w: LIFArg(threshold=v["threshold"], model=v["model"],
                             leak_shift=v["leak_shift"], reset=v["reset"],
                             membrane=v["membrane"], input_shifts=v.get("input_shifts", ()),
                             channel_thresholds=v.get("channel_thresholds", ())),
    ),
    Op.POOL: _ArgSpec(
        (_Field("kernel", lambda a: str(a.kernel), _p_limited(LAYER_WIDTH)), _IN_SHAPE),
        lambda v, _b: PoolArg(kernel=v["kernel"], in_shape=v["in_shape"]),
    ),
    Op.OUTPUT: _ArgSpec(
        (_Field("rule", lambda a: a.rule.value, _p_enum(Decision)),),
        lambda v, _w: OutputArg(rule=v["rule"]),
    ),
}


# --- printer ------------------------------------------------------------------------------

def _render_row(row: np.ndarray) -> str:
    return "  " + " ".join(_d_number(x) for x in row.tolist())


def _render_fields(fields: tuple[_Field, ...], arg: object) -> list[str]:
    """``key=value`` of every required field, then of the optional fields up to the last
    non-empty one (an empty one before it as ``-``)."""
    dumps = [f.dump(arg) for f in fields]
    last = max((k for k, (f, d) in enumerate(zip(fields, dumps, strict=True))
                if not f.optional or d), default=-1)
    return [f"{f.key}={d if d or not f.optional else '-'}"
            for f, d in zip(fields[:last + 1], dumps, strict=False)]


def render(g: Graph) -> str:
    """Return the text form of ``g`` (see the module docstring).

    The text round-trips through :func:`parse` for any graph ``compiler.verify`` accepts.
    """
    lines = [HEADER]
    for n in g.nodes:
        spec = _SPECS[n.op]
        srcs = ",".join(s.name for s in n.src)
        kv = " ".join(_render_fields(spec.fields, n.arg))
        fmt = "-" if n.fmt is None else str(n.fmt)
        lines.append(f"{n.name} = {n.op.name}({srcs}) {fmt} {kv}")
        for block in spec.dump_blocks(n.arg):
            lines += [_render_row(row) for row in block]
    lines.append("outputs " + ",".join(o.name for o in g.outputs))
    return "\n".join(lines) + "\n"


# --- parser -------------------------------------------------------------------------------

def _split(line: str, lineno: int, what: str) -> list[str]:
    toks = line.split(" ")
    if "" in toks:
        raise IRSyntaxError(lineno, line, f"{what} with tokens separated by single spaces "
                            "(no leading, trailing or doubled spaces)")
    return toks


def _resolve(names: str, defined: dict[str, Node], lineno: int, what: str) -> tuple[Node, ...]:
    out = []
    for name in names.split(",") if names else []:
        if name not in defined:
            raise IRSyntaxError(lineno, name, f"{what} naming a node defined on an earlier "
                                f"line (defined so far: {', '.join(defined) or 'none'})")
        out.append(defined[name])
    return tuple(out)


def _parse_rows(lines: list[str], start: int, shape: tuple[int, int], dtype: np.dtype,
                what: str = "weight row") -> np.ndarray:
    rows, cols = shape
    parse_tok = _p_int if dtype.kind == "i" else _p_float
    out = np.zeros(shape, dtype=dtype)
    for r in range(rows):
        lineno = start + r + 1
        expected = (f"{what} {r + 1} of {rows}: two spaces then {cols} "
                    f"{'integers' if dtype.kind == 'i' else 'floats'} separated by single spaces")
        if start + r >= len(lines):
            raise IRSyntaxError(lineno, "end of text", expected)
        line = lines[start + r]
        if not line.startswith("  "):
            raise IRSyntaxError(lineno, line, expected)
        toks = line[2:].split(" ")
        if len(toks) != cols or "" in toks:
            raise IRSyntaxError(lineno, line, expected)
        for c, tok in enumerate(toks):
            try:
                out[r, c] = parse_tok(tok)
            except _BadTokenError as exc:
                raise IRSyntaxError(lineno, tok, f"column {c + 1}: {exc.expected}") from None
    return out


def _parse_node(line: str, lineno: int, defined: dict[str, Node]
                ) -> tuple[Op, FixedFormat | None, tuple[Node, ...], str, dict[str, Any]]:
    toks = _split(line, lineno, _NODE_FORM)
    if len(toks) < 4 or toks[1] != "=":
        raise IRSyntaxError(lineno, line, _NODE_FORM)
    name, _, call, fmt_tok, *kv = toks
    if name in defined:
        raise IRSyntaxError(lineno, name, "a node name not used on an earlier line")
    m = _CALL.fullmatch(call)
    if not m or m.group(1) not in Op.__members__:
        raise IRSyntaxError(lineno, call, "'<OP>(<operand>,...)' with OP one of "
                            + ", ".join(o.name for o in Op))
    op = Op[m.group(1)]
    src = _resolve(m.group(2), defined, lineno, "an operand")
    try:
        fmt = _p_optional(_p_format)(fmt_tok)
    except _BadTokenError as exc:
        raise IRSyntaxError(lineno, fmt_tok, exc.expected) from None
    spec = _SPECS[op]
    keys = [f.key for f in spec.fields]
    required = [f for f in spec.fields if not f.optional]
    if len(required) <= len(kv) <= len(keys):
        keys = keys[:len(kv)]
    if len(kv) != len(keys):
        raise IRSyntaxError(lineno, " ".join(kv), f"{len(keys)} fields for {op.name}: "
                            + " ".join(f"{k}=..." for k in keys))
    values: dict[str, Any] = {}
    for f, tok in zip(spec.fields[:len(kv)], kv, strict=True):
        key, sep, val = tok.partition("=")
        if key != f.key or not sep:
            raise IRSyntaxError(lineno, tok, f"'{f.key}=<value>' (fields of {op.name} in "
                                f"order: {', '.join(keys)})")
        try:
            values[key] = f.load(val)
        except _BadTokenError as exc:
            raise IRSyntaxError(lineno, val, f"{f.key} as {exc.expected}") from None
    return op, fmt, src, name, values


def parse(text: str) -> Graph:
    """Parse the text form written by :func:`render`.

    Parsing checks syntax, names and weight-row shapes only; ``compiler.verify`` checks the
    IR rules.

    Raises
    ------
    IRSyntaxError
        At the first malformed line, with its number, what was found and what is accepted.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if not text.endswith("\n"):
        lines = text.split("\n")
        raise IRSyntaxError(len(lines), lines[-1], "a final newline (the text is truncated)")
    lines = text[:-1].split("\n")
    if lines[0] != HEADER:
        raise IRSyntaxError(1, lines[0], f"the header {HEADER!r}")
    defined: dict[str, Node] = {}
    nodes: list[Node] = []
    k = 1
    while k < len(lines):
        line = lines[k]
        lineno = k + 1
        if line.startswith("outputs "):
            outs = _resolve(line[len("outputs "):], defined, lineno, "an output")
            if k != len(lines) - 1:
                raise IRSyntaxError(lineno + 1, lines[k + 1], "end of text after 'outputs'")
            return Graph(nodes=tuple(nodes), outputs=outs)
        op, fmt, src, name, values = _parse_node(line, lineno, defined)
        blocks = []
        for b, (shape, dtype) in enumerate(_SPECS[op].blocks(values)):
            what = "weight row" if b == 0 else "bias row"
            blocks.append(_parse_rows(lines, k + 1, shape, dtype, what))
            k += shape[0]
        try:
            arg = _SPECS[op].build(values, blocks)
        except (ValueError, TypeError) as exc:
            raise IRSyntaxError(lineno, line, f"valid {op.name} fields ({exc})") from None
        node = Node(op=op, fmt=fmt, src=src, arg=arg, name=name)
        defined[name] = node
        nodes.append(node)
        k += 1
    raise IRSyntaxError(len(lines) + 1, "end of text",
                        f"a node line {_NODE_FORM} or 'outputs <name>,...' (the text is "
                        "truncated)")
