"""Integer operations shared by the golden model, the compiler and the scoreboards.

:func:`exact_matmul` is the synaptic accumulation ``I = x @ W.T`` in exact integers. NumPy's
integer matrix products do not use BLAS, so when the caller proves every partial sum stays
inside float32's (``< 2**24``) or float64's (``< 2**53``) exact-integer range the product is
computed in floating point and cast back; the result is bit-identical to the ``int64``
product. Otherwise it falls back to ``int64`` arithmetic.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accumulator_bound", "exact_dtype", "exact_matmul"]

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53


def accumulator_bound(w: np.ndarray, *, input_max: int) -> int:
    """Return a bound on ``|x @ w.T|`` for inputs ``0 <= x <= input_max``.

    ``w`` has shape ``(n_out, n_in)``; the bound is ``input_max * max_row sum(|w_row|)``, which
    also bounds every partial sum of the accumulation in any order.
    """
    w = np.asarray(w, dtype=np.int64)
    if w.size == 0:
        return 0
    return int(input_max) * int(np.abs(w).sum(axis=1).max())


def exact_dtype(bound: int) -> np.dtype:
    """Return the cheapest dtype whose products and sums are exact for partial sums within
    ``bound``: ``float32`` below ``2**24``, ``float64`` below ``2**53``, else ``int64``.

    Integers computed in the float dtypes are exact, so casting them to ``int64`` (with or
    without rounding) gives the integer result.
    """
    if bound < _F32_EXACT:
        return np.dtype(np.float32)
    if bound < _F64_EXACT:
        return np.dtype(np.float64)
    return np.dtype(np.int64)


def exact_matmul(x: np.ndarray, w: np.ndarray, *, bound: int) -> np.ndarray:
    """Return ``x @ w.T`` as ``int64``, exactly.

    Parameters
    ----------
    x : np.ndarray
        Non-negative integer inputs ``(batch, n_in)``.
    w : np.ndarray
        Integer weights ``(n_out, n_in)``.
    bound : int
        A proven bound on every partial sum, from :func:`accumulator_bound`.
    """
    dt = exact_dtype(bound)
    y = np.asarray(x, dtype=dt) @ np.asarray(w, dtype=dt).T
    return y if dt.kind == "i" else np.rint(y).astype(np.int64)
