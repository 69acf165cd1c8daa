"""Host side of the recurrent core: schedules to command words, record words to values.

A :class:`Schedule` is a sequence of :class:`WakeBlock` (images presented one after the other,
``steps_per_image`` wake steps each, no reset, as ``sim.recurrent_net.run_wake_block``) and
:class:`SleepEpisode` (``sim.recurrent_net.run_sleep_episode`` with a budget). :func:`commands`
turns it into the command words of :class:`~spikesmith.hw.recurrent.recurrent_core.RecurrentCore`
(the weights dumped after every item); :func:`reseed_commands` and :func:`set_commands` load
LFSR registers and run-time parameters. The core's output is kept as raw words in
:class:`CoreRecords` (from the Verilator harness :mod:`spikesmith.hw.recurrent.harness` or an
Amaranth testbench) and decoded by :func:`decode_neurons`, :func:`decode_weights` and
:func:`decode_status`; the comparison is :mod:`spikesmith.verification.recurrent`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.lib import data

from spikesmith.sim.recurrent_net import NetState

from ..common.streams import pack, unpack
from .recurrent_core import RecurrentCoreConfig
from .recurrent_params import Write
from .recurrent_streams import (
    RecurrentOp,
    neuron_record_layout,
    recurrent_command_layout,
    status_record_layout,
    weight_record_layout,
)

__all__ = [
    "NEURON_FIELDS",
    "CoreRecords",
    "Layouts",
    "Schedule",
    "SleepEpisode",
    "WakeBlock",
    "commands",
    "decode_neuron_rows",
    "decode_neurons",
    "decode_status",
    "decode_weights",
    "layouts",
    "reseed_commands",
    "set_commands",
]

#: Fields of a neuron record, in the order :func:`decode_neurons` returns them.
NEURON_FIELDS = ("index", "spike", "v", "y", "a")


@dataclass(frozen=True, eq=False)
class WakeBlock:
    """Images ``(n, n_input)`` (0..255) presented in order, ``steps_per_image`` steps each."""

    images: np.ndarray


@dataclass(frozen=True)
class SleepEpisode:
    """One sleep episode with a budget of ``budget`` steps (a multiple of ``decay_period``)."""

    budget: int


Schedule = tuple[WakeBlock | SleepEpisode, ...]


@dataclass(frozen=True)
class CoreRecords:
    """Raw records of one run of the core (packed payload words, in output order).

    Attributes
    ----------
    neurons, weights, status : list[int]
        Neuron, weight and status record words.
    status_cycles : list[int]
        Cycle at which each status record appeared (Verilator harness only, else empty).
    cycles : int
        Cycles of the whole run (``-1`` when unknown).
    """

    neurons: list[int]
    weights: list[int]
    status: list[int]
    status_cycles: list[int]
    cycles: int


@dataclass(frozen=True)
class Layouts:
    """Stream layouts of a core: the command and the neuron, weight and status records."""

    command: data.StructLayout
    neuron: data.StructLayout
    weight: data.StructLayout
    status: data.StructLayout


def layouts(config: RecurrentCoreConfig) -> Layouts:
    """Return the stream layouts of the core built from ``config``."""
    p, w = config.net.neuron, config.widths
    return Layouts(
        command=recurrent_command_layout(config.command_items),
        neuron=neuron_record_layout(p.n_post, v_bits=w["v"], y_bits=w["y"], a_bits=w["a"]),
        weight=weight_record_layout(max(1, config.n_syn), weight_bits=config.weight_bits),
        status=status_record_layout(n_groups=5, sum_bits=w["sum"]),
    )


def reseed_commands(config: RecurrentCoreConfig, state: NetState) -> list[int]:
    """Return the commands that load ``state``'s input, noise and decay LFSR registers."""
    cmd_l = layouts(config).command
    out = [pack(cmd_l, op=RecurrentOp.SET_INPUT_REG, index=i, value=int(r))
           for i, r in enumerate(state.input_regs)]
    out += [pack(cmd_l, op=RecurrentOp.SET_NOISE_REG, index=j, value=int(r))
            for j, r in enumerate(state.noise_regs)]
    out.append(pack(cmd_l, op=RecurrentOp.SET_DECAY_REG, value=int(state.decay_reg)))
    return out


