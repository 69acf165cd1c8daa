"""Quantisation of trained float parameters into the integers of the contract.

One place for each folding equation; the training layer's fake quantisation
(``model/``) and the compiler's folding passes both call these.

* Weights: symmetric per-layer scale ``s = max|w| / (2**(b-1) - 1)`` and
  ``w_int = round_half_even(w / s)`` clipped to ``[-(2**(b-1) - 1), 2**(b-1) - 1]``
  (the most negative code is not used, so the range is symmetric).
* Threshold: with inputs scaled by ``input_scale`` (1 for spikes, ``1/255`` for direct
  current of 8-bit pixels), the membrane LSB is ``s * input_scale`` and
  ``theta_int = max(1, round_half_even(theta / (s * input_scale)))``.
"""

from __future__ import annotations

import numpy as np

from .limits import MEMBRANE_BITS, WEIGHT_BITS

__all__ = ["check_weight_bits", "quantize_threshold", "quantize_weights", "weight_scale"]


def check_weight_bits(bits: int) -> int:
    """Return ``bits`` if it is in ``sim.limits.WEIGHT_BITS``, else raise ``ValueError``."""
    return WEIGHT_BITS.check(bits)


def weight_scale(w: np.ndarray, *, bits: int) -> float:
    """Return the per-layer scale ``max|w| / (2**(bits-1) - 1)`` (1.0 for an all-zero ``w``)."""
    check_weight_bits(bits)
    m = float(np.max(np.abs(w))) if np.size(w) else 0.0
    return m / ((1 << (bits - 1)) - 1) if m > 0 else 1.0


def quantize_weights(w: np.ndarray, *, bits: int, scale: float | None = None
                     ) -> tuple[np.ndarray, float]:
    """Return ``(w_int, scale)`` for float weights ``w`` (see module docstring)."""
    s = weight_scale(w, bits=bits) if scale is None else float(scale)
    q = (1 << (bits - 1)) - 1
    return np.clip(np.rint(np.asarray(w, dtype=np.float64) / s), -q, q).astype(np.int64), s


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
