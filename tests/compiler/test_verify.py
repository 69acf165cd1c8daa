"""verify() reports every rule violation, each naming its node."""

import dataclasses

import numpy as np
import pytest

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.ir import DenseArg, Graph, Node, Op, rewrite
from spikesmith.compiler.passes import infer_widths, partition
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.verify import IRError, verify
from spikesmith.sim.fixed import FixedFormat, Overflow


def _edit(g, target, **changes):
    """Return ``g`` with node ``target`` replaced by ``dataclasses.replace(node, **changes)``."""
    return rewrite(g, lambda old, new: dataclasses.replace(new, **changes)
                   if old.name == target else new)


def _edit_arg(g, target, **changes):
    return rewrite(g, lambda old, new: dataclasses.replace(
        new, arg=dataclasses.replace(new.arg, **changes)) if old.name == target else new)


def test_valid_graphs_pass_at_every_stage(int_graph, tiny_net):

    verify(from_torch(tiny_net()))
    verify(int_graph())
    verify(lower(int_graph(), lanes=4), lowered=True)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda g: _edit(g, "input", fmt=FixedFormat(8, signed=False)),
     (r"node 'input' \(INPUT\): format must be u1.0:floor:saturate for rate encoding, "
     r"not u8.0:floor:saturate")),
    (lambda g: _edit_arg(g, "input", timesteps=0),
     r"node 'input' \(INPUT\): timesteps must be an integer in 1..256, not 0"),
    (lambda g: _edit_arg(g, "layers.0", weights=np.ones((2, 4), np.int64)),
     (r"node 'layers.0' \(DENSE\): weights have 4 inputs but operand 'input' produces 3 "
     r"values")),
    (lambda g: _edit_arg(g, "layers.0", weights=np.array([[8, 0, 0], [0, 0, 0]])),
     r"node 'layers.0' \(DENSE\): weights must fit 4 signed bits, not range \[0, 8\]"),
    (lambda g: _edit_arg(g, "layers.0", bits=17),
     r"node 'layers.0' \(DENSE\): weight bits must be an integer in 2..16, not 17"),
    (lambda g: _edit(infer_widths(g), "layers.0", fmt=FixedFormat(4, overflow=Overflow.WRAP)),
     (r"node 'layers.0' \(DENSE\): accumulator format s4.0:floor:wrap cannot hold the proven "
     r"bound \|I\| <= 9; it needs 5 bits")),
    (lambda g: _edit_arg(g, "layers.0", lanes=3, core="c"),
     r"node 'layers.0' \(DENSE\): lanes must be a power of two in 1..64, not 3"),
    (lambda g: _edit_arg(g, "layers.0", core="layers.0", lanes=2),
     r"node 'layers.0' \(DENSE\): core must be an identifier, not 'layers.0'"),
    (lambda g: _edit_arg(g, "layers.0", core="c"),
     r"core and lanes must be set together, not core='c' lanes=None"),
    (lambda g: _edit_arg(g, "layers.0", input_scale=0.5),
     r"node 'layers.0' \(DENSE\): input_scale must be None after quantisation, not 0.5"),
    (lambda g: _edit_arg(g, "layers.1", threshold=128),
     (r"node 'layers.1' \(LIF\): threshold must be an integer in 1..127 \(the 8-bit membrane "
     r"maximum\), not 128")),
    (lambda g: _edit_arg(g, "layers.1", threshold=2.5),
     r"node 'layers.1' \(LIF\): threshold must be an integer after quantisation, not 2.5"),
    (lambda g: _edit_arg(g, "layers.1", membrane=FixedFormat(8, overflow=Overflow.WRAP)),
     (r"node 'layers.1' \(LIF\): membrane format must be signed and saturating, not "
     r"s8.0:floor:wrap")),
    (lambda g: _edit(g, "layers.1", fmt=FixedFormat(2)),
     (r"node 'layers.1' \(LIF\): format must be u1.0:floor:saturate \(spikes\), not "
     r"s2.0:floor:saturate")),
    (lambda g: _edit(g, "output", fmt=FixedFormat(3, signed=False)),
     (r"node 'output' \(OUTPUT\): format must be u1.0:floor:saturate for 2 classes, not "
     r"u3.0:floor:saturate")),
    (lambda g: _edit(g, "layers.1", src=()),
     r"node 'layers.1' \(LIF\): takes 1 operand\(s\), not 0"),
    (lambda g: _edit(g, "output", src=(g.node("layers.0"),)),
     r"node 'output' \(OUTPUT\): operand 'layers.0' is DENSE; accepted: LIF"),
    (lambda g: _edit(g, "layers.1", name="layers 1"),
     r"name must match .*, not 'layers 1'"),
    (lambda g: _edit(g, "layers.1", name="input"),
     r"node #2: name 'input' is used twice"),
    (lambda g: Graph(nodes=g.nodes, outputs=(g.node("layers.1"),)),
     r"output 'layers.1' must be an OUTPUT node, not LIF"),
    (lambda g: Graph(nodes=g.nodes[:1] + g.nodes[2:], outputs=g.outputs),
     r"node 'layers.1': operand 'layers.0' is not an earlier node of the graph"),
    (lambda g: Graph(nodes=(*g.nodes[:-1], dataclasses.replace(g.nodes[-1], name="o2"),
                            g.nodes[-1]), outputs=g.outputs),
     r"OUTPUT node 'o2' is not listed in the graph outputs"),
    (lambda g: Graph(nodes=g.nodes[1:], outputs=g.outputs),
     r"the graph must start with its one INPUT node, found 0 INPUT node\(s\)"),
])
def test_each_rule_violation_is_reported(int_graph, edit, match):
    g = edit(int_graph())
    with pytest.raises(IRError, match=match):
        verify(g)


