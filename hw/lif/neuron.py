"""The neuron update of ``sim.lif`` as Amaranth expressions, shared by the layer cores.

The equations are those of :mod:`spikesmith.sim.lif` (``charge``, ``fire``, ``reset``); each
function here builds the combinational logic of one pipeline stage of a core's neuron pass
(the dense :class:`~spikesmith.hw.lif.lif_core.LIFCore` and the convolution core
:class:`~spikesmith.hw.conv.conv_core.ConvCore`), which registers its result:

* :func:`saturate_membrane`: the end of ``sim.lif.charge`` (``leak(v) + I`` held in a wider
  state word, saturated to the membrane format);
* :func:`fires`: ``sim.lif.fire``;
* :func:`reset_subtracted`, :func:`after_reset`: ``sim.lif.reset``;
* :func:`leaked`: the leak of ``sim.lif.charge`` applied to the membrane that the next
  timestep starts from.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Value

from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode

__all__ = ["after_reset", "fires", "leaked", "reset_subtracted", "saturate_membrane"]


def saturate_membrane(u: Value, lif: LIFParams) -> Value:
    """Return ``u`` (a signed state word wider than the membrane) saturated to
    ``lif.membrane``, the end of ``sim.lif.charge``.

    For the full signed range the overflow test looks at the bits above the membrane's sign
    bit (LUTs only, no compare carry chains); a narrower range compares with its bounds.
    """
    mb = lif.membrane.width
    lo, hi = lif.membrane.min_value, lif.membrane.max_value
    if (lo, hi) == (-(1 << (mb - 1)), (1 << (mb - 1)) - 1):
        # out of range iff the bits above the membrane's sign bit differ from the sign bit
        top = u[mb - 1:]
        over = (top != 0) & (top != (1 << len(top)) - 1)
        return Mux(over, Mux(u[-1], lo, hi), u[:mb])
    return Mux(u > hi, hi, Mux(u < lo, lo, u))


def fires(u: Value, lif: LIFParams) -> Value:
    """Return the spike of membrane ``u`` (``sim.lif.fire``: ``u >= threshold``)."""
    return u >= lif.threshold


def reset_subtracted(u: Value, lif: LIFParams) -> Value:
    """Return ``u - threshold``, the membrane after a spike under ``ResetMode.SUBTRACT``."""
    return u - lif.threshold


def after_reset(*, spike: Value, u: Value, subtracted: Value, lif: LIFParams) -> Value:
    """Return the membrane after ``sim.lif.reset``: ``u`` without a spike, else 0 (reset to
    zero) or ``subtracted`` (:func:`reset_subtracted`, registered one stage earlier)."""
    after = 0 if lif.reset is ResetMode.ZERO else subtracted
    return Mux(spike, after, u)


def leaked(v: Value, lif: LIFParams) -> Value:
    """Return ``leak(v)`` of ``sim.lif.charge``: ``v - (v >> leak_shift)`` for LIF, ``v`` for
    IF (arithmetic shift)."""
    return v - (v >> lif.leak_shift) if lif.model is NeuronModel.LIF else v
