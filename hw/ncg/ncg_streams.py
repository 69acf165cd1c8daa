"""Host protocol of the NCG learning core (:class:`spikesmith.hw.ncg.ncg_core.NCGCore`).

The core has one command stream in and one record stream out, both ``amaranth.lib.stream``
with a ``data.StructLayout`` payload built here. One ordered command stream (rather than a
separate register bus) makes register writes, sample events and readback requests happen in
exactly the order the host sent them.

Commands (:func:`ncg_command_layout`, fields ``op``, ``space``, ``index``, ``value``):

``EVENT``
    One input spike of the current sample: ``index`` = feature, ``value`` = time bin
    ``0 .. K-1``. Events come in the order of :func:`spikesmith.sim.ncg.events` (ascending
    bin, ascending feature within a bin), each feature at most once per sample.
``END``
    End of the sample: ``value`` = label. The core runs the forward pass and, in training mode
    (register ``MODE`` bit 0), the competition regulation and the S2-STDP / SSTDP / R-STDP
    weight update, then answers with one ``RESULT`` record.
``WRITE``
    Write ``value`` to ``space`` at ``index`` (:class:`NCGSpace`; registers :class:`NCGReg`).
``READ``
    Burst read of ``value`` consecutive entries of ``space`` from ``index``: one ``DATA``
    record per entry.

Records (:func:`ncg_record_layout`, fields ``kind``, ``space``, ``index``, ``value``):

``RESULT``
    ``index`` = predicted class, ``value`` = clock cycles of the sample, from its first
    command (event or ``END``) to this record.
``DATA``
    ``index`` = address, ``value`` = the entry (two's complement for signed spaces).
``TRACE``
    With ``MODE`` bit 1 set, one record per neuron and sample after its forward pass:
    ``index`` = neuron, ``value`` = ``bin | potential << (log2 K + 1)``.

Weight memory words (space ``WEIGHT``): word ``j * G + k`` holds the weights of neuron ``j``
for the features ``k P .. k P + P - 1`` (``P`` = ``params.lanes``, ``G = ceil(F / P)``),
feature ``k P + l`` in bits ``l * W ..`` (``W`` = weight width); lanes past ``F`` are 0.
"""

from __future__ import annotations

import enum

import numpy as np
from amaranth.hdl import unsigned
from amaranth.lib import data

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg import NCGParams, NCGRates

from ..common.streams import index_bits

__all__ = [
    "NCGKind",
    "NCGOp",
    "NCGReg",
    "NCGSpace",
    "NCGWidths",
    "ncg_command_layout",
    "ncg_record_layout",
    "pack_weight_rows",
    "unpack_weight_rows",
]


class NCGOp(enum.IntEnum):
    """Command opcodes."""

    EVENT = 0
    END = 1
    WRITE = 2
    READ = 3


class NCGSpace(enum.IntEnum):
    """Address spaces of ``WRITE`` / ``READ``."""

    #: Control registers (:class:`NCGReg`); write only.
    REG = 0
    #: Weight memory words (module docstring).
    WEIGHT = 1
    #: Test thresholds ``θ_j`` (signed, weight LSBs).
    THETA = 2
    #: Training thresholds ``θ̃_j`` (signed, weight LSBs).
    THETA_TRAIN = 3
    #: Normalisation targets ``S0_j`` (weight LSBs).
    NORM = 4
    #: LFSR24 registers: lanes ``0 .. P-1`` (stochastic rounding), ``P`` (dropout).
    LFSR = 5


class NCGReg(enum.IntEnum):
    """Control registers (space ``REG``)."""

    #: Bit 0: training mode; bit 1: emit ``TRACE`` records.
    MODE = 0
    #: STDP rates (signed, ``2**-AF`` units), :class:`spikesmith.sim.ncg.NCGRates`.
    A_PLUS = 1
    A_MINUS = 2
    ANTI_A_PLUS = 3
    ANTI_A_MINUS = 4
    #: Competition-regulation steps (unsigned, weight LSBs).
    ETA_WIN = 5
    ETA_LOSE = 6
    #: S2-STDP gaps ``g_t``, ``g_nt`` (unsigned, ``2**-TF`` units), ``NCGParams.gaps``.
    G_T = 7
    G_NT = 8


class NCGKind(enum.IntEnum):
    """Record kinds."""

    RESULT = 0
    DATA = 1
    TRACE = 2


