"""Exact cycle model of :class:`~.conv_core.ConvCore` from event and spike counts.

The model replays the core's schedule item by item (never per neuron arithmetic), with the
input always valid and the output always ready, as the Verilator harness drives it. Cycles
are counted from the cycle the sample's first input item is accepted (cycle 0):

* the tap generator accepts an event and issues its ``n = ny * nx * G`` updates on the next
  ``n`` cycles (``ny``, ``nx``: taps of its row and column, :func:`~.tables.axis_taps`),
  accepting the next item on the cycle of the last one; an event without taps costs one cycle
  and needs no accumulate cycle (so the generator also skips them during a neuron pass);
* the marker is consumed one cycle after its acceptance (at the earliest); the accumulate
  pipeline drains ``ACCUMULATE_LATENCY`` cycles after the last update; the neuron pass then
  issues one state word per cycle (``E * G`` of them, ``E`` output positions) while the spike
  queue holds at most ``SPIKE_QUEUE_DEPTH - PASS_LATENCY - 1`` entries, each reaching its
  queue stage ``PASS_LATENCY`` cycles later and its state write one cycle after that;
* the serialiser sends one spike per cycle from two cycles after its queue entry is written;
  the output marker goes on the first cycle with the pass, the queue and the serialiser empty,
  and the core accumulates again on the next cycle.

:func:`synaptic_ops_per_cycle` reports the throughput; the tests check :func:`sample_cycles`
against the Amaranth simulation and Verilator, cycle for cycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from .config import ConvCoreConfig
from .conv_core import ACCUMULATE_LATENCY, PASS_LATENCY, SPIKE_QUEUE_DEPTH
from .tables import axis_taps, pass_order

__all__ = ["event_updates", "sample_cycles", "synaptic_ops_per_cycle", "window_spikes"]

def event_updates(config: ConvCoreConfig, events: Sequence[tuple[int, int, int]]) -> list[int]:
    """Return the update count (cycles of ``P`` synaptic operations) of each input event
    ``(c, y, x)``: ``ny * nx * G``."""
    rows, cols = axis_taps(config, axis=1), axis_taps(config, axis=2)
    return [rows[y].n * cols[x].n * config.groups for _c, y, x in events]


def window_spikes(config: ConvCoreConfig, spikes: np.ndarray | None) -> list[int]:
    """Return, per pass item (group-major, positions in pass order), the spikes its queue entry
    carries (0: no entry), from the timestep's neuron spikes ``(C_out*H_out*W_out,)``
    (channel-major, e.g. ``sim.lif.lif_step``); ``None`` means no spike."""
    g_n, p, e_n = config.groups, config.lanes, config.positions
    order = pass_order(config)
    if spikes is None:
        return [0] * (g_n * len(order))
    s = np.asarray(spikes).astype(bool).reshape(config.out_shape[0], e_n)
    padded = np.zeros((g_n * p, e_n), dtype=bool)
    padded[:s.shape[0]] = s
    out = []
    for g in range(g_n):
        window = np.zeros(p, dtype=bool)
        for entry in order:
            lanes = padded[g * p:(g + 1) * p, entry.pos]
            window = lanes if entry.open else window | lanes
            out.append(int(window.sum()) if entry.close and entry.emit else 0)
    return out


def _pass_and_flush(start: int, pushes: list[int]) -> int:
    """Return the cycle the output marker is accepted, for a neuron pass whose first issue is
    possible on cycle ``start`` with queue entries of ``pushes`` spikes per item."""
    issued = 0
    last_issue = start - 1
    in_flight: deque[tuple[int, int]] = deque()  # (cycle of the queue write, spikes)
    queue: deque[int] = deque()
    level = 0  # entries in the queue at the start of the cycle
    remaining = 0  # spikes left in the serialiser
    cycle = start
    while True:
        pushed = popped = 0
        if issued < len(pushes) and level <= SPIKE_QUEUE_DEPTH - PASS_LATENCY - 1:
            in_flight.append((cycle + PASS_LATENCY, pushes[issued]))
            issued += 1
            last_issue = cycle
        # N0..N5, then the state write one stage later
        pass_busy = issued > 0 and cycle <= last_issue + PASS_LATENCY + 1
        flushing = issued == len(pushes) and cycle > last_issue
        if flushing and not pass_busy and level == 0 and remaining == 0:
            return cycle
        # serialiser: send one spike; load the next entry when empty or on its last spike
        if remaining <= 1:
            if level > 0:
                remaining = queue.popleft()
                popped = 1
            else:
                remaining = 0
        else:
            remaining -= 1
        while in_flight and in_flight[0][0] == cycle:
            _, k = in_flight.popleft()
            if k:
                queue.append(k)
                pushed += 1
        level += pushed - popped
        cycle += 1


def sample_cycles(config: ConvCoreConfig, timesteps: Sequence[tuple[Sequence, np.ndarray | None]]
                  ) -> list[int]:
    """Return the cycle on which the output marker of each timestep of a sample is accepted.

    Parameters
    ----------
    config : ConvCoreConfig
        The core.
    timesteps : sequence of (events, spikes)
        Per timestep, the input events ``(c, y, x)`` in arrival order and the neuron spikes
        (:func:`window_spikes`; ``None`` for none).

    Returns
    -------
    list[int]
        Cycles counted from the acceptance of the sample's first input item (cycle 0); the
        sample takes ``result[-1] + 1`` cycles.
    """
    accept = 0  # cycle the generator accepts its current item
    resume = 0  # first cycle the core accumulates again
    out = []
    for events, spikes in timesteps:
        last_update = None
        for n in event_updates(config, events):
            if n == 0:
                accept += 1
                continue
            first = max(accept + 1, resume)
            last_update = first + n - 1
            accept = last_update
        marker = max(accept + 1, resume)
        accept = marker
        drained = (marker + 1 if last_update is None
                   else max(marker + 1, last_update + ACCUMULATE_LATENCY + 1))
        done = _pass_and_flush(drained + 1, window_spikes(config, spikes))
        out.append(done)
        resume = done + 1
    return out


def synaptic_ops_per_cycle(config: ConvCoreConfig, events: Sequence[tuple[int, int, int]]
                           ) -> float:
    """Return useful synaptic operations per cycle over one spike-free timestep of ``events``
    (``C_out`` per tap of each event, the channels of padded lanes not counted)."""
    updates = sum(event_updates(config, events))
    ops = updates // config.groups * config.out_shape[0]
    return ops / (sample_cycles(config, [(events, None)])[0] + 1)