def test_fan_out_breaks_the_chain(int_graph):
    g = int_graph()
    x = g.node("input")
    spare = Node(op=Op.DENSE, fmt=None, src=(x,), arg=g.node("layers.0").arg, name="spare")
    h = Graph(nodes=(x, spare, *g.nodes[1:]), outputs=g.outputs)
    with pytest.raises(IRError) as info:
        verify(h)
    assert info.value.problems == (
        ("node 'input' has 2 users; the spine is a chain, so every non-OUTPUT node feeds "
        "exactly one node"),
        ("node 'spare' has 0 users; the spine is a chain, so every non-OUTPUT node feeds "
        "exactly one node"),
    )


def test_all_problems_are_listed_at_once(int_graph):
    g = _edit_arg(int_graph(), "layers.1", threshold=0, leak_shift=40)
    g = _edit_arg(g, "input", features=0)
    with pytest.raises(IRError, match=r"^IR verification failed with 3 problem\(s\):\n") as info:
        verify(g)
    assert len(info.value.problems) == 3


def test_float_parameters_in_an_integer_graph_are_reported(int_graph, tiny_net):

    g = from_torch(tiny_net())
    lif = dataclasses.replace(g.node("layers.3").arg, threshold=3)
    h = _edit(g, "layers.3", arg=lif)
    with pytest.raises(IRError, match=r"node 'layers.3': integer parameters in a float-stage "
                                      r"graph \(the first DENSE or CONV sets the stage\)"):
        verify(h)


def test_float_dense_must_not_carry_an_accumulator_format(tiny_net):

    g = _edit(from_torch(tiny_net()), "layers.0", fmt=FixedFormat(20))
    with pytest.raises(IRError, match=r"a float DENSE has no accumulator format yet, not "
                                      r"s20.0:floor:saturate"):
        verify(g)


def test_lowered_requires_integers_widths_and_cores(int_graph, tiny_net):

    with pytest.raises(IRError, match=r"a lowered graph must be integer-only; run "
                                      r"passes.quantize"):
        verify(from_torch(tiny_net()), lowered=True)
    with pytest.raises(IRError) as info:
        verify(int_graph(), lowered=True)
    assert info.value.problems == (
        "node 'layers.0': accumulator width not inferred; run passes.infer_widths",
        "node 'layers.0': not assigned to a core; run passes.partition",
    )
    verify(partition(infer_widths(int_graph()), lanes=2), lowered=True)


def test_partial_partition_and_duplicate_cores_are_reported(tiny_net):

    g = lower(from_torch(tiny_net()), lanes=1)
    h = _edit_arg(g, "layers.2", core="layers_0")
    with pytest.raises(IRError, match=r"core names must be unique, not \['layers_0'\]"):
        verify(h)
    h = _edit_arg(g, "layers.2", core=None, lanes=None)
    with pytest.raises(IRError, match=r"either every DENSE and CONV is assigned to a core or "
                                      r"none is"):
        verify(h)


def test_verify_rejects_a_non_graph():
    with pytest.raises(TypeError, match=r"g must be a Graph, not 3"):
        verify(3)


def test_wrong_argument_type_is_reported(int_graph):
    g = int_graph()
    h = _edit(g, "layers.1", arg=g.node("layers.0").arg)
    with pytest.raises(IRError, match=r"node 'layers.1' \(LIF\): argument must be a LIFArg, "
                                      r"not DenseArg"):
        verify(h)


def test_integer_weights_with_float_dtype_count_as_float_stage(int_graph):
    g = _edit_arg(int_graph(), "layers.0", weights=np.array([[1.0, 0, 0], [0, 0, 0]]))
    with pytest.raises(IRError, match=r"node 'layers.1': integer parameters in a float-stage"):
        verify(g)
    assert isinstance(g.node("layers.0").arg, DenseArg)
