"""Text form: exact round trip (fixed and random graphs) and malformed-text errors."""

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.ir import (
    ConvArg,
    DenseArg,
    LIFArg,
    PoolArg,
    build_spine,
    structurally_equal,
)
from spikesmith.compiler.passes import infer_widths, partition
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import IRSyntaxError, parse, render
from spikesmith.compiler.verify import NAME_PATTERN, IRError, verify
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import NeuronModel, ResetMode


def test_lowered_graph_round_trips(tiny_net):
    g = lower(from_torch(tiny_net()), lanes=2)
    text = render(g)
    h = parse(text)
    assert structurally_equal(h, g)
    assert render(h) == text


def test_float_graph_round_trips_exactly(tiny_net):
    g = from_torch(tiny_net())
    h = parse(render(g))
    assert structurally_equal(h, g)
    assert h.node("layers.0").arg.input_scale == 1 / 255


def test_structural_equality_sees_a_changed_weight(int_graph):
    g = int_graph()
    h = int_graph(weights=((3, -2, 1), (0, 5, -3)))
    assert structurally_equal(g, int_graph())
    assert not structurally_equal(g, h)


@st.composite
def spine_graphs(draw):
    integer = draw(st.booleans())
    n_layers = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 4), min_size=n_layers + 1, max_size=n_layers + 1))
    part = st.text("abcXYZ_019", min_size=1, max_size=4)
    name = st.builds(lambda head, rest: ".".join(["n" + head, *rest]), part,
                     st.lists(part, max_size=2))
    names = draw(st.lists(name, min_size=2 * n_layers + 2, max_size=2 * n_layers + 2,
                          unique=True))
    assert all(NAME_PATTERN.fullmatch(n) for n in names)
    membrane = FixedFormat(draw(st.integers(2, 32)))
    layers = []
    for n_in, n_out in itertools.pairwise(sizes):
        bits = draw(st.integers(2, 16))
        top = (1 << (bits - 1)) - 1
        if integer:
            w = draw(st.lists(st.integers(-top - 1, top), min_size=n_in * n_out,
                              max_size=n_in * n_out))
            dense = DenseArg(weights=np.array(w, np.int64).reshape(n_out, n_in), bits=bits)
            theta = draw(st.integers(1, membrane.max_value))
        else:
            finite = st.floats(allow_nan=False, allow_infinity=False)
            positive = st.floats(min_value=1e-300, max_value=1e300)
            w = draw(st.lists(finite, min_size=n_in * n_out, max_size=n_in * n_out))
            dense = DenseArg(weights=np.array(w, np.float64).reshape(n_out, n_in), bits=bits,
                             input_scale=draw(positive))
            theta = draw(positive)
        lif = LIFArg(threshold=theta, model=draw(st.sampled_from(NeuronModel)),
                     leak_shift=draw(st.integers(1, 31)),
                     reset=draw(st.sampled_from(ResetMode)), membrane=membrane)
        layers.append((dense, lif))
    enc = EncoderParams(draw(st.sampled_from(Encoding)), draw(st.integers(1, 0xFFFF)))
    g = build_spine(layers, encoder=enc, timesteps=draw(st.integers(1, 64)),
                    names=list(zip(names[1:-1:2], names[2:-1:2], strict=True)),
                    input_name=names[0], output_name=names[-1])
    if integer and draw(st.booleans()):
        g = infer_widths(g)
        if draw(st.booleans()):
            g = partition(g, lanes=1 << draw(st.integers(0, 5)))
    return g


