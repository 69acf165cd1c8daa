"""LFSR lane draws for the NCG learning core: jump-ahead so many draws are one array operation.

The registers and the draw are those of :mod:`spikesmith.sim.lfsr` (Galois form; one draw of
``spec.draw_bits`` bits advances a register ``draw_bits`` steps and returns the low bits of the
new state). This module does not define new randomness; it computes the same draws faster by
using that an LFSR step is linear over GF(2): the state after ``n`` steps is ``J_n · s``,
where the matrix ``J_n`` is stored as its ``width`` columns (the images of the basis states
``1 << b``). Tests check every function here against :func:`spikesmith.sim.lfsr.lfsr_draws`.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .lfsr import LfsrSpec, apply_jump, jump_columns

__all__ = ["draw_block", "lane_seeds"]


@cache
def _draw_table(spec: LfsrSpec, n: int) -> np.ndarray:
    """Byte-sliced tables of the maps "advance ``k * draw_bits`` steps", ``k = 1..n``.

    ``table[k - 1, c, v]`` is the image of ``v << (8 c)``, so the image of a state ``s`` is the
    XOR over its bytes ``c`` of ``table[k - 1, c, (s >> 8 c) & 255]``.
    """
    one = jump_columns(spec, spec.draw_bits)
    cols = np.empty((n, spec.width), dtype=np.int64)
    cur = one
    for k in range(n):
        cols[k] = cur
        cur = apply_jump(one, cur)
    n_bytes = (spec.width + 7) // 8
    values = np.arange(256, dtype=np.int64)[None, :] << (8 * np.arange(n_bytes))[:, None]
    values = values & np.int64((1 << spec.width) - 1)
    bits = (values[..., None] >> np.arange(spec.width, dtype=np.int64)) & 1
    out = np.zeros((n, n_bytes, 256), dtype=np.int64)
    for b in range(spec.width):
        out ^= bits[None, :, :, b] * cols[:, None, None, b]
    return out


def draw_block(states: np.ndarray, spec: LfsrSpec, *, draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``draws`` times from each register.

    Equal to calling :func:`spikesmith.sim.lfsr.lfsr_draws` ``draws`` times in a row.

    Parameters
    ----------
    states : np.ndarray
        ``(P,)`` register states (non-zero).
    spec : LfsrSpec
        Register definition.
    draws : int
        Draws per register (``>= 0``).

    Returns
    -------
    values : np.ndarray
        ``int64 (P, draws)``: ``values[p, k]`` is register ``p``'s ``(k+1)``-th draw.
    new_states : np.ndarray
        The registers after the last draw.
    """
    s = np.asarray(states, dtype=np.int64)
    if draws == 0:
        return np.zeros((s.shape[0], 0), dtype=np.int64), s.copy()
    table = _draw_table(spec, _round_up(draws))
    k = np.arange(draws)[None, :]
    full = np.zeros((s.shape[0], draws), dtype=np.int64)
    for c in range(table.shape[1]):
        full ^= table[k, c, ((s >> (8 * c)) & 255)[:, None]]
    mask = np.int64((1 << spec.draw_bits) - 1)
    return full & mask, full[:, -1].copy()


def _round_up(n: int) -> int:
    """Table sizes are powers of two so the cache holds few entries."""
    return 1 << max(4, (n - 1).bit_length())


def lane_seeds(spec: LfsrSpec, *, seed: int, lanes: int) -> np.ndarray:
    """Initial states of ``lanes`` registers spread evenly over one period.

    Register ``l`` starts at the state reached from ``s0 = 1 + (seed mod (2**width - 1))``
    after ``l * floor(period / lanes)`` steps, so the lanes' sequences never overlap within a
    period. The host computes these values and loads them into the lane registers.
    """
    if lanes < 1:
        raise ValueError(f"lanes must be >= 1, not {lanes!r}")
    s0 = np.int64(1 + seed % spec.period)
    d = spec.period // lanes
    step = jump_columns(spec, d)
    out = np.empty(lanes, dtype=np.int64)
    cur = s0
    for lane in range(lanes):
        out[lane] = cur
        cur = apply_jump(step, np.array([cur]))[0]
    return out
