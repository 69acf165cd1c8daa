"""Stream payload layouts of the recurrent STDP / sleep core
(:mod:`spikesmith.hw.recurrent.recurrent_core`).

* **command** (:func:`recurrent_command_layout`): host to core. ``op`` is a
  :class:`RecurrentOp`; ``space`` (a :class:`RecurrentSpace`, ``SET`` only), ``index`` and
  ``value`` are its operands. ``SET`` writes one run-time parameter, table entry or state word;
  signed values travel as 64-bit two's complement (decay table words can exceed 32 bits).
* **neuron record** (:func:`neuron_record_layout`): one per neuron per step, after reset and
  adaptation: the neuron's index, its spike, membrane ``v``, filtered current ``y`` and
  adaptation ``a`` (units of ``sim.recurrent``), and whether the step was a sleep step.
* **weight record** (:func:`weight_record_layout`): one per synapse on a weight dump, in
  ascending row-major ``(pre, post)`` order (the order of ``sim.sleep.decay_step``).
* **status record** (:func:`status_record_layout`): after every decay batch, at the end of
  every sleep episode and at the end of every wake command: a :class:`StatusEvent`, the steps
  of the command so far, the early-stop flag and the running ``sum |w|`` of every
  ``sim.recurrent.SynapseGroup`` (enum order).

Fields are laid out LSB first in the order listed (``data.StructLayout``); the host side packs
and unpacks them with :func:`spikesmith.hw.common.streams.pack` /
:func:`~spikesmith.hw.common.streams.unpack`.
"""

from __future__ import annotations

import enum

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from ..common.streams import index_bits

__all__ = [
    "RecurrentOp",
    "RecurrentParam",
    "RecurrentSpace",
    "StatusEvent",
    "neuron_record_layout",
    "recurrent_command_layout",
    "status_record_layout",
    "weight_record_layout",
]


class RecurrentOp(enum.IntEnum):
    """Host commands of the recurrent core."""

    #: Store pixel ``value`` (0..255) for input ``index`` (used by the following wake steps).
    PIXEL = 0
    #: Run ``value`` wake steps on the stored pixels.
    WAKE = 1
    #: Run one sleep episode with a budget of ``value`` steps (early stop on the group sums).
    SLEEP = 2
    #: Stream every synapse magnitude on the weight readback.
    DUMP_WEIGHTS = 3
    #: Set input ``index``'s rate-coding ``LFSR24`` register to ``value`` (non-zero).
    SET_INPUT_REG = 4
    #: Set neuron ``index``'s noise ``LFSR24`` register to ``value`` (non-zero).
    SET_NOISE_REG = 5
    #: Set the decay ``LFSR16`` register to ``value`` (non-zero).
    SET_DECAY_REG = 6
    #: Write ``value`` at ``index`` of address space ``space`` (:class:`RecurrentSpace`).
    SET = 7
    #: Stream one neuron record per neuron with the stored ``v``, ``y``, ``a`` and last spike.
    DUMP_NEURONS = 8


class RecurrentSpace(enum.IntEnum):
    """Address spaces of ``SET`` (host-written parameters, tables and state)."""

    #: A scalar register, ``index`` a :class:`RecurrentParam`.
    SCALAR = 0
    #: Lower magnitude bound of synapse group ``index`` (``sim.recurrent.SynapseGroup`` order).
    LO = 1
    #: Upper magnitude bound of group ``index``.
    HI = 2
    #: Early-stop level ``B + (B >> tol_shift)`` of group ``index`` (weight LSBs).
    STOP = 3
    #: Running ``sum |w|`` of group ``index`` (loaded together with ``WEIGHT``).
    SUM = 4
    #: Potentiation kernel entry ``K+[index]`` (``index`` an age), weight LSBs.
    KERNEL_PLUS = 5
    #: Depression kernel entry ``K-[index]``.
    KERNEL_MINUS = 6
    #: Decay octave table entry ``index`` (``hw.recurrent.decay_unit.DecayTable.OCTAVE``).
    DECAY_OCTAVE = 7
    #: Decay fraction table entry ``index`` (``hw.recurrent.decay_unit.DecayTable.FRACTION``).
    DECAY_FRACTION = 8
    #: Log2 of the decay target of group ``index`` (``DecayTable.LOG_TARGET``).
    DECAY_LOG_TARGET = 9
    #: Magnitude of synapse ``index`` (CSR order), weight LSBs.
    WEIGHT = 10