@st.composite
def conv_spine_graphs(draw):
    """CONV (+ POOL) layers before a DENSE head, float or integer stage, bias or none."""
    integer = draw(st.booleans())
    finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
    positive = st.floats(min_value=1e-300, max_value=1e300)
    membrane = FixedFormat(draw(st.integers(8, 32)))

    def numbers(n, bits):
        top = (1 << (bits - 1)) - 1
        if integer:
            return np.array(draw(st.lists(st.integers(-top - 1, top), min_size=n, max_size=n)),
                            np.int64)
        return np.array(draw(st.lists(finite, min_size=n, max_size=n)), np.float64)

    def lif():
        theta = draw(st.integers(1, 100)) if integer else draw(positive)
        return LIFArg(threshold=theta, model=draw(st.sampled_from(NeuronModel)),
                      leak_shift=draw(st.integers(1, 31)),
                      reset=draw(st.sampled_from(ResetMode)), membrane=membrane)
    shape = (draw(st.integers(1, 3)), draw(st.integers(2, 6)), draw(st.integers(2, 6)))
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        k, c_out = draw(st.integers(1, min(2, *shape[1:]))), draw(st.integers(1, 3))
        bits = draw(st.integers(2, 16))
        bias = numbers(c_out, 8) if draw(st.booleans()) else None
        conv = ConvArg(weights=numbers(c_out * shape[0] * k * k, bits).reshape(
                           c_out, shape[0], k, k),
                       bits=bits, in_shape=shape, stride=draw(st.integers(1, 2)),
                       padding=draw(st.integers(0, k - 1)), bias=bias,
                       input_scale=None if integer else draw(positive))
        layers.append((conv, lif()))
        shape = conv.out_shape
        if draw(st.booleans()):
            layers.append(PoolArg(kernel=draw(st.integers(1, min(shape[1:]))), in_shape=shape))
            shape = layers[-1].out_shape
    n_in, n_out = int(np.prod(shape)), draw(st.integers(1, 3))
    layers.append((DenseArg(weights=numbers(n_in * n_out, 4).reshape(n_out, n_in), bits=4,
                            input_scale=None if integer else draw(positive)), lif()))
    enc = EncoderParams(draw(st.sampled_from([Encoding.RATE, Encoding.LATENCY])),
                        draw(st.integers(1, 0xFFFF)))
    g = build_spine(layers, encoder=enc, timesteps=draw(st.integers(1, 64)))
    if integer and draw(st.booleans()):
        g = partition(infer_widths(g), lanes=1 << draw(st.integers(0, 5)))
    return g


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(spine_graphs(), conv_spine_graphs()))
def test_random_graphs_round_trip(g):
    verify(g)
    text = render(g)
    h = parse(text)
    assert structurally_equal(h, g)
    assert render(h) == text


# --- malformed text -----------------------------------------------------------------------

def _text(int_graph):
    return render(lower(int_graph(), lanes=1))


def test_rendered_text_has_the_documented_shape(int_graph):
    assert _text(int_graph).splitlines() == [
        "spikesmith-ir 1",
        "input = INPUT() u1.0:floor:saturate features=3 encoding=rate seed=44257 timesteps=3",
        ("layers.0 = DENSE(input) s5.0:floor:wrap bits=4 shape=2x3 weights=int input_scale=- "
        "core=layers_0 lanes=1"),
        "  3 -2 1",
        "  0 5 -4",
        ("layers.1 = LIF(layers.0) u1.0:floor:saturate threshold=4 model=lif leak_shift=2 "
        "reset=subtract membrane=s8.0:floor:saturate"),
        "output = OUTPUT(layers.1) u1.0:floor:saturate rule=max_count",
        "outputs output",
    ]


