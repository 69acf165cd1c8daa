"""The estimate stage: real Yosys and nextpnr runs on a network, beside the analytic model.

:func:`estimate_design` synthesises the generated top (``hw.lif.network.Network`` or
``hw.conv.conv_network.ConvNetwork``) for each target, measures its Fmax and that of its first
core on the iCE40 UP5K and the ECP5-25F (``hw.common.fpga.measure_fmax``), and puts the
analytic figures of ``hw.lif.estimate`` and ``hw.lif.estimate_timing`` (dense) or
``hw.conv.resources`` (conv networks, per core too) beside them in an :class:`EstimateReport`;
:func:`core_cycles_per_sample` is the per-core cycle model the verify stage reports.
:func:`estimate_entries` turns a report into the estimate stage's record entries; the flow's
``stage_estimate`` calls both.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikesmith.hw.common.fpga import (
    CAPACITY,
    FIT_RESOURCES,
    FmaxResult,
    check_fit,
    measure_fmax,
    overused,
    pack,
    utilisation,
)
from spikesmith.hw.common.synth import ResourceCounts, SynthResult, Target, synthesize
from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.estimate import core_sample_cycles
from spikesmith.hw.conv.network_config import ConvNetworkConfig
from spikesmith.hw.conv.resources import estimate_conv_network, estimate_layer
from spikesmith.hw.lif.config import NetworkConfig
from spikesmith.hw.lif.estimate import estimate_network, network_synops_per_cycle, timestep_cycles
from spikesmith.hw.lif.estimate_timing import estimate_fmax
from spikesmith.hw.lif.lif_core import LIFCore
from spikesmith.hw.lif.network import Network
from spikesmith.sim.conv import PoolLayer
from spikesmith.sim.network import NetworkParams, run_network

__all__ = [
    "Comparison",
    "EstimateReport",
    "compare",
    "core_cycles_per_sample",
    "estimate_design",
    "estimate_entries",
    "network_cycles_per_sample",
]

@dataclass(frozen=True)
class Comparison:
    """An analytic figure beside a measured one; ``rel_error = (analytic - measured) / measured``
    (``0.0`` when both are 0, ``inf`` when only the measurement is 0)."""

    analytic: float
    measured: float
    rel_error: float

    def to_dict(self) -> dict[str, float]:
        """Return ``{"analytic", "measured", "rel_error"}``."""
        return {"analytic": self.analytic, "measured": self.measured, "rel_error": self.rel_error}


def compare(analytic: float, measured: float) -> Comparison:
    """Return ``analytic`` beside ``measured`` with the relative error."""
    if measured == 0:
        err = 0.0 if analytic == 0 else math.inf
    else:
        err = (analytic - measured) / measured
    return Comparison(float(analytic), float(measured), float(err))



@dataclass(frozen=True)
class EstimateReport:
    """Analytic and measured resources and Fmax of a generated network.

    Parameters
    ----------
    resources : Mapping[Target, ResourceCounts]
        Yosys counts of ``hw.lif.network.Network(config)`` per target.
    analytic : Mapping[Target, ResourceCounts]
        ``hw.lif.estimate.estimate_network`` (or ``hw.conv.resources.estimate_conv_network``)
        per target.
    fmax_network : Mapping[Target, FmaxResult]
        The whole network in ``hw.common.harness.FmaxHarness`` (ICE40: UP5K, ECP5: 25F).
    fmax_core : Mapping[Target, FmaxResult]
        The first LIF core in the harness.
    cycles_per_step : int or None
        Cycles of one dense, spike-free timestep summed over the cores (``None`` for a network
        with conv cores, whose cycles depend on the events: ``core_cycles_per_sample``).
    synops_per_cycle : float or None
        ``hw.lif.estimate.network_synops_per_cycle`` (``None`` as ``cycles_per_step``).
    design : str
        What was synthesised.
    seconds : float
        Wall-clock time of :func:`estimate_design`, s.
    fmax_analytic : Mapping[Target, float]
        ``hw.lif.estimate_timing.estimate_fmax`` of the network per placed target.
    fmax_core_analytic : Mapping[Target, float]
        ``hw.lif.estimate_timing.estimate_fmax`` of the first core per placed target.
    packed : Mapping[Target, Mapping[str, tuple[int, int]]]
        nextpnr's packer on the network (``hw.common.fpga.pack``, iCE40 and ECP5): bel type to
        ``(used, available)``, the I/O bels left out (the bare network's ports are not pins);
        not run where the network's Yosys counts exceed the part.
    layers : tuple[dict, ...]
        Per core in order: ``core`` (name), ``kind`` (``conv`` or ``dense``) and ``analytic``
        (``Target`` to ``ResourceCounts``: ``hw.conv.resources.estimate_layer``).
    """

    resources: Mapping[Target, ResourceCounts]
    analytic: Mapping[Target, ResourceCounts]
    fmax_network: Mapping[Target, FmaxResult]
    fmax_core: Mapping[Target, FmaxResult]
    cycles_per_step: int | None
    synops_per_cycle: float | None
    design: str
    seconds: float = 0.0
    fmax_analytic: Mapping[Target, float] = field(default_factory=dict)
    fmax_core_analytic: Mapping[Target, float] = field(default_factory=dict)
    packed: Mapping[Target, Mapping[str, tuple[int, int]]] = field(default_factory=dict)
    layers: tuple[dict[str, Any], ...] = ()

    @property
    def fmax_mhz(self) -> dict[Target, float]:
        """Network Fmax per target where it was measured."""
        return {t: r.fmax_mhz for t, r in self.fmax_network.items() if r.fmax_mhz is not None}

    def fit_basis(self, target: Target) -> str:
        """What decides :meth:`fits` on ``target``: ``"nextpnr"`` where the network in its
        harness was placed or refused (Yosys counts over the part, nextpnr's packer or placer),
        else ``"nextpnr pack"`` where the bare network was packed, else ``"yosys counts"``
        (the bare network's counts over the part, its harness not synthesised; XC7, no place
        and route: a necessary condition only)."""
        r = self.fmax_network.get(target)
        if r is not None and (r.pnr is not None or (not r.fits and r.synth is not None)):
            return "nextpnr"
        if target in self.packed:
            return "nextpnr pack"
        return "yosys counts"

    def fits(self, target: Target) -> bool:
        """Whether the network fits ``target``'s part, decided as :meth:`fit_basis` says."""
        basis = self.fit_basis(target)
        counted = check_fit(self.resources[target], target=target) is None
        if basis == "nextpnr":
            return self.fmax_network[target].fits
        if basis == "nextpnr pack":
            return counted and not overused(self.packed[target])
        return counted

    def comparisons(self, target: Target) -> dict[str, Comparison]:
        """Return the analytic-vs-Yosys comparison of every resource on ``target``."""
        a, m = self.analytic[target], self.resources[target]
        return {f: compare(getattr(a, f), getattr(m, f)) for f in FIT_RESOURCES}

    def to_dict(self) -> dict:
        """Return a JSON-ready dict.

        Keys: ``resources.<target>.{lut,ff,bram,dsp}`` (Yosys, whole network),
        ``analytic.<target>...``, ``error.<target>...`` (relative), ``fits.<target>``,
        ``utilisation.<target>.{lut,ff,bram,dsp}`` (fraction of ``hw.common.fpga.CAPACITY``),
        ``fmax_mhz.<target>`` (network, only where measured), ``fmax_notes.<target>`` (why
        not), ``fmax_core_mhz.<target>``, ``fmax_analytic_mhz.<target>`` and
        ``fmax_core_analytic_mhz.<target>`` (``hw.lif.estimate_timing.estimate_fmax``),
        ``fmax_error.<target>`` and ``fmax_core_error.<target>`` (relative error of the
        analytic Fmax against the measured one, where measured),
        ``fmax_detail.{network,core}.<target>``,
        ``critical_path.<target>``, ``cycles_per_step``, ``synops_per_cycle``, ``layers`` (per
        core: ``core``, ``kind``, ``analytic.<target>.{lut,ff,bram,dsp}``), ``design``,
        ``seconds``.
        """
        return {
            "design": self.design,
            "resources": {t.value: _counts(r) for t, r in self.resources.items()},
            "analytic": {t.value: _counts(r) for t, r in self.analytic.items()},
            "error": {
                t.value: {f: c.rel_error for f, c in self.comparisons(t).items()}
                for t in self.resources
                if t in self.analytic
            },
            "fits": {t.value: self.fits(t) for t in self.resources},
            "fit_basis": {t.value: self.fit_basis(t) for t in self.resources},
            "packed": {
                t.value: {bel: list(v) for bel, v in u.items() if v[0]}
                for t, u in self.packed.items()
            },
            "utilisation": {
                t.value: utilisation(r, target=t) for t, r in self.resources.items()
            },
            "fmax_mhz": {t.value: f for t, f in self.fmax_mhz.items()},
            "fmax_notes": {
                t.value: r.reason for t, r in self.fmax_network.items() if r.fmax_mhz is None
            },
            "fmax_core_mhz": {
                t.value: r.fmax_mhz for t, r in self.fmax_core.items() if r.fmax_mhz is not None
            },
            "fmax_seeds_mhz": {
                t.value: {"min": min(r.fmax_by_seed.values()), "median": r.fmax_mhz,
                          "by_seed": {str(k): v for k, v in r.fmax_by_seed.items()}}
                for t, r in self.fmax_network.items() if r.fmax_by_seed
            },
            "fmax_analytic_mhz": {t.value: f for t, f in self.fmax_analytic.items()},
            "fmax_core_analytic_mhz": {t.value: f for t, f in self.fmax_core_analytic.items()},
            "fmax_error": {
                t.value: compare(f, self.fmax_network[t].fmax_mhz).rel_error
                for t, f in self.fmax_analytic.items()
                if t in self.fmax_network and self.fmax_network[t].fmax_mhz is not None
            },
            "fmax_core_error": {
                t.value: compare(f, self.fmax_core[t].fmax_mhz).rel_error
                for t, f in self.fmax_core_analytic.items()
                if t in self.fmax_core and self.fmax_core[t].fmax_mhz is not None
            },
            "fmax_detail": {
                "network": {t.value: r.to_dict() for t, r in self.fmax_network.items()},
                "core": {t.value: r.to_dict() for t, r in self.fmax_core.items()},
            },
            "critical_path": {
                t.value: list(r.critical_path) for t, r in self.fmax_network.items()
            },
            "cycles_per_step": self.cycles_per_step,
            "synops_per_cycle": self.synops_per_cycle,
            "layers": [{**ly, "analytic": {t.value: _counts(r) for t, r in ly["analytic"].items()}}
                       for ly in self.layers],
            "seconds": round(self.seconds, 1),
        }


def _counts(resources: ResourceCounts) -> dict[str, int]:
    """Return the :data:`~spikesmith.hw.common.fpga.FIT_RESOURCES` counts of ``resources``."""
    return {f: getattr(resources, f) for f in FIT_RESOURCES}


def _components(config: NetworkConfig | ConvNetworkConfig):
    """Factories of the whole network's top and of its first core (fresh elaboratables)."""
    if isinstance(config, ConvNetworkConfig):
        from spikesmith.hw.conv.conv_core import ConvCore
        from spikesmith.hw.conv.conv_network import ConvNetwork

        first = config.cores[0]
        core_cls = ConvCore if isinstance(first, ConvCoreConfig) else LIFCore
        return (lambda: ConvNetwork(config)), (lambda: core_cls(first))
    return (lambda: Network(config)), (lambda: LIFCore(config.cores[0]))


def estimate_design(
    config: NetworkConfig | ConvNetworkConfig,
    *,
    workdir: os.PathLike | str,
    targets: Sequence[Target] = (Target.ICE40, Target.ECP5, Target.XC7),
    pnr: bool = True,
    freq_mhz: Mapping[Target, float] | None = None,
    seeds: Sequence[int] = (1,),
    jobs: int | None = None,
    timeout_s: float | None = 600.0,
) -> EstimateReport:
    """Synthesise the generated network for ``targets`` and measure Fmax where it fits.

    The synthesised design is ``hw.lif.network.Network(config)``, the top that
    ``hw.lif.generate`` writes, or for a ``ConvNetworkConfig`` ``hw.conv.conv_network.
    ConvNetwork(config)``; the analytic numbers (``hw.lif.estimate.estimate_network``, or
    ``hw.conv.resources.estimate_conv_network``) stand beside the Yosys counts, and each
    core's (``hw.conv.resources.estimate_layer``) in ``layers``.
    With ``pnr``, nextpnr measures, on the iCE40 UP5K and the ECP5-25F among ``targets``, the
    Fmax of the first LIF core and of the whole network, each inside
    ``hw.common.harness.FmaxHarness``. A design that does not fit a part is reported
    (``fits = False``, utilisation, the reason in ``fmax_notes``), never raised; one whose
    bare Yosys counts exceed the part is not synthesised again in its harness. Tool runs go
    in parallel threads (``jobs``, default the CPU count), each harness right after its bare
    synthesis.

    Parameters
    ----------
    config : NetworkConfig or ConvNetworkConfig
        The network.
    workdir : path-like
        Folder for all tool outputs.
    targets : sequence of Target
        Families to synthesise for.
    pnr : bool
        Also place and route for Fmax (ICE40 and ECP5 among ``targets``).
    freq_mhz : mapping, optional
        Requested frequency per target (default 40 MHz iCE40, 125 MHz ECP5: the project's
        Fmax goals).
    seeds : sequence of int
        nextpnr placer seeds of the whole network (its Fmax is their median; every seed's
        figure is kept); the first core is placed with the first seed only.
    jobs : int, optional
        Tool runs at a time.
    timeout_s : float or None
        Limit per tool run, s.

    Raises
    ------
    TypeError
        If ``config`` is not a ``NetworkConfig`` / ``ConvNetworkConfig`` or a target is not a
        ``Target``.
    ToolError
        If Yosys fails on the network itself.
    """
    if not isinstance(config, NetworkConfig | ConvNetworkConfig):
        raise TypeError(f"config must be a NetworkConfig or ConvNetworkConfig, not {config!r}")
    for t in targets:
        if not isinstance(t, Target):
            raise TypeError(f"targets must hold Target values, not {t!r}")
    start = time.perf_counter()
    freq = {Target.ICE40: 40.0, Target.ECP5: 125.0, **(freq_mhz or {})}
    work = Path(workdir)
    network, first_core = _components(config)
    placeable = [t for t in targets if pnr and t in (Target.ICE40, Target.ECP5)]
    workers = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        syn = {
            t: pool.submit(synthesize, network(), target=t, top="network",
                           workdir=work / "network", timeout_s=timeout_s)
            for t in targets
        }
        cores = list(placeable)
        core_fmax: dict[Target, Future] = {}

        def next_core() -> None:
            if cores:
                t = cores.pop(0)
                core_fmax[t] = pool.submit(measure_fmax, first_core(), target=t,
                                           workdir=work / "fmax_core", freq=freq[t],
                                           seed=seeds[0], timeout_s=timeout_s)

        # a bare network over the part (Yosys counts, lower bounds) is neither packed nor
        # synthesised again in its harness: the harness holds more. The harness of a network
        # that may fit is queued as soon as its bare synthesis ends, ahead of the next first-
        # core run (the longest runs first); a first-core run follows each synthesis, and
        # workers that no synthesis occupies take one at once.
        for _ in range(max(0, workers - len(targets))):
            next_core()
        net_fmax: dict[Target, Future] = {}
        packed: dict[Target, Future] = {}
        for fut in as_completed(syn.values()):
            done = fut.result()
            t, over = done.target, check_fit(done.resources, target=done.target)
            if t in placeable:
                net_fmax[t] = _done(_over_part(done, over)) if over else pool.submit(
                    measure_fmax, network(), target=t, workdir=work / "fmax_net",
                    freq=freq[t], seeds=tuple(seeds), timeout_s=timeout_s)
            if t in (Target.ICE40, Target.ECP5) and over is None:
                packed[t] = pool.submit(_pack_logic, done.netlist, target=t,
                                        timeout_s=timeout_s)
            next_core()
        while cores:
            next_core()
        resources = {t: f.result().resources for t, f in syn.items()}
        packed_util = {t: packed[t].result() for t in targets if t in packed}
        fmax_network = {t: net_fmax[t].result() for t in placeable}
        fmax_core = {t: f.result() for t, f in core_fmax.items()}
    common = {"resources": resources, "fmax_network": fmax_network, "fmax_core": fmax_core,
              "packed": packed_util, "layers": _layer_estimates(config, targets)}
    if isinstance(config, ConvNetworkConfig):
        return EstimateReport(
            **common, analytic={t: estimate_conv_network(config, target=t) for t in targets},
            cycles_per_step=None, synops_per_cycle=None, design="conv network",
            seconds=time.perf_counter() - start)
    return EstimateReport(
        **common,
        analytic={t: estimate_network(config, target=t) for t in targets},
        cycles_per_step=sum(timestep_cycles(c, events=c.n_in) for c in config.cores),
        synops_per_cycle=network_synops_per_cycle(config),
        design="network",
        seconds=time.perf_counter() - start,
        fmax_analytic={t: estimate_fmax(config, target=t) for t in placeable},
        fmax_core_analytic={t: estimate_fmax(config.cores[0], target=t) for t in placeable},
    )


def _done(result: FmaxResult) -> Future:
    """Return a finished future holding ``result``."""
    fut: Future = Future()
    fut.set_result(result)
    return fut


def _over_part(syn: SynthResult, reason: str) -> FmaxResult:
    """The Fmax result of a network whose bare Yosys counts exceed the part: not placed, not
    synthesised in its harness (``synth`` is ``None``)."""
    _name, cap = CAPACITY[syn.target]
    counts = {f: (getattr(syn.resources, f), getattr(cap, f)) for f in FIT_RESOURCES}
    return FmaxResult(None, False, reason, utilisation=counts)


def _layer_estimates(config: NetworkConfig | ConvNetworkConfig,
                     targets: Sequence[Target]) -> tuple[dict[str, Any], ...]:
    """Per core: its name and kind and its analytic resources per target."""
    return tuple(
        {"core": c.name, "kind": "conv" if isinstance(c, ConvCoreConfig) else "dense",
         "analytic": {t: estimate_layer(c, target=t) for t in targets}}
        for c in config.cores)


#: nextpnr bel types of I/O: the bare network's ports are not pins (its harness has three).
_IO_BELS = frozenset({"SB_IO", "TRELLIS_IO", "IOLOGIC", "SIOLOGIC"})


def _pack_logic(netlist: Path, *, target: Target,
                timeout_s: float | None) -> dict[str, tuple[int, int]]:
    """Return ``hw.common.fpga.pack`` of ``netlist`` without its I/O bels."""
    util = pack(netlist, target=target, timeout_s=timeout_s)
    return {bel: v for bel, v in util.items() if bel not in _IO_BELS}


def estimate_entries(report: EstimateReport, *, layers: Sequence[Mapping[str, Any]] = ()
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the estimate stage's record ``result`` (``report.to_dict()`` without its wall
    time) and its ``summary`` entries.

    The summary gets ``resources``, ``analytic``, ``error``, ``fits``, ``fit_basis``, ``fmax_mhz``,
    ``fmax_seeds_mhz`` (min, median and every placer seed's network Fmax),
    ``fmax_core_mhz``, ``fmax_analytic_mhz``, ``fmax_error``, ``fmax_notes`` and
    ``synops_per_cycle.analytic_dense_input`` (the cycle model's figure for dense input; the
    measured one comes from the verify stage). The latency per target, which needs the verify
    stage's cycles too, is added by ``spikesmith.summary`` when both records are current.
    Given the export stage's ``layers`` (``spikesmith.hardware.layer_summaries``: one record per
    layer, ``core`` naming its core), the summary's ``layers`` has one entry per layer, that of
    a core holding ``analytic_resources.<target>.{lut,ff,bram,dsp}`` (empty for a pooling
    layer, which runs inside its conv core); ``spikesmith.summary`` merges it into the export
    stage's records.
    """
    result = report.to_dict()
    result.pop("seconds")
    summary: dict[str, Any] = {
        key: result[key]
        for key in ("resources", "analytic", "error", "fits", "fit_basis", "fmax_mhz",
                    "fmax_seeds_mhz", "fmax_core_mhz",
                    "fmax_analytic_mhz", "fmax_error", "fmax_notes")
        if key in result
    }
    summary["synops_per_cycle"] = {"analytic_dense_input": result.get("synops_per_cycle")}
    if layers:
        by_core = {ly["core"]: ly["analytic"] for ly in result["layers"]}
        summary["layers"] = [{"analytic_resources": by_core[ly["core"]]}
                             if ly.get("core") in by_core else {} for ly in layers]
    return result, summary


def core_cycles_per_sample(config: NetworkConfig | ConvNetworkConfig, params: NetworkParams,
                           images: np.ndarray) -> np.ndarray:
    """Return the analytic cycles of each core alone per sample, ``(batch, cores)``
    (``hw.conv.estimate.core_sample_cycles``: input always valid, output always ready), on
    ``images`` ``(batch, n_in)``, from the golden model's own events (``sim.network``).

    A conv network takes about its slowest core's cycles per sample (the row's maximum:
    ``hw.conv.estimate.network_sample_cycles``), a dense one about their sum (the row's sum:
    ``hw.lif.estimate.estimate_cycles``), which is what
    ``spikesmith.hardware.analytic_cycles_per_sample`` averages.
    """
    trace = run_network(params, images, record_membranes=False)
    idx = [i for i, layer in enumerate(params.layers) if not isinstance(layer, PoolLayer)]
    ins = [trace.inputs if i == 0 else trace.spikes[i - 1] for i in idx]
    return np.array([[core_sample_cycles(core, x[:, b], trace.spikes[i][:, b])
                      for core, x, i in zip(config.cores, ins, idx, strict=True)]
                     for b in range(images.shape[0])], dtype=np.int64).reshape(
                         images.shape[0], len(config.cores))


def network_cycles_per_sample(config: NetworkConfig | ConvNetworkConfig,
                              per_core: np.ndarray) -> float:
    """Return the mean modelled cycles per sample of the network from
    :func:`core_cycles_per_sample`: the slowest core per sample for a conv network (a lower
    bound, the cores overlap through their FIFOs), the sum of the cores for a dense one (an
    upper bound)."""
    if not len(per_core):
        return 0.0
    rows = per_core.max(axis=1) if isinstance(config, ConvNetworkConfig) else per_core.sum(
        axis=1)
    return float(rows.mean())
