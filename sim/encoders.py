"""Input encoders: how an image of unsigned 8-bit intensities becomes layer-0 input.

Three encodings, each a pure function of the image and the timestep count (``x`` is ``uint8``
in ``0..255``, shape ``(batch, features)``; outputs are ``(T, batch, features)``):

``RATE``
    ``s[t, b, i] = x[b, i] > r[t, i]`` where ``r`` are successive 8-bit draws of
    ``sim.lfsr.LFSR16`` started at ``EncoderParams.seed`` for every sample, in the order
    ``t`` major, feature ``i`` minor. ``x = 0`` never spikes.
``LATENCY``
    One spike per non-zero feature at ``t = ((255 - x) * T) >> 8``; ``x = 0`` never spikes.
``DIRECT``
    The intensity itself as a current every timestep: ``c[t, b, i] = x[b, i]``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .lfsr import LFSR16, lfsr_table

__all__ = ["DEFAULT_ENCODER", "EncoderParams", "Encoding", "encode", "encode_columns", "input_max"]


class Encoding(enum.Enum):
    """How pixels enter the network."""

    RATE = "rate"
    LATENCY = "latency"
    DIRECT = "direct"


@dataclass(frozen=True)
class EncoderParams:
    """Encoder choice and its seed.

    Parameters
    ----------
    encoding : Encoding
        Rate, latency or direct-current coding.
    seed : int
        Non-zero 16-bit seed of the rate encoder's LFSR (restarted for every sample).
    """

    encoding: Encoding = Encoding.RATE
    seed: int = 0xACE1

    def __post_init__(self) -> None:
        if not isinstance(self.encoding, Encoding):
            raise TypeError(f"encoding must be an Encoding, not {self.encoding!r}")
        if not 0 < self.seed < (1 << 16):
            raise ValueError(f"seed must be a non-zero 16-bit value, not {self.seed!r}")


#: The encoder used wherever none is given (training, compiler, cores): rate coding with the
#: default LFSR seed.
DEFAULT_ENCODER = EncoderParams()


def input_max(p: EncoderParams) -> int:
    """Largest value one input element can carry (1 for spikes, 255 for direct current)."""
    return 255 if p.encoding is Encoding.DIRECT else 1


def encode(x: np.ndarray, p: EncoderParams, *, timesteps: int) -> np.ndarray:
    """Encode ``uint8`` images ``(batch, features)`` into ``(T, batch, features)`` ``uint8``.

    Raises
    ------
    ValueError
        If ``x`` is not a 2-D array of integers in ``0..255`` or ``timesteps < 1``.
    """
    x = _check_images(x, timesteps)
    batch, n = x.shape
    if p.encoding is Encoding.DIRECT:
        return np.broadcast_to(x.astype(np.uint8), (timesteps, batch, n)).copy()
    if p.encoding is Encoding.RATE:
        # Draws and intensities are both 0..255: the comparison is exact in uint8.
        r = lfsr_table(LFSR16, seed=p.seed, draws=timesteps * n).astype(np.uint8)
        out = np.greater(x.astype(np.uint8)[None, :, :], r.reshape(timesteps, 1, n))
        return out.view(np.uint8)
    return _latency(x, timesteps)


def encode_columns(x: np.ndarray, p: EncoderParams, *, timesteps: int, columns: np.ndarray
                   ) -> np.ndarray:
    """Return ``encode(x, p, timesteps=timesteps)[:, :, columns]`` without encoding the rest.

    ``columns`` are increasing feature indices. Every encoding treats each feature on its
    own (rate coding reads the draws of the feature's own columns), so this is exact.

    Raises
    ------
    ValueError
        As :func:`encode`.
    """
    x = _check_images(x, timesteps)
    columns = np.asarray(columns, dtype=np.int64)
    if p.encoding is not Encoding.RATE:
        return encode(x[:, columns], p, timesteps=timesteps)
    n = x.shape[1]
    r = lfsr_table(LFSR16, seed=p.seed, draws=timesteps * n).reshape(timesteps, 1, n)
    out = np.greater(x[:, columns].astype(np.uint8)[None, :, :],
                     r[:, :, columns].astype(np.uint8))
    return out.view(np.uint8)


def _check_images(x: np.ndarray, timesteps: int) -> np.ndarray:
    """Return ``x`` as an array, or raise ``ValueError`` (see :func:`encode`)."""
    x = np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"images must be a 2-D integer array (batch, features), not {x.shape}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError("image intensities must lie in 0..255")
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, not {timesteps!r}")
    return x


def _latency(x: np.ndarray, timesteps: int) -> np.ndarray:
    x = x.astype(np.int64)
    t_fire = ((255 - x) * timesteps) >> 8
    t = np.arange(timesteps).reshape(timesteps, 1, 1)
    return ((t == t_fire[None]) & (x[None] > 0)).astype(np.uint8)