@pytest.mark.parametrize(("old", "new", "match"), [
    ("spikesmith-ir 1", "spikesmith-ir 2",
     r"^line 1: expected the header 'spikesmith-ir 1', found 'spikesmith-ir 2'$"),
    ("DENSE(input)", "SOFTMAX(input)",
     (r"^line 3: expected '<OP>\(<operand>,...\)' with OP one of INPUT, DENSE, CONV, LIF, POOL, "
     r"OUTPUT, found 'SOFTMAX\(input\)'$")),
    ("DENSE(input)", "DENSE(inptu)",
     (r"^line 3: expected an operand naming a node defined on an earlier line \(defined so "
     r"far: input\), found 'inptu'$")),
    ("  0 5 -4", "  0 5x -4",
     (r"^line 5: expected column 2: a decimal integer without leading zeros or '\+' in "
     r"-9223372036854775808..9223372036854775807 \(64-bit signed\), found '5x'$")),
    ("  0 5 -4", "  0 9223372036854775808 -4",
     r"^line 5: expected column 2: .* \(64-bit signed\), found '9223372036854775808'$"),
    ("  0 5 -4", "  0 -9223372036854775809 -4",
     r"^line 5: expected column 2: .* \(64-bit signed\), found '-9223372036854775809'$"),
    ("  0 5 -4", "  0 " + "7" * 5001 + " -4",
     r"^line 5: expected column 2: .* found '7{60}'\.\.\. \(5001 characters\)$"),
    ("shape=2x3", "shape=999999999x3",
     (r"^line 3: expected shape as '<rows>x<columns>' with rows and columns an integer in "
     r"1..65536 and at most 16777216 weights \(sim.limits\), e.g. 16x64, "
     r"found '999999999x3'$")),
    ("shape=2x3", "shape=65536x65536", r"^line 3: expected shape as .* found '65536x65536'$"),
    ("timesteps=3", "timesteps=1e9",
     (r"^line 2: expected timesteps as an integer in 1..256 \(sim.limits timesteps\), "
      r"found '1e9'$")),
    ("features=3", "features=99999", r"^line 2: expected features as an integer in 1..65536 "),
    ("spikesmith-ir 1", "\x01" * 16000,
     (r"^line 1: expected the header 'spikesmith-ir 1', found '(\\x01){60}'\.\.\. "
      r"\(16000 characters\)$")),
    ("  0 5 -4", "  0 5",
     r"^line 5: expected weight row 2 of 2: two spaces then 3 integers"),
    ("threshold=4", "threshold=4.50",
     (r"^line 6: expected threshold as a decimal integer or a float in shortest round-trip "
     r"form, found '4.50'$")),
    ("bits=4 shape", "shape=2x3 bits",
     (r"^line 3: expected 'bits=<value>' \(fields of DENSE in order: bits, shape, weights, "
     r"input_scale, core, lanes\), found 'shape=2x3'$")),
    ("s5.0:floor:wrap", "s5.0:floor:wrapped",
     r"^line 3: expected '-' or a number format '\{s\|u\}<width>.<frac>:<rounding>:<overflow>'"),
    ("model=lif", "model=izhikevich",
     r"^line 6: expected model as one of \['if', 'lif'\], found 'izhikevich'$"),
    ("lanes=1", "lanes=01", r"^line 3: expected lanes as '-' or a decimal integer"),
    ("output = OUTPUT", "output  = OUTPUT", r"^line 7: expected '<name> = <OP>"),
    ("outputs output", "outputs output\nextra", r"^line 9: expected end of text after"),
    ("seed=44257", "seed=0", r"^line 2: expected valid INPUT fields \(seed must be a non-zero"),
    ("layers.1 = LIF", "layers.0 = LIF",
     r"^line 6: expected a node name not used on an earlier line, found 'layers.0'$"),
])
def test_malformed_text_names_line_found_and_accepted(int_graph, old, new, match):
    text = _text(int_graph)
    assert old in text
    with pytest.raises(IRSyntaxError, match=match):
        parse(text.replace(old, new, 1))


def test_truncated_text_is_detected_everywhere(int_graph):
    text = _text(int_graph)
    for cut in range(len(text) - 1):
        with pytest.raises(IRSyntaxError):
            parse(text[:cut])


def test_truncated_after_a_node_line_says_end_of_text(int_graph):
    text = _text(int_graph)
    head = text[:text.index("outputs")]
    with pytest.raises(IRSyntaxError, match=r"^line 8: expected a node line .* found 'end of "
                                            r"text'$") as info:
        parse(head)
    assert info.value.line == 8


def test_missing_final_newline_is_reported(int_graph):
    text = _text(int_graph)
    with pytest.raises(IRSyntaxError, match=r"^line 8: expected a final newline \(the text is "
                                            r"truncated\), found 'outputs output'$"):
        parse(text[:-1])


def test_non_canonical_float_weight_is_rejected(tiny_net):
    text = render(from_torch(tiny_net()))
    bad = text.replace("  -0.5 ", "  -0.50 ", 1)
    assert bad != text
    with pytest.raises(IRSyntaxError, match=r"a float in shortest round-trip form .* found "
                                            r"'-0.50'$"):
        parse(bad)


GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.ir"))
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _respellings(digits: str) -> list[str]:
    """Other ways to write the number ``digits`` (and a few other values), as a user might."""
    out = ["0" + digits, "+" + digits, "-" + digits, digits + ".0", digits + "e0",
           digits.translate(_FULLWIDTH), digits.translate(_ARABIC_INDIC), " " + digits]
    if len(digits) > 1:
        out.append(digits[0] + "_" + digits[1:])
    if digits == "0":
        out += ["-0", "+0", "00"]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_accepted_text_renders_back_to_itself(data):
    """One spelling per value: a text the parser accepts is exactly what render writes."""
    text = data.draw(st.sampled_from(GOLDEN)).read_text()
    start, end = data.draw(st.sampled_from([m.span() for m in re.finditer(r"[0-9]+", text)]))
    mutated = text[:start] + data.draw(st.sampled_from(_respellings(text[start:end]))) + text[end:]
    try:
        g = parse(mutated)
    except (IRSyntaxError, IRError):
        return
    assert render(g) == mutated