class RecurrentParam(enum.IntEnum):
    """Scalar run-time registers (``SET`` with ``space = SCALAR``); units of ``sim.recurrent``."""

    #: Resting threshold ``theta0``, membrane LSBs.
    THETA0 = 0
    #: Threshold clip ``theta_max``.
    THETA_MAX = 1
    #: Reset membrane ``v_reset``.
    V_RESET = 2
    #: Threshold increase per spike ``delta_a``.
    ADAPT_INC = 3
    #: Charge gain ``g`` (of ``(g * y) >> k_g``).
    GAIN = 4
    #: Sleep noise gain (``sim.sleep.SleepParams.noise_gain``).
    NOISE_GAIN = 5
    #: Steps per decay batch ``k``.
    DECAY_PERIOD = 6
    #: STDP polarity: 0 ``CAUSAL``, 1 ``AUTHORS_REVERSED``.
    POLARITY = 7


class StatusEvent(enum.IntEnum):
    """Why a status record was written."""

    #: A decay batch finished (sleep).
    BATCH = 0
    #: A sleep episode ended.
    EPISODE = 1
    #: A wake command ended.
    WAKE = 2


def recurrent_command_layout(n_index: int) -> data.StructLayout:
    """Return the command layout for indices into ``n_index`` items (inputs or neurons).

    Fields: ``op`` (4 bits, :class:`RecurrentOp`), ``space`` (4 bits, :class:`RecurrentSpace`),
    ``index``, ``value`` (64 bits).
    """
    return data.StructLayout({
        "op": unsigned(4),
        "space": unsigned(4),
        "index": unsigned(index_bits(n_index)),
        "value": unsigned(64),
    })


def neuron_record_layout(n_post: int, *, v_bits: int, y_bits: int,
                         a_bits: int) -> data.StructLayout:
    """Return the per-neuron per-step record layout (widths in bits, signed ``v``/``y``).

    Fields: ``index``, ``spike``, ``sleep``, ``v``, ``y``, ``a``.
    """
    for name, w in (("v_bits", v_bits), ("y_bits", y_bits), ("a_bits", a_bits)):
        if not isinstance(w, int) or w < 1:
            raise ValueError(f"{name} must be a positive integer, not {w!r}")
    return data.StructLayout({
        "index": unsigned(index_bits(n_post)),
        "spike": unsigned(1),
        "sleep": unsigned(1),
        "v": signed(v_bits),
        "y": signed(y_bits),
        "a": unsigned(a_bits),
    })


def weight_record_layout(n_syn: int, *, weight_bits: int) -> data.StructLayout:
    """Return the weight dump record layout: ``index`` (synapse), ``m`` (magnitude, LSBs)."""
    if not isinstance(weight_bits, int) or weight_bits < 1:
        raise ValueError(f"weight_bits must be a positive integer, not {weight_bits!r}")
    return data.StructLayout({
        "index": unsigned(index_bits(n_syn)),
        "m": unsigned(weight_bits),
    })


def status_record_layout(*, n_groups: int, sum_bits: int) -> data.StructLayout:
    """Return the status record layout.

    Fields: ``event`` (2 bits, :class:`StatusEvent`), ``steps`` (32 bits), ``stopped`` (1 bit),
    ``sums`` (``n_groups`` unsigned ``sum_bits``-bit group sums, weight LSBs).
    """
    if not isinstance(n_groups, int) or n_groups < 1:
        raise ValueError(f"n_groups must be a positive integer, not {n_groups!r}")
    if not isinstance(sum_bits, int) or sum_bits < 1:
        raise ValueError(f"sum_bits must be a positive integer, not {sum_bits!r}")
    return data.StructLayout({
        "event": unsigned(2),
        "steps": unsigned(32),
        "stopped": unsigned(1),
        "sums": data.ArrayLayout(unsigned(sum_bits), n_groups),
    })
