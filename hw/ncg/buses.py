"""The buses between the units of the NCG learning core, and the parameter check they share.

:class:`~spikesmith.hw.ncg.ncg_core.NCGCore` is a composition of units (one file each under
``hw/ncg/``); this module defines what they pass to each other. Every signature is written from
the side that drives it: the producer has the member as ``Out(...)``, its consumers as
``In(...)``, and one :func:`amaranth.lib.wiring.connect` fans a bundle out to all consumers.

=====================  ===============  ==================================================
signature              producer         consumers
=====================  ===============  ==================================================
:func:`control`        interface        forward, winners, regulation, errors, row update
:func:`neuron`         forward          winners, interface (trace records)
:func:`winners`        winners          regulation, errors, interface (result record)
:func:`row`            errors           row update
:func:`divider`        errors, update   the shared :class:`FloorDivider` (requests ORed)
:func:`lane_port`      interface        lanes (host access to the LFSR registers)
=====================  ===============  ==================================================

Memory read and write requests are in :mod:`spikesmith.hw.ncg.memories`.
"""

from __future__ import annotations

from amaranth.hdl import signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from spikesmith.sim.lfsr import LFSR24
from spikesmith.sim.ncg import ROUND_BITS, NCGParams
from spikesmith.sim.ncg_types import Method, WeightNorm

from ..common.streams import index_bits
from .ncg_streams import NCGWidths

__all__ = [
    "NCGUnit",
    "check_params",
    "control",
    "divider",
    "divider_bits",
    "lane_port",
    "neuron",
    "row",
    "update_bits",
    "updated_neurons",
    "winners",
]


def check_params(params: NCGParams) -> NCGWidths:
    """Check that the hardware implements ``params``; return its widths.

    Raises
    ------
    TypeError
        If ``params`` is not an ``NCGParams``.
    ValueError
        If ``params.lanes`` is not a power of two, or the normalisation is
        ``WeightNorm.MULTIPLICATIVE`` (a per-synapse multiply and divide, not implemented).
    """
    if not isinstance(params, NCGParams):
        raise TypeError(f"params must be an NCGParams, not {params!r}")
    if params.lanes & (params.lanes - 1):
        raise ValueError(f"params.lanes must be a power of two, not {params.lanes!r}")
    if params.effective_norm is WeightNorm.MULTIPLICATIVE:
        raise ValueError("params.norm must be NONE or ADDITIVE in hardware, not "
                         "MULTIPLICATIVE")
    return NCGWidths(params)


class NCGUnit(wiring.Component):
    """Base of the NCG core's units: checks ``params`` (:func:`check_params`), keeps it with
    its widths, then builds the signature from it (:meth:`members`).

    Raises
    ------
    TypeError, ValueError
        As :func:`check_params`.
    """

    def __init__(self, params: NCGParams) -> None:
        self._w = check_params(params)
        self._params = params
        super().__init__(self.members(params))

    @property
    def params(self) -> NCGParams:
        """The parameters the unit was built for."""
        return self._params

    def members(self, params: NCGParams) -> dict:
        """Return the signature members of the unit for ``params`` (defined by each unit)."""
        raise NotImplementedError(f"{type(self).__name__} must define members()")


def updated_neurons(params: NCGParams) -> int:
    """Slots of neurons that one sample may update (``C``, ``N`` or 1 for R-STDP)."""
    cfg = params.config
    if cfg.method is Method.RSTDP:
        return 1
    return cfg.class_map.n_classes if cfg.class_wta else cfg.class_map.n_neurons


def update_bits(params: NCGParams) -> int:
    """Signed width of the update values ``d±`` (``2**-(WF + ROUND_BITS)`` units).

    ``|d±| < 2**(WF+12)`` from the products (``|e| < 2**(TF+1)``, ``|A| < 8``); the additive
    normalisation offset adds less than that plus ``2**(W+8)``.
    """
    return max(params.weight_format.frac + 12, params.weight_format.width + 8) + 3


def divider_bits(params: NCGParams) -> tuple[int, int]:
    """``(dividend_bits, divisor_bits)`` of the shared divider: the mean firing time
    (``Σ τ / n``) and the additive normalisation offset (``/ F``)."""
    wd = NCGWidths(params)
    f_n, n_upd, tf = params.config.n_inputs, updated_neurons(params), params.time_frac
    dividend = max(wd.potential + 2 + ROUND_BITS,
                   index_bits(f_n + 1) + 1 + update_bits(params),
                   tf + 2 + index_bits(n_upd + 1)) + 2
    return dividend, index_bits(max(f_n, n_upd) + 1)


