"""Analytic Fmax of the LIF core and of a network of them: a first-order timing model.

:func:`estimate_fmax` takes the slowest of a few register-to-register paths of the core (and,
for a network, of the skid-buffered links between cores), each
``t_clk_to_q + t_setup + levels * (t_lut + t_net) + width * t_carry`` with per-target primitive
delays read from nextpnr reports (see :data:`_TIMING`). Where :func:`.estimate.map_memory` puts
a memory in block RAM, its read launches the block's clock-to-output delay instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..common.streams import index_bits
from ..common.synth import Target
from .config import LIFCoreConfig, NetworkConfig
from .estimate import MemoryMapping, core_memories, map_memory

__all__ = ["estimate_fmax"]



@dataclass(frozen=True)
class _Timing:
    """Primitive delays of one target, ns (nextpnr's timing model; see :data:`_TIMING`)."""

    clk_to_q: float
    setup: float
    lut: float
    net: float
    carry: float
    bram_clk_to_q: float | None
    lut_inputs: int = 4


#: Per-target primitive delays (ns), all read from nextpnr 0.x (yowasp) ``--report`` JSON files,
#: never fitted to the Fmax figures the model is compared with:
#:
#: * iCE40 UP5K (``--up5k``): ``clk_to_q`` 1.39 (DFF ``O``), ``setup`` 0.1 (``CEN``), ``lut``
#:   0.874 (``SB_LUT4`` ``I3 -> O``, the most common logic step) from the critical path of the
#:   digits demo core (``fmax_core/ice40/harness.up5k-sg48.s1.report.json``); ``net`` 1.761 (one
#:   DFF -> LUT route) and ``carry`` 0.278 per bit (``CIN -> COUT``) from a separate run of a
#:   24-bit accumulator (``q <= q + r``, ``synth_ice40``, ``--freq 40``). No block-RAM delay:
#:   in the same kind of run a 256x16 ``SB_RAM40_4K`` read into a 16-bit accumulator was never
#:   the critical path (103 MHz, set by the adder), so a read counts as a register output.
#: * ECP5 LFE5U-25F (``--25k``): ``clk_to_q`` 0.525 (``TRELLIS_FF`` ``Q``), ``setup`` 0.0 (``DI``),
#:   ``net`` 0.976 (FF -> ``CCU2C`` route) and ``carry`` 0.0355 per bit (0.071 per 2-bit
#:   ``CCU2C``, ``FCI -> FCO``) from the same 24-bit accumulator run (``synth_ecp5``, ``--freq
#:   125``); ``lut`` 0.236 (``LUT4`` ``B -> F``) and ``bram_clk_to_q`` 5.609 (``DP16KD``
#:   ``CLKA -> DOA``) from the digits demo core report
#:   (``fmax_core/ecp5/harness.25k-cabga256.s1.report.json``).
_TIMING: dict[Target, _Timing] = {
    Target.ICE40: _Timing(clk_to_q=1.39, setup=0.1, lut=0.874, net=1.761, carry=0.278,
                          bram_clk_to_q=None),
    Target.ECP5: _Timing(clk_to_q=0.525, setup=0.0, lut=0.236, net=0.976, carry=0.0355,
                         bram_clk_to_q=5.609),
}


def _levels(inputs: int, k: int) -> int:
    """LUT levels of a tree that combines ``inputs`` signals with ``k``-input LUTs."""
    levels, reach = 1, k
    while reach < inputs:
        levels, reach = levels + 1, reach * k
    return levels


def _core_paths(config: LIFCoreConfig, k: int) -> dict[str, tuple[int, int]]:
    """Register-to-register paths of ``LIFCore(config)``: name -> (LUT levels, carry bits).

    * ``accumulate``: the S3 sum register -> the forwarding mux (2:1, only for ``G = 1``) ->
      the adder of ``state_bits`` (one LUT level into the carry chain) -> the S3 sum
      register.
    * ``input_handshake``: ``s0_valid & (s0_g == G-1)`` (``gbits + 1`` inputs) -> ``i.ready``
      (5 terms) -> the accept of an end-of-timestep marker (``valid & ready & eot``) -> the
      ``draining`` enable (2 terms).
    * ``fire``: ``n2_u - threshold``, one bit wider (its sign is the spike): one LUT level
      into a membrane-wide carry chain.
    * ``saturate``: the N1 lane select (a ``P``:1 multiplexer of the state word, 2:1 per LUT
      level), the overflow test on the ``state_bits - membrane_bits + 1`` top bits, then the
      3:1 result multiplexer (one more level).
    """
    gbits = index_bits(config.groups)
    sb, mb = config.state_bits, config.lif.membrane.width
    handshake = sum(_levels(n, k) for n in (gbits + 1, 5, 3, 2))
    return {
        "accumulate": ((1 if config.groups == 1 else 0) + 1, sb),
        "input_handshake": (handshake, 0),
        "fire": (1, mb + 1),
        "saturate": ((config.lanes - 1).bit_length() + _levels(sb - mb + 1, k) + 1, 0),
    }


def _memory_mappings(config: LIFCoreConfig, target: Target) -> tuple[MemoryMapping, ...]:
    """Return :func:`map_memory` of every memory of ``LIFCore(config)`` on ``target``."""
    return tuple(map_memory(m, target=target) for m in core_memories(config))


def _link_levels(config: LIFCoreConfig, k: int) -> int:
    """LUT levels from a core's spike FIFO level to the next skid buffer's enable.

    ``fifo.r_rdy`` (``level != 0`` over the FIFO level's bits) -> ``send_marker`` (one more
    level: the late ``r_rdy`` meets the precombined phase flags) -> ``o.valid`` -> the skid
    entry's load enable (``hw.lif.network``).
    """
    return _levels(max(1, config.groups.bit_length()), k) + 3


def estimate_fmax(config: LIFCoreConfig | NetworkConfig, *, target: Target) -> float:
    """Return the analytic Fmax of ``LIFCore(config)`` or ``Network(config)`` on ``target``, MHz.

    The clock period is the slowest path of :func:`_core_paths` (every core of a network) and of
    the links between cores (a network). Where the target has a block-RAM delay in
    :data:`_TIMING` and :func:`map_memory` puts a memory in block RAM, its read launches
    ``bram_clk_to_q`` instead of ``clk_to_q``: the weights go over one route into the S2
    registers, the state through the accumulate path. A logic path costs
    ``clk_to_q + setup + levels * (lut + net) + carry_bits * carry``. Placement and routing
    congestion are not modelled: routes are one typical hop each, so the estimate is an
    optimistic first order.

    Parameters
    ----------
    config : LIFCoreConfig or NetworkConfig
        A core or a network.
    target : Target
        ``Target.ICE40`` (UP5K) or ``Target.ECP5`` (LFE5U-25F).

    Returns
    -------
    float
        Fmax in MHz.

    Raises
    ------
    TypeError
        If ``config`` or ``target`` has the wrong type.
    ValueError
        If ``target`` has no timing model (``Target.XC7``).
    """
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    if isinstance(config, NetworkConfig):
        cores, links = tuple(config.cores), tuple(config.cores[:-1])
    elif isinstance(config, LIFCoreConfig):
        cores, links = (config,), ()
    else:
        raise TypeError(f"config must be a LIFCoreConfig or NetworkConfig, not {config!r}")
    if target not in _TIMING:
        raise ValueError(f"no timing model for {target.value}")
    tm = _TIMING[target]
    k = tm.lut_inputs
    # (launch delay, LUT levels, carry bits) per path
    paths = [(tm.clk_to_q, n, w) for c in cores for n, w in _core_paths(c, k).values()]
    paths += [(tm.clk_to_q, _link_levels(c, k), 0) for c in links]
    if tm.bram_clk_to_q is not None:
        for c in cores:
            blocks = {m.memory.name for m in _memory_mappings(c, target) if m.kind == "block"}
            if "weights" in blocks:  # weight word over one route into the S2 product registers
                paths.append((tm.bram_clk_to_q + tm.net, 0, 0))
            if "state" in blocks:  # state word through the forwarding mux and the adder
                paths.append((tm.bram_clk_to_q, *_core_paths(c, k)["accumulate"]))
    period = max(t0 + tm.setup + n * (tm.lut + tm.net) + w * tm.carry for t0, n, w in paths)
    return 1000.0 / period