def set_commands(config: RecurrentCoreConfig, writes: list[Write]) -> list[int]:
    """Return the ``SET`` command words of ``writes``
    (:mod:`spikesmith.hw.recurrent.recurrent_params`)."""
    cmd_l = layouts(config).command
    return [pack(cmd_l, op=RecurrentOp.SET, space=space, index=index,
                 value=int(value) & ((1 << 64) - 1)) for space, index, value in writes]


def commands(config: RecurrentCoreConfig, schedule: Schedule, *,
             dump_neurons: bool = False) -> list[int]:
    """Return the packed command words that run ``schedule`` (weights dumped after each item).

    With ``dump_neurons`` a final ``DUMP_NEURONS`` reads back every neuron's stored state.

    Raises
    ------
    TypeError
        On a schedule item of another type.
    ValueError
        On images of the wrong shape.
    """
    cmd_l = layouts(config).command
    p = config.net.neuron
    out: list[int] = []
    for item in schedule:
        if isinstance(item, WakeBlock):
            imgs = np.asarray(item.images)
            if imgs.ndim != 2 or imgs.shape[1] != p.n_input:
                raise ValueError(f"images must have shape (n, {p.n_input}), not {imgs.shape!r}")
            for img in imgs:
                out += [pack(cmd_l, op=RecurrentOp.PIXEL, index=i, value=int(v))
                        for i, v in enumerate(img)]
                out.append(pack(cmd_l, op=RecurrentOp.WAKE, value=config.net.steps_per_image))
        elif isinstance(item, SleepEpisode):
            out.append(pack(cmd_l, op=RecurrentOp.SLEEP, value=int(item.budget)))
        else:
            raise TypeError(f"schedule items must be WakeBlock or SleepEpisode, not {item!r}")
        out.append(pack(cmd_l, op=RecurrentOp.DUMP_WEIGHTS))
    if dump_neurons:
        out.append(pack(cmd_l, op=RecurrentOp.DUMP_NEURONS))
    return out


def decode_neuron_rows(config: RecurrentCoreConfig, words: list[int]) -> np.ndarray:
    """Return ``int64 (len(words), 5)``: the :data:`NEURON_FIELDS` of each neuron record."""
    lay = layouts(config).neuron
    rows = [[f[name] for name in NEURON_FIELDS] for f in (unpack(lay, w) for w in words)]
    return np.array(rows, dtype=np.int64).reshape(len(words), len(NEURON_FIELDS))


def decode_neurons(config: RecurrentCoreConfig, words: list[int]) -> dict[str, np.ndarray]:
    """Return each of :data:`NEURON_FIELDS` as ``int64 (steps, n_post)`` from neuron record
    ``words`` (``n_post`` per step; a trailing partial step is left out)."""
    n_post = config.net.neuron.n_post
    steps = len(words) // n_post
    rows = decode_neuron_rows(config, words[:steps * n_post]).reshape(steps, n_post, -1)
    return {name: rows[..., k] for k, name in enumerate(NEURON_FIELDS)}


def decode_weights(config: RecurrentCoreConfig, words: list[int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Return the magnitudes and synapse indices (``int64``) of weight record ``words``."""
    fs = [unpack(layouts(config).weight, w) for w in words]
    return (np.array([f["m"] for f in fs], dtype=np.int64),
            np.array([f["index"] for f in fs], dtype=np.int64))


def decode_status(config: RecurrentCoreConfig, words: list[int]
                  ) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """Return ``(event, steps, stopped, sums)`` of each status record word."""
    lay = layouts(config).status
    return [(f["event"], f["steps"], f["stopped"], tuple(f["sums"]))
            for f in (unpack(lay, w) for w in words)]
