"""Host side of a generated LIF network: input events in, output events and readback out.

Pure conversions between ``sim`` arrays and the stream words of
:class:`spikesmith.hw.lif.network.Network` (layouts of :mod:`spikesmith.hw.common.streams`),
shared by the Amaranth testbenches, the Verilator harness (:mod:`spikesmith.hw.lif.harness`)
and the comparison (:mod:`spikesmith.verification.lif`), so both sides of a comparison use the
same conversion:

* :func:`input_events` / :func:`pack_input_events`: encoded layer input ``(T, batch, n)`` to
  the event sequence (one event per non-zero input, then an end-of-timestep marker);
* :func:`decode_output_events` / :func:`events_to_spikes`: output words back to spikes;
* :func:`decode_readback`: membrane readback records to membranes and spikes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..common.streams import (
    current_event_layout,
    membrane_readback_layout,
    pack,
    spike_event_layout,
    unpack,
)
from .manifest import CoreRecord

__all__ = [
    "decode_output_events",
    "decode_readback",
    "events_to_spikes",
    "input_events",
    "pack_input_events",
]


def input_events(x: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Return the event sequence for layer input ``x`` of shape ``(T, batch, n)``.

    Each entry is ``(index, value, eot, last)``: for every sample, for every timestep, one
    event per non-zero input in ascending index, then an end-of-timestep marker whose ``last``
    is set on the sample's final timestep.
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must have shape (T, batch, n), not {x.shape}")
    t_n, batch, _ = x.shape
    out: list[tuple[int, int, int, int]] = []
    for b in range(batch):
        for t in range(t_n):
            idx = np.flatnonzero(x[t, b])
            out.extend((int(i), int(x[t, b, i]), 0, 0) for i in idx)
            out.append((0, 0, 1, int(t == t_n - 1)))
    return out


def pack_input_events(core: CoreRecord, x: np.ndarray) -> list[int]:
    """Return the packed input-stream words of ``x`` ``(T, batch, n_in)`` for first core
    ``core`` (spike events, or current events when ``core.input_bits > 1``)."""
    if core.input_bits == 1:
        lay = spike_event_layout(core.n_in)
        return [pack(lay, index=i, eot=e, last=la) for i, _v, e, la in input_events(x)]
    lay = current_event_layout(core.n_in, core.input_bits)
    return [pack(lay, index=i, value=v, eot=e, last=la) for i, v, e, la in input_events(x)]


def decode_output_events(n_out: int, words: Iterable[int]) -> list[tuple[int, int, int]]:
    """Return ``(index, eot, last)`` of each output-stream word of a layer of ``n_out``."""
    lay = spike_event_layout(n_out)
    return [(f["index"], f["eot"], f["last"]) for f in (unpack(lay, w) for w in words)]


def events_to_spikes(events: Iterable[tuple[int, int, int]], *, n: int, timesteps: int,
                     batch: int) -> np.ndarray:
    """Return ``(T, batch, n)`` ``uint8`` spikes from ``(index, eot, last)`` output events.

    Raises
    ------
    ValueError
        If the markers do not delimit exactly ``batch`` samples of ``timesteps`` timesteps.
    """
    s = np.zeros((timesteps, batch, n), np.uint8)
    b = t = 0
    for index, eot, last in events:
        if b >= batch:
            raise ValueError(f"more than {batch} samples of output events")
        if eot:
            if bool(last) != (t == timesteps - 1):
                raise ValueError(
                    f"sample {b}: end-of-sample marker after timestep {t}, expected after"
                    f" timestep {timesteps - 1}"
                )
            t += 1
            if last:
                b, t = b + 1, 0
        else:
            s[t, b, index] += 1
    if b != batch or t != 0:
        raise ValueError(f"output events ended in sample {b} timestep {t}, expected {batch}"
                         " complete samples")
    return s


def decode_readback(core: CoreRecord, records: list[int], *, samples: int, timesteps: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(membranes, spikes)`` of shape ``(T, samples, n_out)`` from ``core``'s
    readback records (``samples * timesteps * groups`` of them, in output order)."""
    g_n, p = core.groups, core.lanes
    rlay = membrane_readback_layout(core.n_out, membrane_bits=core.membrane_bits, lanes=p)
    mem = np.zeros((samples, timesteps, g_n * p), np.int64)
    spk = np.zeros((samples, timesteps, g_n * p), np.uint8)
    for r, word in enumerate(records):
        f = unpack(rlay, word)
        b, rest = divmod(r, timesteps * g_n)
        t, g = divmod(rest, g_n)
        mem[b, t, g * p:(g + 1) * p] = f["membranes"]
        spk[b, t, g * p:(g + 1) * p] = [(f["spikes"] >> j) & 1 for j in range(p)]
    n = core.n_out
    return mem[..., :n].transpose(1, 0, 2), spk[..., :n].transpose(1, 0, 2)
