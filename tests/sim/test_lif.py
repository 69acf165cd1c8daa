import numpy as np
import pytest

from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import (
    LIFParams,
    LIFState,
    NeuronModel,
    ResetMode,
    charge,
    fire,
    lif_step,
    reset,
)


def run(p, currents):
    state = LIFState.zeros(batch=1, n=1)
    vs, ss = [], []
    for i in currents:
        s, state = lif_step(np.array([[i]]), state, p)
        vs.append(int(state.v[0, 0]))
        ss.append(int(s[0, 0]))
    return vs, ss


def test_lif_subtract_reset_trajectory_table():
    # k = 2: v - (v >> 2) + I, fire at u >= 10, subtract 10.
    p = LIFParams(threshold=10, leak_shift=2, reset=ResetMode.SUBTRACT)
    vs, ss = run(p, [6, 6, 0, 9, -20, 0])
    # u: 6 | 6-1+6=11 -> 1 | 1-0+0=1 | 1+9=10 -> 0 | -20 | -20+5=-15
    assert vs == [6, 1, 1, 0, -20, -15]
    assert ss == [0, 1, 0, 1, 0, 0]


def test_reset_to_zero_drops_residual_charge():
    p = LIFParams(threshold=10, leak_shift=2, reset=ResetMode.ZERO)
    vs, ss = run(p, [25, 3])
    assert vs == [0, 3]
    assert ss == [1, 0]


def test_reset_subtract_keeps_residual_charge():
    p = LIFParams(threshold=10, model=NeuronModel.IF, reset=ResetMode.SUBTRACT)
    vs, ss = run(p, [25, 0, 0])
    assert vs == [15, 5, 5]
    assert ss == [1, 1, 0]


def test_leak_of_negative_membrane_floors():
    # -1 - (-1 >> 4) = -1 + 1 = 0; -17 - (-17 >> 4) = -17 + 2 = -15; 17 - 1 = 16
    p = LIFParams(threshold=5, leak_shift=4)
    assert charge(np.array([-1, -17, 17]), np.zeros(3), p).tolist() == [0, -15, 16]


def test_membrane_saturates_at_format_bounds():
    p = LIFParams(threshold=100, model=NeuronModel.IF, membrane=FixedFormat(8))
    u = charge(np.array([100, -100]), np.array([100, -100]), p)
    assert u.tolist() == [127, -128]


def test_fire_uses_greater_or_equal():
    p = LIFParams(threshold=10)
    assert fire(np.array([9, 10, 11]), p).tolist() == [False, True, True]
    assert reset(np.array([9, 10, 11]), np.array([False, True, True]), p).tolist() == [9, 0, 1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0}, "threshold must be an integer in 1..32767"),
        ({"threshold": 200, "membrane": FixedFormat(8)}, "threshold must be an integer in 1..127"),
        ({"threshold": 5, "leak_shift": 0}, "leak_shift must be an integer in 1..31"),
        ({"threshold": 5, "membrane": FixedFormat(8, signed=False)}, "must be signed"),
        ({"threshold": 5, "reset": "zero"}, "reset must be a ResetMode"),
    ],
)
def test_invalid_params_are_rejected(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        LIFParams(**kwargs)
