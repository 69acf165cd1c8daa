"""Passes: quantisation through sim.quant, proven accumulator widths, partitioning, pipeline."""

import itertools

import numpy as np
import pytest

from spikesmith.compiler.errors import CompilerError, QuantizationError
from spikesmith.compiler.frontend.torch import (
    ModelStructureError,
    UnsupportedLayerError,
    from_torch,
)
from spikesmith.compiler.ir import Graph, Op, structurally_equal
from spikesmith.compiler.irfile import IRFileError
from spikesmith.compiler.passes import infer_widths, partition, quantize
from spikesmith.compiler.passes.infer_widths import accumulator_format
from spikesmith.compiler.passes.partition import core_name
from spikesmith.compiler.pipeline import lower, passes
from spikesmith.compiler.render import IRSyntaxError, render
from spikesmith.compiler.verify import IRError, verify
from spikesmith.sim.encoders import Encoding
from spikesmith.sim.fixed import Overflow
from spikesmith.sim.quant import quantize_threshold, quantize_weights


def test_quantize_folds_through_sim_quant(tiny_net):
    net = tiny_net()
    g = quantize(from_torch(net))
    verify(g)
    for k, (dense, neuron) in enumerate(net.synapse_neuron_pairs()):
        w, s = quantize_weights(dense.weight.detach().numpy(), bits=dense.weight_bits)
        d = g.node(f"layers.{2 * k}").arg
        assert d.weights.dtype == np.int64
        assert np.array_equal(d.weights, w)
        assert d.input_scale is None
        theta = quantize_threshold(neuron.threshold_value(), scale=s,
                                   input_scale=net.input_scale(k), membrane_bits=14)
        assert g.node(f"layers.{2 * k + 1}").arg.threshold == theta


def test_quantize_of_the_tiny_net_gives_literal_integers(tiny_net):
    g = quantize(from_torch(tiny_net()))
    # w = k/16 with max |w| = 8/16 and 4 bits: w_int = rint(w * 14), ties to even.
    assert g.node("layers.0").arg.weights.tolist() == [
        [-7, -3, 2, 6, -4, 0], [4, -6, -2, 3, 7, -4], [1, 5, -5, -1, 4, -7],
        [-3, 2, 6, -4, 0, 4]]
    # theta / (scale / 255) = 0.75 * 14 * 255 = 2677.5 -> 2678; 1.25 / (0.625 / 7) = 14.
    assert g.node("layers.1").arg.threshold == 2678
    assert g.node("layers.3").arg.threshold == 14


def test_quantize_is_idempotent_and_infer_widths_needs_it(tiny_net):
    g = from_torch(tiny_net())
    q = quantize(g)
    assert structurally_equal(quantize(q), q)
    with pytest.raises(ValueError, match=r"node 'layers.0': weights must be integers to infer "
                                         r"widths, not float64; run passes.quantize first"):
        infer_widths(g)


def test_quantize_reports_a_threshold_too_big_for_the_membrane(tiny_net):
    net = tiny_net()
    net.membrane_bits = 8
    with pytest.raises(QuantizationError, match=r"^node 'layers.1': threshold 0.75 is 2678 "
                       r"membrane LSBs, more than the 8-bit membrane holds \(127\)"):
        lower(from_torch(net))


@pytest.mark.parametrize("seed", range(6))
def test_accumulator_bound_holds_every_binary_input(seed):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(1, 9))
    bits = int(rng.integers(2, 9))
    top = (1 << (bits - 1)) - 1
    w = rng.integers(-top, top + 1, size=(int(rng.integers(1, 6)), n_in))
    fmt = accumulator_format(w, input_max=1)
    x = np.array(list(itertools.product((0, 1), repeat=n_in)), dtype=np.int64)
    i = x @ w.T
    assert fmt.contains(int(i.min()), int(i.max()))
    # Every partial sum too (accumulation in input order), and the format is the narrowest.
    partial = np.cumsum(x[:, None, :] * w[None, :, :], axis=2)
    assert fmt.contains(int(partial.min()), int(partial.max()))
    bound = int(np.abs(w).sum(axis=1).max())
    assert fmt.contains(-bound, bound)
    assert fmt.width == 2 or (1 << (fmt.width - 2)) - 1 < bound  # one bit fewer would not do
    # The extreme is reached at the all-same-sign inputs of the worst row.
    worst = max(max(r[r > 0].sum(), -r[r < 0].sum()) for r in w)
    assert int(np.abs(i).max()) == worst


def test_direct_input_accumulator_covers_8_bit_pixels():
    w = np.array([[127, -127, 127], [-1, 0, 1]])
    fmt = accumulator_format(w, input_max=255)
    assert (fmt.width, fmt.overflow) == (18, Overflow.WRAP)
    extremes = np.array(list(itertools.product((0, 255), repeat=3)))
    assert fmt.contains(int((extremes @ w.T).min()), int((extremes @ w.T).max()))


def test_infer_widths_uses_the_operand_format(tiny_net):
    g = infer_widths(quantize(from_torch(tiny_net(Encoding.DIRECT))))
    verify(g)
    first, second = g.of_op(Op.DENSE)
    assert first.fmt == accumulator_format(first.arg.weights, input_max=255)
    assert second.fmt == accumulator_format(second.arg.weights, input_max=1)
    assert all(n.arg.membrane.overflow is Overflow.SATURATE for n in g.of_op(Op.LIF))


def test_partition_assigns_one_core_per_dense(tiny_net):
    g = partition(infer_widths(quantize(from_torch(tiny_net()))), lanes=4)
    verify(g, lowered=True)
    assert [(n.arg.core, n.arg.lanes) for n in g.of_op(Op.DENSE)] == [
        ("layers_0", 4), ("layers_2", 4)]
    with pytest.raises(ValueError, match=r"lanes must be a power of two in 1\.\.64, not 6"):
        partition(g, lanes=6)
    assert core_name("0.a") == "core_0_a"


def test_pipeline_runs_named_passes_in_order_and_verifies(tiny_net):
    seen = []
    g = lower(from_torch(tiny_net()), lanes=2, trace=lambda name, h: seen.append(
        (name, render(h).count("\n"))))
    assert [name for name, _ in seen] == ["input", "quantize", "infer_widths", "partition"]
    assert [name for name, _ in passes(lanes=2)] == ["quantize", "infer_widths", "partition"]
    assert structurally_equal(lower(g, lanes=2), g)


def test_pipeline_rejects_an_invalid_input_graph(int_graph):
    g = int_graph()
    bad = Graph(nodes=g.nodes, outputs=())
    with pytest.raises(IRError, match=r"input graph: the graph must have at least one output"):
        lower(bad)


@pytest.mark.parametrize("error", [IRError, IRSyntaxError, IRFileError, UnsupportedLayerError,
                                   ModelStructureError, QuantizationError])
def test_every_bad_input_error_is_a_compiler_error(error):
    assert issubclass(error, CompilerError)
    assert issubclass(error, ValueError)
