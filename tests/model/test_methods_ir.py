"""Per-timestep input shift tables (folded TEBN): the neuron equation, the IR, the compiler."""

import dataclasses

import numpy as np
import pytest
import torch

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.ir import Op
from spikesmith.compiler.lowering import to_network_params
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import parse, render
from spikesmith.compiler.verify import IRError, verify
from spikesmith.model.method_net import build_mlp
from spikesmith.model.methods import Method
from spikesmith.sim.lif import LIFParams, LIFState, NeuronModel, charge, lif_step
from spikesmith.sim.network import run_network


def test_charge_shifts_the_input_left_by_the_table_entry():
    p = LIFParams(threshold=100, model=NeuronModel.LIF, leak_shift=2, input_shifts=(0, 2, 1))
    v = np.array([[8, -8, 0]])
    i = np.array([[3, 3, -5]])
    assert charge(v, i, p, t=0).tolist() == [[6 + 3, -6 + 3, -5]]
    assert charge(v, i, p, t=1).tolist() == [[6 + 12, -6 + 12, -20]]
    assert charge(v, i, p, t=2).tolist() == [[6 + 6, -6 + 6, -10]]
    s, st = lif_step(np.array([[30]]), LIFState.zeros(batch=1, n=1),
                     dataclasses.replace(p, input_shifts=(2,)), t=0)
    assert s.tolist() == [[True]] and st.v.tolist() == [[20]]


def test_lifparams_rejects_bad_tables():
    for bad in ((-1,), (8,), [1, 2], (1.0,)):
        with pytest.raises(ValueError, match="input_shifts"):
            LIFParams(threshold=3, input_shifts=bad)


@pytest.fixture(scope="module")
def tebn_graph():
    torch.manual_seed(0)
    net = build_mlp([10, 6, 3], method=Method.TEBN, timesteps=4)
    with torch.no_grad():
        for norm in net.norms:
            norm.q.copy_(torch.tensor([0.0, 1.0, 2.0, -1.0]))
    net.eval()
    return net, lower(from_torch(net))


def test_ir_carries_the_table_and_round_trips(tebn_graph):
    net, g = tebn_graph
    lifs = g.of_op(Op.LIF)
    assert [n.arg.input_shifts for n in lifs] == [(1, 2, 3, 0)] * 2
    text = render(g)
    assert "input_shifts=1,2,3,0" in text
    assert render(parse(text)) == text
    images = np.random.default_rng(1).integers(0, 256, size=(12, 10)).astype(np.uint8)
    got = run_network(to_network_params(parse(text)), images)
    want = net.evaluate_hardware(images)
    assert all(np.array_equal(a, b) for a, b in zip(got.membranes, want.membranes, strict=True))


def test_accumulator_width_is_proven_for_the_shifted_input(tebn_graph):
    _, g = tebn_graph
    dense = g.of_op(Op.DENSE)[1]
    bound = int(np.abs(dense.arg.weights).sum(axis=1).max()) << 3
    assert dense.fmt.contains(-bound, bound)
    narrow = parse(render(g).replace(f"{dense.name} = DENSE(layers.1) {dense.fmt}",
                                     f"{dense.name} = DENSE(layers.1) "
                                     f"s{dense.fmt.width - 3}.0:floor:wrap"))
    with pytest.raises(IRError, match="shifted bound"):
        verify(narrow, lowered=True)


def test_verify_rejects_a_table_of_the_wrong_length(tebn_graph):
    _, g = tebn_graph
    bad = parse(render(g).replace("input_shifts=1,2,3,0", "input_shifts=1,2,3", 1))
    with pytest.raises(IRError, match="one per timestep"):
        verify(bad)


def test_dense_text_without_tables_has_no_table_field():
    torch.manual_seed(0)
    g = lower(from_torch(build_mlp([10, 6, 3], method=Method.LT, timesteps=4).eval()))
    assert "input_shifts" not in render(g)
