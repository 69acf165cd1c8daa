"""Shared helpers for the async Amaranth testbenches.

Stream helpers (``stream_put``, ``stream_get``, ``stream_collect``) follow the ``valid``/
``ready`` handshake of ``amaranth.lib.stream``; :func:`run_scenario` starts producer, consumer
and monitor coroutines on one simulator. The conversions between ``sim`` arrays and a core's
stream words live in that core's host model (``hw/<core>/host.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from amaranth.sim import Simulator

__all__ = [
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
