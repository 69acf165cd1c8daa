"""Shared helpers for the async Amaranth testbenches and the Verilator benches.

Stream helpers (``stream_put``, ``stream_get``, ``stream_collect``) follow the ``valid``/
``ready`` handshake of ``amaranth.lib.stream``; :func:`run_scenario` starts producer, consumer
and monitor coroutines on one simulator. :func:`input_events` turns encoded layer input into
the event sequence of :mod:`spikesmith.hw.common.streams`, and :func:`events_to_spikes` turns a
spike-event sequence back into a ``(T, batch, n)`` array, so both sides of a comparison use the
same conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from amaranth.sim import Simulator

__all__ = [
    "events_to_spikes",
    "input_events",
    "run_scenario",
    "stream_collect",
    "stream_get",
    "stream_put",
]


async def stream_put(ctx, stream, payload) -> None:
    """Send one ``payload`` on ``stream``, waiting for ``ready``."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Receive and return one payload from ``stream`` (``ready`` high while waiting)."""
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def stream_collect(ctx, stream, sink: list) -> None:
    """Append every payload transferred on an always-ready ``stream`` to ``sink``, forever."""
    async for _clk, _rst, valid, payload in ctx.tick().sample(stream.valid, stream.payload):
        if valid:
            sink.append(payload)


def run_scenario(dut, *, testbenches: Iterable[Callable], processes: Iterable[Callable] = (),
                 vcd_path: Path | None = None) -> None:
    """Simulate ``dut`` (clock period 1 us) until every testbench has returned.

    ``processes`` run in the background (monitors that never return).
    """
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for proc in processes:
        sim.add_process(proc)
    if vcd_path is None:
        sim.run()
    else:
        with sim.write_vcd(str(vcd_path)):
            sim.run()


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
