"""The OUTPUT op's first-spike rule: verify, text round trip, lowering to the golden model."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.compiler.ir import Decision, OutputArg, structurally_equal, with_output_rule
from spikesmith.compiler.lowering import output_rule, to_network_params
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import parse, render
from spikesmith.compiler.verify import IRError, verify
from spikesmith.sim.decision import OutputRule, decide
from spikesmith.sim.network import run_network


def test_default_rule_text_is_unchanged(int_graph):
    text = render(int_graph())
    assert "rule=max_count" in text
    assert "first_spike" not in text


def test_first_spike_rule_round_trips_exactly(int_graph):
    g = with_output_rule(int_graph(), Decision.FIRST_SPIKE)
    text = render(g)
    assert "rule=first_spike" in text
    back = parse(text)
    assert structurally_equal(back, g)
    assert render(back) == text
    assert back.outputs[0].arg == OutputArg(rule=Decision.FIRST_SPIKE)


def test_verify_rejects_a_rule_that_is_not_a_decision(int_graph):
    g = with_output_rule(int_graph(), Decision.FIRST_SPIKE)
    object.__setattr__(g.outputs[0].arg, "rule", "first_spike")
    with pytest.raises(IRError, match="rule must be a Decision"):
        verify(g)


def test_with_output_rule_refuses_other_types(int_graph):
    with pytest.raises(TypeError, match="must be a Decision"):
        with_output_rule(int_graph(), "first_spike")


def test_lowered_first_spike_graph_runs_the_first_spike_rule(int_graph):
    g = lower(with_output_rule(int_graph(), Decision.FIRST_SPIKE), lanes=1)
    assert output_rule(g) is OutputRule.FIRST_SPIKE
    params = to_network_params(g)
    assert params.rule is OutputRule.FIRST_SPIKE
    images = np.random.default_rng(3).integers(0, 256, size=(50, 3)).astype(np.uint8)
    trace = run_network(params, images)
    want = decide(trace.spikes[-1], trace.membranes[-1], rule=OutputRule.FIRST_SPIKE).classes
    assert trace.predictions.tolist() == want.tolist()
    assert to_network_params(lower(int_graph(), lanes=1)).rule is OutputRule.MAX_COUNT