def control(params: NCGParams) -> wiring.Signature:
    """The host registers and the sample registers, as the interface drives them.

    Members: ``train``, ``trace`` (``MODE`` bits 0 and 1); ``a_plus``, ``a_minus``,
    ``anti_a_plus``, ``anti_a_minus`` (signed, ``2**-AF``); ``eta_win``, ``eta_lose`` (weight
    LSBs); ``g_t``, ``g_nt`` (``2**-TF``); ``label`` (class of the sample, set by ``END``);
    ``n_events`` (events of the sample so far).
    """
    wd = NCGWidths(params)
    rate = Out(signed(wd.rate))
    return wiring.Signature({
        "train": Out(1), "trace": Out(1),
        "a_plus": rate, "a_minus": rate, "anti_a_plus": rate, "anti_a_minus": rate,
        "eta_win": Out(wd.threshold), "eta_lose": Out(wd.threshold),
        "g_t": Out(wd.gap), "g_nt": Out(wd.gap),
        "label": Out(range(max(2, params.config.class_map.n_classes))),
        "n_events": Out(range(params.config.n_inputs + 1)),
    })


def neuron(params: NCGParams) -> wiring.Signature:
    """The neuron of the forward pass and its result.

    Members: ``index`` (``j``, ``0 .. N``), ``position`` (in its group, ``0 .. M-1``),
    ``group`` (class of ``j``); ``bin`` (first-spike bin, ``K`` = none) and ``potential`` of the
    finished neuron (valid in ``FWD_DONE``).
    """
    wd = NCGWidths(params)
    cm = params.config.class_map
    return wiring.Signature({
        "index": Out(range(cm.n_neurons + 1)),
        "position": Out(range(max(2, cm.neurons_per_class))),
        "group": Out(range(max(2, cm.n_classes + 1))),
        "bin": Out(wd.bin),
        "potential": Out(wd.potential),
    })


def winners(params: NCGParams) -> wiring.Signature:
    """What the winners unit has collected over the forward pass.

    Members: the global winner (``index``, ``bin``, ``cls``: its class, ``target``: whether it is
    a target neuron); the competition-regulation winner ``cr_index`` among the target neurons
    of the label's group and the first of them, ``cr_first``; ``tau_sum`` and ``n_fired``, the
    sum of the firing times (``2**-TF``) and the count of the updated neurons that fired.
    """
    wd = NCGWidths(params)
    n_upd = updated_neurons(params)
    return wiring.Signature({
        "index": Out(wd.neuron), "bin": Out(wd.bin),
        "cls": Out(range(max(2, params.config.class_map.n_classes))), "target": Out(1),
        "cr_index": Out(wd.neuron), "cr_first": Out(wd.neuron),
        "tau_sum": Out(params.time_frac + 2 + index_bits(n_upd + 1)),
        "n_fired": Out(range(n_upd + 1)),
    })


def row(params: NCGParams) -> wiring.Signature:
    """The weight row to update: neuron ``index``, its spike ``bin`` and its ``error``
    (signed, ``2**-TF``)."""
    wd = NCGWidths(params)
    return wiring.Signature({
        "index": Out(wd.neuron), "bin": Out(wd.bin),
        "error": Out(signed(params.time_frac + 3)),
    })


def divider(params: NCGParams) -> wiring.Signature:
    """A requester's side of the shared :class:`~spikesmith.hw.ncg.ncg_divider.FloorDivider`:
    ``start``, ``dividend``, ``divisor`` out (0 while the requester is idle: requests are ORed),
    ``busy``, ``quotient`` in."""
    nb, db = divider_bits(params)
    return wiring.Signature({
        "start": Out(1), "dividend": Out(signed(nb)), "divisor": Out(unsigned(db)),
        "busy": In(1), "quotient": In(signed(nb)),
    })


def lane_port(params: NCGParams) -> wiring.Signature:
    """Host access to the ``P + 1`` LFSR24 registers: a write (``wr_en``, ``wr_index``,
    ``wr_data``) and a combinational read (``rd_index`` out, ``rd_data`` in)."""
    wd = NCGWidths(params)
    return wiring.Signature({
        "wr_en": Out(1), "wr_index": Out(wd.index), "wr_data": Out(LFSR24.width),
        "rd_index": Out(index_bits(params.lanes + 1)), "rd_data": In(LFSR24.width),
    })
