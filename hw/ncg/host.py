"""Host side of the NCG core protocol: build command streams, decode record streams.

Everything the host sends to :class:`spikesmith.hw.ncg.ncg_core.NCGCore` is a list of
:class:`Command` (packed with :func:`spikesmith.hw.common.streams.pack`), and everything it receives
is decoded into :class:`Record`. The Amaranth testbenches, the Verilator harness
(:mod:`spikesmith.hw.ncg.harness`) and the comparison (:mod:`spikesmith.verification.ncg`)
share these helpers, so both sides of a comparison use the same conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikesmith.sim.ncg import NCGParams, NCGState, events

from ..common.streams import pack
from .ncg_streams import (
    NCGKind,
    NCGOp,
    NCGReg,
    NCGSpace,
    NCGWidths,
    ncg_command_layout,
    ncg_record_layout,
    pack_weight_rows,
)

__all__ = [
    "Command",
    "Record",
    "decode_records",
    "load_state_commands",
    "mode_command",
    "pack_commands",
    "read_command",
    "sample_commands",
    "weight_rows_from_hex",
]


@dataclass(frozen=True)
class Command:
    """One command (fields of :func:`spikesmith.hw.ncg.ncg_streams.ncg_command_layout`)."""

    op: NCGOp
    space: NCGSpace = NCGSpace.REG
    index: int = 0
    value: int = 0


@dataclass(frozen=True)
class Record:
    """One decoded output record; ``value`` is sign-extended for signed spaces."""

    kind: NCGKind
    space: NCGSpace
    index: int
    value: int


def _write(space: NCGSpace, index: int, value: int, width: int) -> Command:
    return Command(NCGOp.WRITE, space, int(index), int(value) & ((1 << width) - 1))


def mode_command(*, train: bool, trace: bool = False) -> Command:
    """Return the ``MODE`` register write (bit 0 train, bit 1 trace)."""
    return Command(NCGOp.WRITE, NCGSpace.REG, NCGReg.MODE, int(train) | (int(trace) << 1))


def load_state_commands(state: NCGState, params: NCGParams) -> list[Command]:
    """Return the writes that load ``state`` (weights, both thresholds, ``S0``, LFSR
    registers, rate and gap registers) into the core."""
    wd = NCGWidths(params)
    cmds = [_write(NCGSpace.WEIGHT, a, word, wd.value)
            for a, word in enumerate(pack_weight_rows(state.weights, wd))]
    for space, arr in ((NCGSpace.THETA, state.thresholds),
                       (NCGSpace.THETA_TRAIN, state.thresholds_train),
                       (NCGSpace.NORM, state.norm_target)):
        cmds += [_write(space, n, int(x), wd.threshold if space is not NCGSpace.NORM
                        else wd.value) for n, x in enumerate(arr)]
    cmds += [_write(NCGSpace.LFSR, q, int(x), wd.lfsr) for q, x in enumerate(state.lfsr)]
    for reg, val in wd.rate_values(state.rates, params).items():
        width, _signed = wd.reg_bits(reg)
        cmds.append(_write(NCGSpace.REG, reg, val, width))
    return cmds


def sample_commands(bins: np.ndarray, label: int, *, params: NCGParams) -> list[Command]:
    """Return the events of one sample (:func:`spikesmith.sim.ncg.events` order) and ``END``."""
    feats, ebins = events(np.asarray(bins, dtype=np.int64), time_bins=params.time_bins)
    cmds = [Command(NCGOp.EVENT, NCGSpace.REG, int(f), int(b)) for f, b in zip(
        feats, ebins, strict=True)]
    cmds.append(Command(NCGOp.END, NCGSpace.REG, 0, int(label)))
    return cmds


def read_command(space: NCGSpace, count: int, start: int = 0) -> Command:
    """Return a burst read of ``count`` entries of ``space`` from ``start``."""
    return Command(NCGOp.READ, space, int(start), int(count))


def pack_commands(cmds: list[Command], widths: NCGWidths) -> list[int]:
    """Return the packed payload of every command."""
    lay = ncg_command_layout(widths)
    return [pack(lay, op=int(c.op), space=int(c.space), index=c.index, value=c.value)
            for c in cmds]


def decode_records(words: list[int], widths: NCGWidths) -> list[Record]:
    """Decode packed output payloads; threshold data are sign-extended."""
    lay = ncg_record_layout(widths)
    off = {name: (field.offset, (1 << field.width) - 1) for name, field in lay}
    (ko, km), (so, sm) = off["kind"], off["space"]
    (io, im), (vo, vm) = off["index"], off["value"]
    tb = widths.threshold
    kinds, spaces = tuple(NCGKind), {int(s): s for s in NCGSpace}
    signed = {int(s) for s in NCGSpace if widths.signed_space(s)}
    data = int(NCGKind.DATA)
    out = []
    for word in words:
        kind, space = (word >> ko) & km, (word >> so) & sm
        value = (word >> vo) & vm
        if kind == data and space in signed:
            value &= (1 << tb) - 1
            if value >> (tb - 1):
                value -= 1 << tb
        out.append(Record(kinds[kind], spaces[space], (word >> io) & im, value))
    return out


def weight_rows_from_hex(lines: list[str], widths: NCGWidths) -> np.ndarray:
    """Return the ``int64 (n, F)`` weight rows of ``n * G`` weight ``DATA`` records given as
    fixed-width hex lines (as the Verilator harness writes them), vectorised."""
    lay = ncg_record_layout(widths)
    low_digits = lay["value"].offset // 4
    vals = [ln[:-low_digits] for ln in lines]
    if len(vals[0]) % 2:
        vals = ["0" + v for v in vals]
    raw = np.frombuffer(bytes.fromhex("".join(vals)), dtype=np.uint8).reshape(len(lines), -1)
    bits = np.unpackbits(raw, axis=1)[:, ::-1]
    p, wb, g = widths.lanes, widths.weight, widths.groups
    weights = (1 << np.arange(wb, dtype=np.int64))
    lanes = bits[:, :p * wb].reshape(len(lines), p, wb).astype(np.int64) @ weights
    return lanes.reshape(len(lines) // g, g * p)[:, :widths.n_inputs]
