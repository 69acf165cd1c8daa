"""Per-channel thresholds and input shift tables of conv layers in ``sim`` and the IR: the
neuron equations per channel, the typed IR fields and their text, the verifier's rules and the
proven (shifted) accumulator widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.ir import Op
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import parse, render
from spikesmith.compiler.verify import IRError, verify
from spikesmith.model.method_convnet import build_conv_net
from spikesmith.model.method_net import build_mlp
from spikesmith.model.methods import Method
from spikesmith.sim.conv import ConvLayer, conv_weight_bound
from spikesmith.sim.lif import LIFParams, LIFState, ResetMode, fire, lif_step, reset
from spikesmith.sim.quant import quantize_threshold, quantize_weights


def test_fire_and_reset_use_each_channels_threshold():
    p = LIFParams(threshold=9, channel_thresholds=(3, 9), reset=ResetMode.SUBTRACT)
    u = np.array([[3, 2, 8, 9]])  # channel 0: neurons 0, 1; channel 1: neurons 2, 3
    s = fire(u, p)
    assert s.tolist() == [[True, False, False, True]]
    assert reset(u, s, p).tolist() == [[0, 2, 8, 0]]
    spikes, state = lif_step(np.array([[5, 5, 5, 5]]), LIFState.zeros(batch=1, n=4), p)
    assert spikes.tolist() == [[True, True, False, False]]
    assert state.v.tolist() == [[2, 2, 5, 5]]


@pytest.mark.parametrize("kwargs", [dict(threshold=8, channel_thresholds=(3, 9)),
                                    dict(threshold=9, channel_thresholds=(0, 9)),
                                    dict(threshold=9, channel_thresholds=[3, 9]),
                                    dict(threshold=40000, channel_thresholds=(40000,))])
def test_lifparams_rejects_bad_channel_tables(kwargs):
    with pytest.raises(ValueError):
        LIFParams(**kwargs)


def test_conv_layer_needs_one_threshold_per_output_channel():
    lif = LIFParams(threshold=5, channel_thresholds=(5, 2, 3))
    w = np.ones((2, 1, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="3 entries for 2 output channels"):
        ConvLayer(weights=w, weight_bits=4, in_shape=(1, 5, 5), lif=lif)
    with pytest.raises(ValueError, match="do not equal|not 4 channels|channels of equal"):
        LIFParams(threshold=5, channel_thresholds=(5, 2, 3)).thresholds(4)


@pytest.fixture(scope="module")
def conv_graph():
    torch.manual_seed(0)
    net = build_conv_net("4c3-p2-10", (1, 8, 8), method=Method.LTMD_TEBN, timesteps=4,
                         membrane_bits=20)
    with torch.no_grad():
        net.time_scales["0"].q.copy_(torch.tensor([0.0, 3.0, 1.0, 2.0]))
        net.layers[2].tanh_w.copy_(torch.tensor([0.3, 0.5, 0.7, 0.9]))
    return lower(from_torch(net.eval()))


def test_ir_carries_both_tables_typed_and_round_trips(conv_graph):
    lif = conv_graph.of_op(Op.LIF)[0].arg
    assert lif.input_shifts == (0, 3, 1, 2)
    assert len(lif.channel_thresholds) == 4
    assert all(type(t) is int for t in lif.channel_thresholds)
    assert lif.threshold == max(lif.channel_thresholds)
    text = render(conv_graph)
    assert render(parse(text)) == text
    verify(parse(text), lowered=True)


def test_a_channel_table_without_shifts_writes_a_placeholder(conv_graph):
    g = parse(render(conv_graph).replace("input_shifts=0,3,1,2", "input_shifts=-"))
    assert g.of_op(Op.LIF)[0].arg.input_shifts == ()
    assert " input_shifts=- channel_thresholds=" in render(g)
    assert render(parse(render(g))) == render(g)


def test_conv_accumulator_is_proven_for_the_shifted_input(conv_graph):
    conv = conv_graph.of_op(Op.CONV)[0]
    a = conv.arg
    bound = conv_weight_bound(a.weights, a.bias, input_max=conv.src[0].fmt.max_value) << 3
    assert conv.fmt.contains(-bound, bound)
    narrow = parse(render(conv_graph).replace(
        f"= CONV(input) {conv.fmt}", f"= CONV(input) s{conv.fmt.width - 3}.0:floor:wrap"))
    with pytest.raises(IRError, match="shifted bound"):
        verify(narrow, lowered=True)


def test_verify_rejects_a_channel_table_of_the_wrong_length(conv_graph):
    lif = conv_graph.of_op(Op.LIF)[0].arg
    entries = ",".join(map(str, lif.channel_thresholds))
    short = ",".join(map(str, lif.channel_thresholds[:3]))
    bad = parse(render(conv_graph).replace(f"channel_thresholds={entries}",
                                           f"channel_thresholds={short}"))
    with pytest.raises(IRError, match="3 entries for the 4 output channels"):
        verify(bad)


def test_verify_rejects_a_channel_table_on_a_dense_layer():
    torch.manual_seed(0)
    g = lower(from_torch(build_mlp([10, 6, 3], method=Method.LT, timesteps=4).eval()))
    lif = g.of_op(Op.LIF)[0]
    table = (lif.arg.threshold,) * 6
    text = render(g).replace(f"membrane={lif.arg.membrane}",
                             f"membrane={lif.arg.membrane} input_shifts=- "
                             f"channel_thresholds={','.join(map(str, table))}", 1)
    with pytest.raises(IRError, match="need a CONV operand"):
        verify(parse(text))


def test_quantize_folds_each_channel_by_the_layer_rule():
    torch.manual_seed(2)
    net = build_conv_net("3c3-10", (1, 6, 6), method=Method.LT, timesteps=2,
                         membrane_bits=20).eval()
    lif = lower(from_torch(net)).of_op(Op.LIF)[0].arg
    layer = net.integer_layers()[0]
    w, _ = net.export_synapse(net.stages()[0])
    _, scale = quantize_weights(w, bits=8)
    want = tuple(quantize_threshold(t, scale=scale, input_scale=1.0, membrane_bits=20)
                 for t in net.layers[2].channel_threshold_values())
    assert lif.channel_thresholds == layer.lif.channel_thresholds == want
    assert len(set(want)) == 1  # tanh(w) starts at kappa in every channel


def test_nir_export_states_the_tables(conv_graph):
    pytest.importorskip("nir")
    from spikesmith.compiler.nir_export import THRESHOLD_OFFSET, to_nir

    lif = conv_graph.of_op(Op.LIF)[0]
    node = to_nir(conv_graph).nodes[lif.name.replace(".", "_")]
    table = list(lif.arg.channel_thresholds)
    assert (node.v_threshold[:, 0, 0] + THRESHOLD_OFFSET).tolist() == table
    assert node.metadata["spikesmith.channel_thresholds"] == table
    assert node.metadata["spikesmith.input_shifts"] == [0, 3, 1, 2]
