"""Fuzz tests of the two file readers that take user data: the IR parser and the checkpoint
loader (issue 12, item 5).

Inputs are the golden IR texts and a small valid checkpoint, damaged by hypothesis (byte
flips, deleted / duplicated / swapped lines, truncation, foreign tokens, huge numbers, changed
header values), plus arbitrary text and bytes. The only acceptable outcomes are a result or the
documented error:

- ``compiler.render.parse``: a graph whose rendering is the text itself, or ``IRSyntaxError``;
  ``compiler.verify.verify`` on that graph: nothing or ``IRError``;
- ``compiler.irfile.load_ir``: a graph or ``IRFileError``;
- ``model.checkpoint.load_checkpoint``: a network or ``CheckpointError``.

Any other exception (``OverflowError``, ``MemoryError``, a bare ``ValueError``, ...) is a bug.
Each test is bounded to a few seconds by ``max_examples``; ``benchmarks/fuzz_inputs.py``
runs the same properties for as long as asked.
"""

from __future__ import annotations

import contextlib
import functools
import json
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.compiler.irfile import IRFileError, load_ir
from spikesmith.compiler.render import IRSyntaxError, parse, render
from spikesmith.compiler.verify import IRError, verify
from spikesmith.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import EncoderParams, Encoding

__all__ = ["check_checkpoint_bytes", "check_ir_bytes", "checkpoint_bytes", "ir_bytes"]

GOLDEN = sorted((Path(__file__).parent / "compiler" / "golden").glob("*.ir"))

#: Values a hostile or careless file may hold where a number belongs: past int64, past
#: Python's 4300-digit int-to-str limit, giant sizes, non-finite and non-integer spellings.
HUGE_INTS = (2**63, 2**64, -(2**63) - 1, 10**30, 999_999_999, 10**10, -1, 0)
#: 5001 digits: ``int()`` and ``json`` refuse to convert it (Python's 4300-digit limit).
LONG_DIGITS = "9" * 5001
NUMBER_TOKENS = (*(str(n) for n in HUGE_INTS), LONG_DIGITS)
HUGE_TOKENS = (*NUMBER_TOKENS,
    "999999999x64", "64x999999999", "0x64", "1e9", "1e308", "-1e308", "inf", "-inf", "nan",
    "-0", "+1", "1_0", "０", "s9999999.0:floor:saturate", "u0.0:floor:wrap", "s64.63:floor:wrap",
    "s16.-1:floor:saturate", "-", "=", "()", "DENSE()", "LIF(input,input)", "outputs", "",
)

