"""sim.decision: the first-spike rule's class, tie breaks, silence and timesteps needed."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.sim.decision import OutputRule, decide
from spikesmith.sim.network import predict


def _run() -> tuple[np.ndarray, np.ndarray]:
    s = np.zeros((4, 4, 5), np.uint8)  # (T, batch, n)
    v = np.zeros((4, 4, 5), np.int64)
    s[2, 0, [3, 1]] = 1       # sample 0: first spikes at t=2 on 1 and 3, equal membranes -> 1
    s[3, 0, 4] = 1
    s[0, 1, 4] = 1            # sample 1: neuron 4 at t=0, though neuron 2 spikes more later
    s[1:, 1, 2] = 1
    s[1, 3, [0, 2]] = 1       # sample 3: 0 and 2 at t=1; 2 overshot more -> 2
    v[1, 3] = [3, 9, 5, 9, 9]
    v[-1, 2] = [-4, 2, 7, 7, -1]  # sample 2: silent; larger final membrane, lower index -> 2
    return s, v


def test_first_spike_classes_tie_breaks_and_silence():
    s, v = _run()
    d = decide(s, v, rule=OutputRule.FIRST_SPIKE)
    assert d.classes.tolist() == [1, 4, 2, 2]
    assert d.timesteps.tolist() == [3, 1, 4, 2]
    assert d.fired.tolist() == [True, True, False, True]


def test_max_count_equals_network_predict():
    s, v = _run()
    d = decide(s, v, rule=OutputRule.MAX_COUNT)
    assert d.classes.tolist() == predict(s.sum(axis=0), v[-1]).tolist()
    assert d.timesteps.tolist() == [4, 4, 4, 4]


def test_float_membranes_follow_the_same_rules():
    s, v = _run()
    d = decide(s, v.astype(np.float64) / 7, rule=OutputRule.FIRST_SPIKE)
    assert d.classes.tolist() == [1, 4, 2, 2]


def test_bad_arguments_are_refused():
    s, v = _run()
    with pytest.raises(TypeError, match="OutputRule"):
        decide(s, v, rule="first_spike")
    with pytest.raises(ValueError, match="membranes must have the spikes' shape"):
        decide(s, v[-1], rule=OutputRule.FIRST_SPIKE)
    with pytest.raises(ValueError, match="shape"):
        decide(np.zeros((4, 3)), v, rule=OutputRule.FIRST_SPIKE)
