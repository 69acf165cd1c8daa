"""The ``{spike, age}`` word of a presynaptic neuron after one step (``sim.stdp.age_step``).

Inputs (rate encoder) and neurons (neuron pipeline) store their last spike and the steps since
their last spike in the low bits of a ``pre`` memory word, age in bits ``0 .. age_bits - 1``
and the spike above; both write it with :func:`spike_age_word`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Mux, Value

__all__ = ["spike_age_word"]


def spike_age_word(spike: Value, age: Value, *, age_max: int, age_bits: int) -> Value:
    """Return ``{spike, age'}``, ``age' = 0`` if ``spike`` else ``min(age + 1, age_max)``.

    Parameters
    ----------
    spike : Value
        The spike of this step (1 bit).
    age : Value
        The age before this step, steps (``age_bits`` wide, at most ``age_max``).
    age_max : int
        Saturation value ``A`` of the age counter (``sim.stdp.StdpParams.age_max``).
    age_bits : int
        Width of an age, bits.

    Returns
    -------
    Value
        ``age_bits + 1`` bits: the new age, then the spike.
    """
    return Cat(Mux(spike, 0, Mux(age == age_max, age_max, age + 1))[:age_bits], spike)
