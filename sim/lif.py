"""Integer IF/LIF neurons: the one definition of the neuron equations.

One timestep of a layer of ``n`` neurons, with ``I[t]`` the integer synaptic input
accumulated during timestep ``t`` (see :func:`charge`, :func:`fire`, :func:`reset`)::

    u[t] = sat( v[t-1] - (v[t-1] >> k) + (I[t] << e[t]) )   # LIF (shift leak, beta = 1 - 2**-k)
    u[t] = sat( v[t-1] + (I[t] << e[t]) )                    # IF
    s[t] = u[t] >= theta                              # fire: greater-or-equal
    v[t] = 0            where s[t]   (ResetMode.ZERO)
    v[t] = u[t] - theta where s[t]   (ResetMode.SUBTRACT)
    v[t] = u[t]         elsewhere

* ``>>`` is the arithmetic shift of ``sim.fixed.shift_right`` (floor, also for negative ``v``).
* ``sat`` clamps to the signed membrane format (``LIFParams.membrane``); the synaptic input
  ``I[t]`` is exact (the compiler proves its accumulator wide enough).
* Order within a timestep: leak, then input, then compare, then reset. Spikes of timestep ``t``
  reach the next layer in the same timestep ``t``.
* ``v[-1] = 0``. ``theta >= 1``, so a reset by subtraction never leaves the format.
* ``theta`` is one threshold per layer, or one per channel ``theta[c]``
  (``LIFParams.channel_thresholds``: a learned per-channel threshold, ``model.ltmd``).
* ``e[t]`` is the per-timestep input shift table ``LIFParams.input_shifts`` (a left shift, so
  exact: the folded power-of-two TEBN scales ``p[t]``, ``model.tebn``); ``e[t] = 0`` for every
  ``t`` when the table is empty (every layer without one). The compiler proves the shifted
  input ``I[t] << e[t]`` fits the accumulator.

The gateware (``hw/lif/lif_core.py``) implements exactly these three stages as pipeline stages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .fixed import FixedFormat, Overflow, saturate, shift_right
from .limits import MEMBRANE_BITS

__all__ = [
    "DEFAULT_MEMBRANE",
    "MAX_INPUT_SHIFT",
    "LIFParams",
    "LIFState",
    "NeuronModel",
    "ResetMode",
    "charge",
    "fire",
    "lif_step",
    "reset",
]


#: Default membrane format: signed 16 bits, saturating.
DEFAULT_MEMBRANE = FixedFormat(16)

#: Largest per-timestep input shift ``e[t]`` (``LIFParams.input_shifts``).
MAX_INPUT_SHIFT = 7


class NeuronModel(enum.Enum):
    """Integrate-and-fire without leak, or with a shift leak."""

    IF = "if"
    LIF = "lif"


class ResetMode(enum.Enum):
    """What a spike does to the membrane."""

    #: The membrane becomes 0.
    ZERO = "zero"
    #: The threshold is subtracted, keeping the residual charge.
    SUBTRACT = "subtract"


@dataclass(frozen=True)
class LIFParams:
    """Integer parameters of a layer of neurons.

    Parameters
    ----------
    threshold : int
        Firing threshold in membrane LSBs, ``1 <= threshold <= membrane.max_value``.
    model : NeuronModel
        ``IF`` (no leak) or ``LIF`` (shift leak).
    leak_shift : int
        ``k`` of the leak ``v - (v >> k)``, i.e. ``beta = 1 - 2**-k``; ``1 <= k <= 31``.
        Ignored for ``IF``.
    reset : ResetMode
        Reset to zero or by subtraction.
    membrane : FixedFormat
        Signed, saturating membrane format, width in ``sim.limits.MEMBRANE_BITS``.
    input_shifts : tuple[int, ...]
        Per-timestep left shift ``e[t]`` of the synaptic input, one per timestep ``t`` of a
        sample, each in ``0..MAX_INPUT_SHIFT``; empty (the default) for ``e[t] = 0``. Its
        length must equal the network's timesteps (``sim.network.NetworkParams`` checks).
    channel_thresholds : tuple[int, ...]
        Per-channel thresholds ``theta[c]`` of a layer of ``C`` channels (each in
        ``1..membrane.max_value``); neuron ``i`` of a layer of ``n`` neurons flattened
        channel-major is in channel ``i // (n // C)``. Empty (the default) for one threshold
        for every neuron; when given, ``threshold`` must be ``max(channel_thresholds)`` (the
        bound the width proofs use). The layer checks ``C`` (``sim.conv.ConvLayer``).

    Raises
    ------
    ValueError
        On a threshold, leak shift or membrane format outside the accepted ranges.
    """

    threshold: int
    model: NeuronModel = NeuronModel.LIF
    leak_shift: int = 4
    reset: ResetMode = ResetMode.SUBTRACT
    membrane: FixedFormat = DEFAULT_MEMBRANE
    input_shifts: tuple[int, ...] = ()
    channel_thresholds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.model, NeuronModel):
            raise TypeError(f"model must be a NeuronModel, not {self.model!r}")
        if not isinstance(self.reset, ResetMode):
            raise TypeError(f"reset must be a ResetMode, not {self.reset!r}")
        m = self.membrane
        if not m.signed or m.overflow is not Overflow.SATURATE:
            raise ValueError(f"membrane format must be signed and saturating, not {m}")
        MEMBRANE_BITS.check(m.width)
        if not isinstance(self.threshold, int) or not 1 <= self.threshold <= m.max_value:
            raise ValueError(
                f"threshold must be an integer in 1..{m.max_value} (the {m.width}-bit membrane"
                f" maximum), not {self.threshold!r}"
            )
        if not isinstance(self.leak_shift, int) or not 1 <= self.leak_shift <= 31:
            raise ValueError(f"leak_shift must be an integer in 1..31, not {self.leak_shift!r}")
        e = self.input_shifts
        if not isinstance(e, tuple) or not all(
                type(k) is int and 0 <= k <= MAX_INPUT_SHIFT for k in e):
            raise ValueError(f"input_shifts must be a tuple of integers in 0..{MAX_INPUT_SHIFT},"
                             f" not {e!r}")
        self._check_channel_thresholds()

    def _check_channel_thresholds(self) -> None:
        c = self.channel_thresholds
        if c == ():
            return
        top = self.membrane.max_value
        if not isinstance(c, tuple) or not all(type(k) is int and 1 <= k <= top for k in c):
            raise ValueError(f"channel_thresholds must be a tuple of integers in 1..{top}, "
                             f"not {c!r}")
        if self.threshold != max(c):
            raise ValueError(f"threshold must be max(channel_thresholds) = {max(c)} with "
                             f"per-channel thresholds, not {self.threshold}")

    def thresholds(self, n: int) -> int | np.ndarray:
        """Return the threshold of each of ``n`` neurons flattened channel-major: the
        ``int`` ``threshold`` without per-channel thresholds, else an ``int64`` array ``(n,)``.

        Raises
        ------
        ValueError
            If ``n`` is not a multiple of the number of channels.
        """
        c = self.channel_thresholds
        if not c:
            return self.threshold
        if n % len(c):
            raise ValueError(f"{n} neurons are not {len(c)} channels of equal size")
        return np.repeat(np.asarray(c, dtype=np.int64), n // len(c))

    def input_shift(self, t: int) -> int:
        """Return ``e[t]``, the left shift of the synaptic input at timestep ``t`` (0 without
        a table)."""
        return self.input_shifts[t] if self.input_shifts else 0


@dataclass(frozen=True, eq=False)
class LIFState:
    """Membranes ``v`` of a batch of layers, ``int64`` of shape ``(batch, n)``."""

    v: np.ndarray

    @classmethod
    def zeros(cls, *, batch: int, n: int) -> LIFState:
        """Return the reset state ``v = 0``."""
        return cls(np.zeros((batch, n), dtype=np.int64))


def charge(v: np.ndarray, i: np.ndarray, p: LIFParams, *, t: int = 0) -> np.ndarray:
    """Return ``u = sat(v - (v >> k) + (i << e[t]))`` (LIF) or ``sat(v + (i << e[t]))`` (IF);
    see module docstring (``t`` the timestep within the sample)."""
    v = np.asarray(v, dtype=np.int64)
    leaked = v - shift_right(v, p.leak_shift) if p.model is NeuronModel.LIF else v
    return saturate(leaked + (np.asarray(i, dtype=np.int64) << p.input_shift(t)), p.membrane)


def fire(u: np.ndarray, p: LIFParams) -> np.ndarray:
    """Return the spikes ``u >= theta`` as a boolean array (``theta[c]`` per channel with
    ``p.channel_thresholds``; ``u`` is ``(..., n)``)."""
    return u >= p.thresholds(np.shape(u)[-1])


def reset(u: np.ndarray, s: np.ndarray, p: LIFParams) -> np.ndarray:
    """Return the membrane after the reset selected by ``p.reset``."""
    if p.reset is ResetMode.ZERO:
        return np.where(s, 0, u).astype(np.int64)
    return np.where(s, u - p.thresholds(np.shape(u)[-1]), u).astype(np.int64)


def lif_step(i: np.ndarray, state: LIFState, p: LIFParams, *, t: int = 0
             ) -> tuple[np.ndarray, LIFState]:
    """Advance one timestep: charge, fire, reset.

    Parameters
    ----------
    i : np.ndarray
        Integer synaptic input ``I[t]`` in membrane LSBs, shape ``(batch, n)``.
    state : LIFState
        Membranes after the previous timestep.
    p : LIFParams
        Layer parameters.
    t : int
        Timestep within the sample (indexes ``p.input_shifts``).

    Returns
    -------
    spikes : np.ndarray
        ``bool`` array ``(batch, n)``.
    state : LIFState
        Membranes after reset.
    """
    u = charge(state.v, i, p, t=t)
    s = fire(u, p)
    return s, LIFState(reset(u, s, p))
