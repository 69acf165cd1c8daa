"""CONV and POOL in the IR: verify rules, passes, lowering to sim, and the network through text."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikesmith.compiler.ir import (
    ConvArg,
    DenseArg,
    LIFArg,
    Op,
    PoolArg,
    build_spine,
    feature_shape,
    rewrite,
    size,
)
from spikesmith.compiler.lowering import chain, to_network_config, to_network_params
from spikesmith.compiler.passes import infer_widths, partition, quantize
from spikesmith.compiler.passes.quantize import quantization_stats
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import parse, render
from spikesmith.compiler.verify import IRError, verify
from spikesmith.sim.conv import ConvLayer, PoolLayer
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat, Overflow
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, NetworkParams, run_network


def _edit(g, name, **changes):
    return rewrite(g, lambda _o, n: dataclasses.replace(n, **changes) if n.name == name else n)


def _edit_arg(g, name, **changes):
    return rewrite(g, lambda _o, n: dataclasses.replace(
        n, arg=dataclasses.replace(n.arg, **changes)) if n.name == name else n)


def test_sizes_and_maps_follow_the_chain(conv_graph):
    g = conv_graph()
    verify(g)
    assert [(n.op, size(n), feature_shape(n)) for n in g.nodes] == [
        (Op.INPUT, 36, None), (Op.CONV, 72, (2, 6, 6)), (Op.LIF, 72, (2, 6, 6)),
        (Op.POOL, 18, (2, 3, 3)), (Op.CONV, 12, (3, 2, 2)), (Op.LIF, 12, (3, 2, 2)),
        (Op.DENSE, 4, None), (Op.LIF, 4, None), (Op.OUTPUT, 4, None)]


def test_infer_widths_and_partition_give_conv_its_bound_and_core(conv_graph):
    g = partition(infer_widths(conv_graph()), lanes=4)
    verify(g, lowered=True)
    c0, c3 = g.node("layers.0"), g.node("layers.3")
    # Bounds (golden file rows): layer 0 max(17 + |3|, 14 + |-2|) = 20, layer 3 max 10.
    assert (c0.fmt, c3.fmt) == (FixedFormat(6, overflow=Overflow.WRAP),
                                FixedFormat(5, overflow=Overflow.WRAP))
    assert [(n.arg.core, n.arg.lanes) for n in g.nodes if n.op in (Op.CONV, Op.DENSE)] == [
        ("layers_0", 4), ("layers_3", 4), ("layers_5", 4)]
    assert g.node("layers.2").arg == PoolArg(kernel=2, in_shape=(2, 6, 6))


def test_quantize_folds_conv_weights_bias_and_threshold(conv_graph):
    g = quantize(conv_graph(integer=False, membrane_bits=16))
    a: ConvArg = g.node("layers.0").arg
    # Float weights are the integers / 8 with max |w| = 3/8: scale s = (3/8) / 3 = 1/8, so the
    # integers come back; the bias (3, -2)/8 and threshold 4/8 become 3, -2 and 4 LSBs.
    expected = conv_graph()
    assert np.array_equal(a.weights, expected.node("layers.0").arg.weights)
    assert a.bias.tolist() == [3, -2] and a.bias.dtype == np.int64 and a.input_scale is None
    assert g.node("layers.1").arg.threshold == 4
    assert list(quantization_stats(conv_graph(integer=False))) == ["layers.0", "layers.3",
                                                                    "layers.5"]


def test_lowered_conv_graph_runs_as_the_sim_network(conv_graph):
    g = lower(conv_graph(), lanes=2)
    params = to_network_params(g)
    kinds = [type(layer) for layer in params.layers]
    assert kinds == [ConvLayer, PoolLayer, ConvLayer, DenseLayer]
    c0 = params.layers[0]
    assert (c0.stride, c0.padding, c0.in_shape, c0.bias.tolist()) == (1, 1, (1, 6, 6), [3, -2])
    assert c0.lif == g.node("layers.1").arg.params()
    _, items, _ = chain(g)
    assert [it.name if not isinstance(it, tuple) else it[0].name for it in items] == [
        "layers.0", "layers.2", "layers.3", "layers.5"]
    with pytest.raises(ValueError, match=r"dense layers only.*'layers.0', 'layers.2'"):
        to_network_config(g)


def test_conv_network_survives_the_text(conv_graph):
    g = lower(conv_graph(), lanes=2)
    text = render(g)
    assert render(parse(text)) == text
    images = np.random.default_rng(0).integers(0, 256, size=(8, 36)).astype(np.uint8)
    a = run_network(to_network_params(g), images)
    b = run_network(to_network_params(parse(text)), images)
    assert sum(int(s.sum()) for s in a.spikes) > 0
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert np.array_equal(x, y)
    assert np.array_equal(a.predictions, b.predictions)


# --- verify rules -------------------------------------------------------------------------

def _problems(g, *, lowered=False):
    with pytest.raises(IRError) as exc:
        verify(g, lowered=lowered)
    return "\n".join(exc.value.problems)


@pytest.mark.parametrize(("node", "changes", "match"), [
    ("layers.0", dict(padding=3), r"'layers.0' \(CONV\): padding must be an integer in 0..2"),
    ("layers.0", dict(stride=0), r"stride must be an integer >= 1, not 0"),
    ("layers.0", dict(in_shape=(1, 4, 9)), (r"'layers.2' \(POOL\): in_shape \(2, 6, 6\) differs "
                                           r"from the \(2, 4, 9\) map of operand 'layers.1'")),
    ("layers.0", dict(in_shape=(1, 5, 5)), (r"in_shape \(1, 5, 5\) reads 25 values but operand "
                                           r"'input' produces 36")),
    ("layers.0", dict(bias=np.array([1, 2, 3])), r"bias must have shape \(2,\), not \(3,\)"),
    ("layers.0", dict(bias=np.array([300, 0])), (r"'layers.1' \(LIF\): the bias of 'layers.0', "
                                                r"range \[0, 300\], must fit the membrane")),
    ("layers.0", dict(bits=2), r"weights must fit 2 signed bits, not range \[-3, 3\]"),
    ("layers.0", dict(bias=np.array([0.5, 1.0])), (r"weights must be integers after "
                                                  r"quantisation, not \['int64', 'float64'\]")),
    ("layers.3", dict(in_shape=(1, 3, 6)), (r"in_shape \(1, 3, 6\) differs from the \(2, 3, 3\) "
                                           r"map of operand 'layers.2'")),
    ("layers.3", dict(weights=np.ones((3, 1, 2, 2), np.int64)),
     r"weights read 1 channels, in_shape has 2"),
    ("layers.3", dict(weights=np.ones((3, 2, 2, 3), np.int64)),
     r"weights must be a non-empty \(C_out, C_in, K, K\) array"),
    ("layers.2", dict(kernel=7), r"'layers.2' \(POOL\): pool kernel must be an integer in 1..6"),
    ("layers.2", dict(in_shape=(2, 3, 12)), (r"in_shape \(2, 3, 12\) differs from the "
                                            r"\(2, 6, 6\) map of operand 'layers.1'")),
])
def test_verify_reports_conv_and_pool_faults(conv_graph, node, changes, match):
    with pytest.raises(IRError, match=match):
        verify(_edit_arg(conv_graph(), node, **changes))


def test_verify_reports_a_narrow_conv_accumulator_and_pool_of_currents(conv_graph):
    g = partition(infer_widths(conv_graph()), lanes=1)
    narrow = _edit(g, "layers.0", fmt=FixedFormat(5, overflow=Overflow.WRAP))
    assert "cannot hold the proven bound |I| <= 20; it needs 6 bits" in _problems(narrow)
    assert "not assigned to a core" in _problems(infer_widths(conv_graph()), lowered=True)
    direct = EncoderParams(Encoding.DIRECT)
    lif = LIFArg(threshold=2, model=NeuronModel.IF, leak_shift=1, reset=ResetMode.ZERO,
                 membrane=FixedFormat(16))
    pool_first = build_spine([PoolArg(kernel=2, in_shape=(1, 4, 4)),
                              (DenseArg(weights=np.ones((2, 4), np.int64), bits=2), lif)],
                             encoder=direct, timesteps=2)
    assert ("operand 'input' must carry spikes (u1.0:floor:saturate) to be OR-pooled"
            in _problems(pool_first))
    verify(build_spine([PoolArg(kernel=2, in_shape=(1, 4, 4)),
                        (DenseArg(weights=np.ones((2, 4), np.int64), bits=2), lif)],
                       encoder=EncoderParams(Encoding.RATE), timesteps=2))


def test_pool_cannot_feed_a_lif_nor_the_output(conv_graph):
    g = conv_graph()
    pool = g.node("layers.2")
    bad = rewrite(g, lambda _o, n: dataclasses.replace(n, src=(pool,))
                  if n.name == "layers.4" else n)
    assert "operand 'layers.2' is POOL; accepted: CONV, DENSE" in _problems(bad)


# --- random conv networks: IR -> text -> IR -> sim -----------------------------------------

@st.composite
def conv_networks(draw):
    """A random small network (conv, pool, conv?, dense) as sim layers and as the same IR."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    encoding = draw(st.sampled_from([Encoding.RATE, Encoding.DIRECT]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(3, 7)), draw(st.integers(3, 7)))
    membrane = FixedFormat(draw(st.integers(12, 20)))
    sim_layers, ir_layers = [], []

    def lif():
        return LIFArg(threshold=draw(st.integers(1, 40)),
                      model=draw(st.sampled_from(NeuronModel)),
                      leak_shift=draw(st.integers(1, 5)),
                      reset=draw(st.sampled_from(ResetMode)), membrane=membrane)
    for _ in range(draw(st.integers(1, 2))):
        k = draw(st.integers(1, min(shape[1], shape[2], 3)))
        p, s, bits = draw(st.integers(0, k - 1)), draw(st.integers(1, 2)), draw(st.integers(2, 6))
        top = (1 << (bits - 1)) - 1
        w = rng.integers(-top - 1, top + 1, size=(draw(st.integers(1, 3)), shape[0], k, k))
        w[:, :, 0, 0] = top  # every map sees its input, so the comparison is not vacuous
        b = rng.integers(-20, 21, size=w.shape[0]) if draw(st.booleans()) else None
        conv, n = ConvArg(weights=w, bits=bits, in_shape=shape, stride=s, padding=p, bias=b), lif()
        sim_layers.append(ConvLayer(weights=w, bias=b, weight_bits=bits, stride=s, padding=p,
                                    in_shape=shape, lif=n.params()))
        ir_layers.append((conv, n))
        shape = conv.out_shape
        if draw(st.booleans()):
            pool = PoolArg(kernel=draw(st.integers(1, min(shape[1], shape[2]))), in_shape=shape)
            sim_layers.append(PoolLayer(kernel=pool.kernel, in_shape=shape))
            ir_layers.append(pool)
            shape = pool.out_shape
    w = rng.integers(-8, 8, size=(draw(st.integers(1, 4)), int(np.prod(shape))))
    n = lif()
    sim_layers.append(DenseLayer(w, 4, n.params()))
    ir_layers.append((DenseArg(weights=w, bits=4), n))
    enc = EncoderParams(encoding)
    timesteps = draw(st.integers(1, 4))
    g = build_spine(ir_layers, encoder=enc, timesteps=timesteps)
    return g, NetworkParams(tuple(sim_layers), enc, timesteps), rng


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_networks())
def test_random_conv_networks_through_text_give_identical_traces(case):
    g, expected, rng = case
    text = render(lower(g, lanes=2))
    h = parse(text)
    assert render(h) == text
    images = rng.integers(0, 256, size=(3, expected.layers[0].n_in)).astype(np.uint8)
    a, b = run_network(expected, images), run_network(to_network_params(h), images)
    assert int(a.spikes[0].sum()) + int(np.abs(a.membranes[0]).sum()) > 0
    for x, y in zip(a.spikes, b.spikes, strict=True):
        assert np.array_equal(x, y)
    for x, y in zip(a.membranes, b.membranes, strict=True):
        assert (x is None and y is None) or np.array_equal(x, y)
    assert np.array_equal(a.predictions, b.predictions)
