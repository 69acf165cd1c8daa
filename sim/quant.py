"""Quantisation of trained float parameters into the integers of the contract.

One place for each folding equation; the training layer's fake quantisation
(``model/``) and the compiler's folding passes both call these.

* Weights: symmetric per-layer scale ``s = max|w| / (2**(b-1) - 1)`` and
  ``w_int = round_half_even(w / s)`` clipped to ``[-(2**(b-1) - 1), 2**(b-1) - 1]``
  (the most negative code is not used, so the range is symmetric).
* Threshold: with inputs scaled by ``input_scale`` (1 for spikes, ``1/255`` for direct
  current of 8-bit pixels), the membrane LSB is ``s * input_scale`` and
  ``theta_int = max(1, round_half_even(theta / (s * input_scale)))``.
* Bias (conv layers, ``sim.conv``): in the same membrane LSB,
  ``b_int = round_half_even(b / (s * input_scale))``.

Quantisation is never silently destructive: ``weight_quant_stats`` counts, with the same
arithmetic as ``quantize_weights`` (both call one helper), how many nonzero weights became 0
and how many were clipped; the export stage records and warns from these counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .limits import MEMBRANE_BITS, WEIGHT_BITS

__all__ = [
    "WeightQuantStats",
    "check_weight_bits",
    "quantize_bias",
    "quantize_threshold",
    "quantize_weights",
    "weight_quant_stats",
    "weight_scale",
]


def check_weight_bits(bits: int) -> int:
    """Return ``bits`` if it is in ``sim.limits.WEIGHT_BITS``, else raise ``ValueError``."""
    return WEIGHT_BITS.check(bits)


def _finite(w: np.ndarray) -> np.ndarray:
    """Return ``w`` as ``float64``; raise ``ValueError`` if any entry is infinite or NaN."""
    a = np.asarray(w, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"weights must be finite: {int(bad.sum())} of {a.size} are inf or NaN "
                         f"(first at index {first}: {a[first]})")
    return a


def weight_scale(w: np.ndarray, *, bits: int) -> float:
    """Return the per-layer scale ``max|w| / (2**(bits-1) - 1)`` (1.0 for an all-zero ``w``).

    Raises
    ------
    ValueError
        If ``bits`` is outside ``sim.limits.WEIGHT_BITS`` or ``w`` holds inf or NaN.
    """
    check_weight_bits(bits)
    a = _finite(w)
    m = float(np.max(np.abs(a))) if a.size else 0.0
    return m / ((1 << (bits - 1)) - 1) if m > 0 else 1.0


def _rounded(w: np.ndarray, *, bits: int, scale: float | None
             ) -> tuple[np.ndarray, np.ndarray, int, float]:
    """The one quantisation rule before clipping: ``(w, rint(w / s), q, s)``, ``w`` float64,
    ``q = 2**(bits-1) - 1`` the largest code magnitude, ``s`` the scale used."""
    s = weight_scale(w, bits=bits) if scale is None else float(scale)
    a = _finite(w)
    return a, np.rint(a / s), (1 << (bits - 1)) - 1, s


def quantize_weights(w: np.ndarray, *, bits: int, scale: float | None = None
                     ) -> tuple[np.ndarray, float]:
    """Return ``(w_int, scale)`` for float weights ``w`` (see module docstring).

    Raises
    ------
    ValueError
        If ``bits`` is outside ``sim.limits.WEIGHT_BITS`` or ``w`` holds inf or NaN.
    """
    _a, r, q, s = _rounded(w, bits=bits, scale=scale)
    return np.clip(r, -q, q).astype(np.int64), s


@dataclass(frozen=True)
class WeightQuantStats:
    """What ``quantize_weights`` did to one layer's weights.

    Attributes
    ----------
    weights : int
        Number of weights.
    zeroed : int
        Weights that were nonzero as floats and are 0 as integers (``|w| < s / 2``, or
        ``|w| == s / 2`` rounded half to even).
    clipped : int
        Weights whose rounded code lay outside ``[-q, q]`` and was saturated to it; always 0
        with the per-layer scale (the largest ``|w|`` maps to ``q``), nonzero only with an
        explicit smaller ``scale``.
    scale : float
        The scale ``s``: float weight per integer code.
    """

    weights: int
    zeroed: int
    clipped: int
    scale: float

    @property
    def zeroed_share(self) -> float:
        """``zeroed / weights`` (0.0 for an empty layer)."""
        return self.zeroed / self.weights if self.weights else 0.0

    def to_dict(self) -> dict[str, int | float]:
        """The fields and ``zeroed_share`` as a JSON-ready dict."""
        return {"weights": self.weights, "zeroed": self.zeroed,
                "zeroed_share": self.zeroed_share, "clipped": self.clipped, "scale": self.scale}


def weight_quant_stats(w: np.ndarray, *, bits: int, scale: float | None = None
                       ) -> WeightQuantStats:
    """Return what ``quantize_weights(w, bits=bits, scale=scale)`` zeroes and clips.

    Raises
    ------
    ValueError
        If ``bits`` is outside ``sim.limits.WEIGHT_BITS`` or ``w`` holds inf or NaN.
    """
    a, r, q, s = _rounded(w, bits=bits, scale=scale)
    return WeightQuantStats(weights=int(a.size), zeroed=int(np.count_nonzero((a != 0) & (r == 0))),
                            clipped=int(np.count_nonzero(np.abs(r) > q)), scale=s)


def quantize_threshold(theta: float, *, scale: float, input_scale: float = 1.0,
                       membrane_bits: int = 16) -> int:
    """Return the integer threshold in membrane LSBs, in ``1 .. 2**(membrane_bits-1) - 1``.

    Raises
    ------
    ValueError
        If ``membrane_bits`` is outside ``sim.limits.MEMBRANE_BITS``, or ``theta`` is not
        positive or does not fit the membrane format.
    """
    MEMBRANE_BITS.check(membrane_bits)
    if not theta > 0:
        raise ValueError(f"threshold must be positive, not {theta!r}")
    t = max(1, int(np.rint(theta / (scale * input_scale))))
    top = (1 << (membrane_bits - 1)) - 1
    if t > top:
        raise ValueError(
            f"threshold {theta} is {t} membrane LSBs, more than the {membrane_bits}-bit "
            f"membrane holds ({top}); use wider membranes or fewer weight bits"
        )
    return t


def quantize_bias(bias: np.ndarray, *, scale: float, input_scale: float = 1.0) -> np.ndarray:
    """Return the integer bias ``round_half_even(b / (scale * input_scale))`` in membrane LSBs.

    Whether it fits the membrane is a rule of the layer (``sim.conv.ConvLayer``, checked by
    ``compiler.verify``).

    Raises
    ------
    ValueError
        If ``bias`` holds inf or NaN.
    """
    return np.rint(_finite(bias) / (scale * input_scale)).astype(np.int64)
