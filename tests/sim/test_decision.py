"""sim.decision: the first-spike rule's class, tie break, silence and timesteps needed."""

from __future__ import annotations

import numpy as np
import pytest

from spikesmith.sim.decision import OutputRule, decide
from spikesmith.sim.network import predict


def _spikes() -> np.ndarray:
    s = np.zeros((4, 3, 5), np.uint8)  # (T, batch, n)
    s[2, 0, [3, 1]] = 1       # sample 0: first spikes at t=2 on 1 and 3 -> 1 (lower index)
    s[3, 0, 4] = 1
    s[0, 1, 4] = 1            # sample 1: neuron 4 at t=0, though neuron 2 spikes more later
    s[1:, 1, 2] = 1
    return s                  # sample 2: silent


def test_first_spike_classes_tie_break_and_silence():
    v = np.array([[9, 9, 9, 9, 9], [9, 9, 9, 9, 9], [-4, 2, 7, 7, -1]])
    d = decide(_spikes(), v, rule=OutputRule.FIRST_SPIKE)
    # sample 2 is silent: the larger final membrane, ties to the lower index (as max_count)
    assert d.classes.tolist() == [1, 4, 2]
    assert d.timesteps.tolist() == [3, 1, 4]
    assert d.fired.tolist() == [True, True, False]


def test_max_count_equals_network_predict():
    s = _spikes()
    v = np.arange(15).reshape(3, 5)
    d = decide(s, v, rule=OutputRule.MAX_COUNT)
    assert d.classes.tolist() == predict(s.sum(axis=0), v).tolist()
    assert d.timesteps.tolist() == [4, 4, 4]


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="OutputRule"):
        decide(_spikes(), None, rule="first_spike")
    with pytest.raises(ValueError, match="final membranes"):
        decide(_spikes(), None, rule=OutputRule.MAX_COUNT)
    with pytest.raises(ValueError, match="final membranes for silent samples"):
        decide(_spikes(), None, rule=OutputRule.FIRST_SPIKE)
    assert decide(_spikes()[:, :2], None, rule=OutputRule.FIRST_SPIKE).classes.tolist() == [1, 4]
    with pytest.raises(ValueError, match="shape"):
        decide(np.zeros((4, 3)), None, rule=OutputRule.FIRST_SPIKE)