_SETTINGS = settings(max_examples=150, deadline=None, database=None, report_multiple_bugs=False,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _load_file(data: bytes, path: Path, load: Callable[[Path], object],
               error: type[Exception]) -> None:
    """Write ``data`` to ``path`` and load it; ``error`` is the one accepted exception."""
    path.write_bytes(data)
    with contextlib.suppress(error):
        load(path)


def _in_temporary_folder(check: Callable[[bytes, Path], None], data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check(data, Path(tmp))


# --- IR texts -----------------------------------------------------------------------------

@functools.cache
def _golden_bytes() -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in GOLDEN)


def _token_spans(text: bytes) -> list[tuple[int, int]]:
    """Spans of the tokens of ``text`` (runs between spaces, '=', 'x', ',' and newlines)."""
    spans, start = [], 0
    for i, b in enumerate(text + b"\n"):
        if b in b" =x,()\n":
            if i > start:
                spans.append((start, i))
            start = i + 1
    return spans


@st.composite
def _mutation(draw, data: bytes, tokens: st.SearchStrategy[str],
              numbers: st.SearchStrategy[str]) -> bytes:
    """Apply one random damage to ``data``: ``tokens`` may replace any token, ``numbers`` an
    integer."""
    lines = data.split(b"\n")
    kind = draw(st.sampled_from(["flip", "delete", "duplicate", "swap", "truncate", "token",
                                 "number", "number", "insert"]))
    if kind == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if kind in ("delete", "duplicate", "swap") and lines:
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        if kind == "delete":
            del lines[i]
        elif kind == "duplicate":
            lines.insert(j, lines[i])
        else:
            lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    spans = _token_spans(data)
    if kind == "number":
        spans = [(a, b) for a, b in spans if data[a:b].lstrip(b"-").isdigit()]
    if kind in ("token", "number") and spans:
        start, end = draw(st.sampled_from(spans))
        new = draw(tokens if kind == "token" else numbers)
        return data[:start] + new.encode() + data[end:]
    i = draw(st.integers(0, len(data)))
    return data[:i] + draw(st.text(max_size=20)).encode("utf-8", "surrogatepass") + data[i:]


@st.composite
def ir_bytes(draw) -> bytes:
    """A golden IR file damaged one to three times, or arbitrary text or bytes."""
    source = draw(st.sampled_from(["golden", "golden", "golden", "text", "bytes"]))
    if source == "text":
        return draw(st.text()).encode("utf-8", "surrogatepass")
    if source == "bytes":
        return draw(st.binary())
    data = draw(st.sampled_from(_golden_bytes()))
    for _ in range(draw(st.integers(1, 3))):
        data = draw(_mutation(data, st.sampled_from(HUGE_TOKENS),
                              st.integers().map(str) | st.sampled_from(NUMBER_TOKENS)))
    return data


def check_ir_bytes(data: bytes, folder: Path) -> None:
    """Parse ``data`` as text and load it as a file; fail on any undocumented outcome."""
    text = data.decode("utf-8", "replace")
    try:
        g = parse(text)
    except IRSyntaxError:
        pass
    else:
        assert render(g) == text, "an accepted text must be the rendering of its graph"
        with contextlib.suppress(IRError):
            verify(g)
    _load_file(data, folder / "network.ir", load_ir, IRFileError)


def test_golden_texts_load():
    """The fuzz seeds are valid: every golden text parses, verifies and loads."""
    with tempfile.TemporaryDirectory() as tmp:
        for data in _golden_bytes():
            check_ir_bytes(data, Path(tmp))
            verify(parse(data.decode()))


# Found by this test before the bounds of issue 12 landed: numbers past int64, 5001-digit
# integers and giant shapes such as 999999999x64 crashed the parser.
@_SETTINGS
@given(data=ir_bytes())
def test_ir_parser_and_loader_raise_only_documented_errors(data):
    _in_temporary_folder(check_ir_bytes, data)


# --- checkpoints --------------------------------------------------------------------------

@functools.cache
def _valid_checkpoint() -> bytes:
    torch.manual_seed(0)
    net = SpikingMLP([6, 5, 3], weight_bits=5, membrane_bits=20, timesteps=4,
                     encoder=EncoderParams(Encoding.RATE, seed=7), learnable_threshold=True)
    with tempfile.TemporaryDirectory() as tmp:
        return save_checkpoint(Path(tmp) / "net.safetensors", net).read_bytes()


#: Stands for :data:`LONG_DIGITS` in a JSON value (``json.dumps`` cannot write it).
_LONG = "<long digits>"


def _dumps(obj: object) -> str:
    return json.dumps(obj).replace(json.dumps(_LONG), LONG_DIGITS)


#: Network sizes multiply: integers in a checkpoint are small or at least 10**10, so that no
#: mutated config allocates gigabytes before failing (999999999 rows of 6 would fit in memory).
_SMALL_OR_HUGE = st.integers(-1000, 1000) | st.sampled_from((2**63, 2**64, -(2**63) - 1,
                                                              10**30, 10**10))
_CHECKPOINT_TOKENS = tuple(t for t in HUGE_TOKENS if t != str(999_999_999))


def _json_values() -> st.SearchStrategy:
    leaves = (st.none() | st.booleans() | _SMALL_OR_HUGE | st.just(_LONG)
              | st.floats() | st.sampled_from([1e9, 1e308, -0.0]) | st.text(max_size=8))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


def _replace_path(draw, obj: object) -> object:
    """Return ``obj`` with one randomly chosen nested value replaced by a random JSON value."""
    if isinstance(obj, dict) and obj and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(obj)))
        return {**obj, key: _replace_path(draw, obj[key])}
    if isinstance(obj, list) and obj and draw(st.booleans()):
        i = draw(st.integers(0, len(obj) - 1))
        return [*obj[:i], _replace_path(draw, obj[i]), *obj[i + 1:]]
    return draw(_json_values())


def _with_header(data: bytes, header: object) -> bytes:
    (n,) = struct.unpack("<Q", data[:8])
    text = _dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


@st.composite
def _header_mutation(draw, data: bytes) -> bytes:
    """Change one value of the safetensors header or of its JSON ``config`` metadata."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    if draw(st.booleans()):
        meta = header["__metadata__"]
        config = _replace_path(draw, json.loads(meta["config"]))
        header["__metadata__"] = {**meta, "config": _dumps(config)}
    else:
        header = _replace_path(draw, header)
    return _with_header(data, header)


@st.composite
def checkpoint_bytes(draw) -> bytes:
    """A valid checkpoint damaged one to three times (bytes or header values), or bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary())
    data = _valid_checkpoint()
    if draw(st.booleans()):
        data = draw(_header_mutation(data))
    for _ in range(draw(st.integers(0, 2))):
        data = draw(_mutation(data, st.sampled_from(_CHECKPOINT_TOKENS),
                              _SMALL_OR_HUGE.map(str) | st.just(LONG_DIGITS)))
    return data


def check_checkpoint_bytes(data: bytes, folder: Path) -> None:
    """Load ``data`` as a checkpoint file; fail on any outcome but a network or CheckpointError."""
    _load_file(data, folder / "net.safetensors", load_checkpoint, CheckpointError)


def test_valid_checkpoint_loads():
    """The fuzz seed is valid."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.safetensors"
        path.write_bytes(_valid_checkpoint())
        assert load_checkpoint(path).config()["sizes"] == [6, 5, 3]


# Found by this test before the bounds of issue 12 landed: a 5001-digit integer in the header
# (ValueError from json) and a config init_gain of 1e300 (RuntimeError from torch's weight
# initialisation) crashed the loader.
@_SETTINGS
@given(data=checkpoint_bytes())
def test_checkpoint_loader_raises_only_checkpoint_error(data):
    _in_temporary_folder(check_checkpoint_bytes, data)