class NCGWidths:
    """Bit widths of the core's registers and datapath, derived from ``params``.

    Parameters
    ----------
    params : NCGParams
        Integer parameters of the golden model.
    """

    def __init__(self, params: NCGParams) -> None:
        if not isinstance(params, NCGParams):
            raise TypeError(f"params must be an NCGParams, not {params!r}")
        cfg = params.config
        cm = cfg.class_map
        self.n_inputs = cfg.n_inputs
        self.n_neurons = cm.n_neurons
        self.lanes = params.lanes
        self.groups = -(-cfg.n_inputs // params.lanes)
        self.weight = params.weight_format.width
        self.bin = params.log2_bins + 1
        self.potential = params.potential_format.width
        self.threshold = params.threshold_format.width
        #: signed STDP rate registers: ``|A| < 8`` (1.0 = ``2**AF``)
        self.rate = params.rate_frac + 4
        #: unsigned gap registers (``< T_max``)
        self.gap = params.time_frac + 1
        self.lfsr = LFSR24.width
        self.feature = index_bits(cfg.n_inputs)
        self.neuron = index_bits(cm.n_neurons)
        self.word_addr = index_bits(cm.n_neurons * self.groups)
        self.index = max(self.feature, self.word_addr, self.neuron, 5)
        self.value = max(self.lanes * self.weight, self.threshold, self.lfsr, self.rate,
                         self.bin + self.potential, 32, index_bits(cm.n_classes))

    def signed_space(self, space: NCGSpace) -> bool:
        """Return whether entries of ``space`` are two's complement."""
        return space in (NCGSpace.THETA, NCGSpace.THETA_TRAIN)

    def reg_bits(self, reg: NCGReg) -> tuple[int, bool]:
        """Return ``(width, signed)`` of register ``reg``."""
        if reg is NCGReg.MODE:
            return 2, False
        if reg in (NCGReg.A_PLUS, NCGReg.A_MINUS, NCGReg.ANTI_A_PLUS, NCGReg.ANTI_A_MINUS):
            return self.rate, True
        if reg in (NCGReg.ETA_WIN, NCGReg.ETA_LOSE):
            return self.threshold, False
        return self.gap, False

    def rate_values(self, rates: NCGRates, params: NCGParams) -> dict[NCGReg, int]:
        """Return the register values that program ``rates`` and ``params.gaps``.

        Raises
        ------
        ValueError
            If a value does not fit its register.
        """
        g_t, g_nt = params.gaps
        vals = {
            NCGReg.A_PLUS: rates.a_plus, NCGReg.A_MINUS: rates.a_minus,
            NCGReg.ANTI_A_PLUS: rates.anti_a_plus, NCGReg.ANTI_A_MINUS: rates.anti_a_minus,
            NCGReg.ETA_WIN: rates.eta_win, NCGReg.ETA_LOSE: rates.eta_lose,
            NCGReg.G_T: g_t, NCGReg.G_NT: g_nt,
        }
        for reg, v in vals.items():
            width, signed = self.reg_bits(reg)
            lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (
                0, (1 << width) - 1)
            if not lo <= int(v) <= hi:
                raise ValueError(f"register {reg.name} must be in {lo}..{hi}, not {v!r}")
        return {r: int(v) for r, v in vals.items()}


def ncg_command_layout(widths: NCGWidths) -> data.StructLayout:
    """Return the command payload layout (module docstring)."""
    return data.StructLayout({
        "op": unsigned(2),
        "space": unsigned(3),
        "index": unsigned(widths.index),
        "value": unsigned(widths.value),
    })


def ncg_record_layout(widths: NCGWidths) -> data.StructLayout:
    """Return the output record payload layout (module docstring).

    ``index`` is widened so that ``value`` starts on a hex digit: a record printed in hex has
    its value in the leading digits, which the host decodes in bulk.
    """
    low = -(-(5 + widths.index) // 4) * 4
    return data.StructLayout({
        "kind": unsigned(2),
        "space": unsigned(3),
        "index": unsigned(low - 5),
        "value": unsigned(widths.value),
    })


def pack_weight_rows(weights: np.ndarray, widths: NCGWidths) -> list[int]:
    """Return the ``N * G`` weight memory words of the ``(N, F)`` weight matrix."""
    w = np.asarray(weights, dtype=np.int64)
    p, g, wb = widths.lanes, widths.groups, widths.weight
    padded = np.zeros((w.shape[0], g * p), dtype=object)
    padded[:, :w.shape[1]] = w
    shifts = [1 << (lane * wb) for lane in range(p)]
    words = padded.reshape(-1, p) @ np.array(shifts, dtype=object)
    return [int(x) for x in words]


def unpack_weight_rows(words: list[int], widths: NCGWidths) -> np.ndarray:
    """Return the ``int64 (n, F)`` weight rows held in ``n * G`` weight memory words.

    Vectorised over 64-bit chunks of the words, so a whole weight memory per sample is cheap.
    """
    p, wb, g = widths.lanes, widths.weight, widths.groups
    n_chunks = -(-(p * wb) // 64)
    m64 = (1 << 64) - 1
    chunks = np.array([[(int(x) >> (64 * c)) & m64 for c in range(n_chunks)] for x in words],
                      dtype=np.uint64).reshape(len(words), n_chunks)
    mask = np.uint64((1 << wb) - 1)
    lanes = np.empty((len(words), p), dtype=np.int64)
    for lane in range(p):
        c, s = divmod(lane * wb, 64)
        val = chunks[:, c] >> np.uint64(s)
        if s + wb > 64:
            val = val | (chunks[:, c + 1] << np.uint64(64 - s))
        lanes[:, lane] = (val & mask).astype(np.int64)
    return lanes.reshape(len(words) // g, g * p)[:, :widths.n_inputs]
