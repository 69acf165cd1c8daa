"""Host side of the recurrent core: commands, the golden trace from ``sim``, the bit-exact
comparison, and a free-running Verilator harness that moves data in bulk.

A :class:`Schedule` is a sequence of :class:`WakeBlock` (images presented one after the other,
``steps_per_image`` wake steps each, no reset, as ``sim.recurrent_net.run_wake_block``) and
:class:`SleepEpisode` (``sim.recurrent_net.run_sleep_episode`` with a budget). After every item
the weights are dumped. :func:`golden_trace` runs the schedule through ``sim``;
:func:`compare` checks the core's records against it by ``==`` and names the first mismatch.

The harness (:func:`harness_verilog`) reads the command words from a file, keeps every output
stream ready and writes each record with the cycle it appeared at; Python never runs per clock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from amaranth.back import verilog
from amaranth.hdl import Const, Value

from spikesmith.sim.recurrent import regroup
from spikesmith.sim.recurrent_net import (
    NetConfig,
    NetState,
    run_sleep_episode,
    run_wake_block,
    sleep_step,
    synapse_sums,
    wake_step,
)

from ..common.streams import pack, unpack
from ..common.verilator_harness import (
    build_lock,
    build_sources,
    harness_feed_input,
    harness_finish,
    harness_open_files,
    harness_prologue,
    run_free_running,
    toolchain_key,
    write_if_changed,
)
from .recurrent_core import RecurrentCore, RecurrentCoreConfig
from .recurrent_params import Write
from .recurrent_streams import (
    RecurrentOp,
    StatusEvent,
    neuron_record_layout,
    recurrent_command_layout,
    status_record_layout,
    weight_record_layout,
)

__all__ = [
    "HARNESS_TOP",
    "CoreRecords",
    "GoldenTrace",
    "Schedule",
    "SleepEpisode",
    "WakeBlock",
    "build_recurrent_harness",
    "commands",
    "compare",
    "default_build_dir",
    "golden_trace",
    "harness_verilog",
    "reseed_commands",
    "run_recurrent_harness",
    "set_commands",
]

#: Module name of the recurrent core's Verilator harness.
HARNESS_TOP = "sf_recurrent_harness"
_CORE_TOP = "recurrent_core"


@dataclass(frozen=True, eq=False)
class WakeBlock:
    """Images ``(n, n_input)`` (0..255) presented in order, ``steps_per_image`` steps each."""

    images: np.ndarray


@dataclass(frozen=True)
class SleepEpisode:
    """One sleep episode with a budget of ``budget`` steps (a multiple of ``decay_period``)."""

    budget: int


Schedule = tuple[WakeBlock | SleepEpisode, ...]


def _layouts(config: RecurrentCoreConfig):
    p, w = config.net.neuron, config.widths
    return (
        recurrent_command_layout(config.command_items),
        neuron_record_layout(p.n_post, v_bits=w["v"], y_bits=w["y"], a_bits=w["a"]),
        weight_record_layout(max(1, config.n_syn), weight_bits=config.weight_bits),
        status_record_layout(n_groups=5, sum_bits=w["sum"]),
    )


def reseed_commands(config: RecurrentCoreConfig, state: NetState) -> list[int]:
    """Return the commands that load ``state``'s input, noise and decay LFSR registers."""
    cmd_l = _layouts(config)[0]
    out = [pack(cmd_l, op=RecurrentOp.SET_INPUT_REG, index=i, value=int(r))
           for i, r in enumerate(state.input_regs)]
    out += [pack(cmd_l, op=RecurrentOp.SET_NOISE_REG, index=j, value=int(r))
            for j, r in enumerate(state.noise_regs)]
    out.append(pack(cmd_l, op=RecurrentOp.SET_DECAY_REG, value=int(state.decay_reg)))
    return out


def set_commands(config: RecurrentCoreConfig, writes: list[Write]) -> list[int]:
    """Return the ``SET`` command words of ``writes``
    (:mod:`spikesmith.hw.recurrent.recurrent_params`)."""
    cmd_l = _layouts(config)[0]
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
    cmd_l = _layouts(config)[0]
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


@dataclass(frozen=True, eq=False)
class GoldenTrace:
    """What ``sim`` says the core must produce for a schedule.

    Attributes
    ----------
    spikes, v, y, a : np.ndarray
        ``(steps, n_post)`` per step (spikes ``bool``, the rest ``int64``).
    step_item : np.ndarray
        ``(steps,)`` index of the schedule item each step belongs to.
    weights : list[np.ndarray]
        Magnitudes of the existing synapses (row-major) after every schedule item.
    status : list[tuple[int, int, int, tuple[int, ...]]]
        ``(event, steps, stopped, sums)`` records in order.
    state : NetState
        State after the schedule.
    """

    spikes: np.ndarray
    v: np.ndarray
    y: np.ndarray
    a: np.ndarray
    step_item: np.ndarray
    weights: list[np.ndarray]
    status: list[tuple[int, int, int, tuple[int, ...]]]
    state: NetState


def golden_trace(config: RecurrentCoreConfig, schedule: Schedule, *, net: NetConfig | None = None,
                 conn=None, state: NetState | None = None) -> GoldenTrace:
    """Run ``schedule`` through ``sim.recurrent_net`` from ``state`` (default ``config.state``).

    ``net`` replaces ``config.net`` (a configuration programmed at run time,
    :func:`spikesmith.hw.recurrent.recurrent_params.parameter_writes`); its connectivity is then the
    build's synapses regrouped with ``net``'s bounds and targets unless ``conn`` is given.
    Spikes, membranes, sleep length and group sums come from the block drivers
    (``run_wake_block``, ``run_sleep_episode``) that ``spikesmith.sleep_study`` uses; ``y`` and
    ``a`` (and the membranes of sleep steps) from the equal step functions. ``conn`` replaces
    ``config.conn`` in the model (a perturbation check passes a modified one).
    """
    cfg = config.net if net is None else net
    if conn is None:
        conn = config.conn if net is None else regroup(config.conn, net.neuron)
    pre, post = config.synapses
    state = config.state if state is None else state
    s_l, v_l, y_l, a_l, item_l = [], [], [], [], []
    weights, status = [], []
    for n_item, item in enumerate(schedule):
        if isinstance(item, WakeBlock):
            imgs = np.asarray(item.images)
            end, rec = run_wake_block(state, imgs, conn=conn, cfg=cfg, record_membranes=True,
                                      sums_every=1)
            st = state
            for img in imgs:
                for _ in range(cfg.steps_per_image):
                    st = wake_step(st, img, conn=conn, cfg=cfg)
                    y_l.append(st.neurons.y)
                    a_l.append(st.neurons.a)
            s_l.append(rec.spikes)
            v_l.append(rec.membranes)
            item_l += [n_item] * rec.spikes.shape[0]
            status += [(StatusEvent.WAKE, cfg.steps_per_image, 0, tuple(int(s) for s in sums))
                       for sums in rec.sums]
            state = end
        else:
            end, rec = run_sleep_episode(state, conn=conn, cfg=cfg, budget=item.budget)
            st = replace(state, episode_step=0)
            vs = []
            for _ in range(rec.steps):
                st = sleep_step(st, conn=conn, cfg=cfg)
                vs.append(st.neurons.v)
                y_l.append(st.neurons.y)
                a_l.append(st.neurons.a)
            s_l.append(rec.spikes)
            v_l.append(np.array(vs, dtype=np.int64).reshape(rec.steps, cfg.neuron.n_post))
            item_l += [n_item] * rec.steps
            k = cfg.sleep.decay_period
            for b, sums in enumerate(rec.sums):
                status.append((StatusEvent.BATCH, (b + 1) * k, 0, tuple(int(s) for s in sums)))
            status.append((StatusEvent.EPISODE, rec.steps, int(rec.stopped_early),
                           tuple(int(s) for s in synapse_sums(end.m, conn))))
            state = end
        weights.append(state.m[pre, post].copy())
    n_post = cfg.neuron.n_post

    def cat(parts, dtype):
        return (np.concatenate(parts).astype(dtype) if parts
                else np.zeros((0, n_post), dtype=dtype))

    return GoldenTrace(
        spikes=cat(s_l, bool), v=cat(v_l, np.int64),
        y=np.array(y_l, dtype=np.int64).reshape(-1, n_post),
        a=np.array(a_l, dtype=np.int64).reshape(-1, n_post),
        step_item=np.array(item_l, dtype=np.int64), weights=weights, status=status,
        state=state)


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


def compare(config: RecurrentCoreConfig, trace: GoldenTrace, records: CoreRecords, *,
            dump_neurons: bool = False) -> tuple[int, str | None]:
    """Return ``(mismatch count, first mismatch)`` of the core's records against ``trace``.

    With ``dump_neurons`` (the commands ended with ``DUMP_NEURONS``) the last ``n_post`` neuron
    records are the readback and must equal ``trace.state``'s neurons.

    Neuron records are checked step by step (spike, ``v``, ``y``, ``a`` of every neuron), the
    weight dumps (every synapse after every schedule item) and the status records. The first
    mismatch is the earliest in time (a schedule item's steps, then its weight dump; status
    records and count errors last); its description names the step (and schedule item),
    neuron or synapse ``(pre, post)``, the field, expected and actual.
    """
    _, nrl, wrl, srl = _layouts(config)
    p = config.net.neuron
    n_post, steps = p.n_post, trace.spikes.shape[0]
    problems: list[tuple[tuple[int, int, int], str]] = []
    late = (1 << 62, 0, 0)
    count = 0
    if dump_neurons:
        words, dumped = records.neurons[-n_post:], trace.state.neurons
        records = replace(records, neurons=records.neurons[:-n_post])
        exp_rows = list(zip(range(n_post), dumped.s.astype(int), dumped.v, dumped.y, dumped.a,
                            strict=True))
        for j, (word, exp) in enumerate(zip(words, exp_rows, strict=False)):
            f = unpack(nrl, word)
            act = (f["index"], f["spike"], f["v"], f["y"], f["a"])
            if act != tuple(int(x) for x in exp):
                count += 1
                problems.append(((1 << 60, 0, j), (
                    f"neuron readback {j}: expected (index, spike, v, y, a) "
                    f"{tuple(int(x) for x in exp)}, actual {act}")))
    if len(records.neurons) != steps * n_post:
        count += 1
        problems.append((late, (f"{len(records.neurons)} neuron records, expected {steps} steps"
                                f" x {n_post} neurons = {steps * n_post}")))
    n_ok = min(len(records.neurons) // n_post, steps)
    got = {f: np.zeros((n_ok, n_post), np.int64) for f in ("index", "spike", "v", "y", "a")}
    for r, word in enumerate(records.neurons[:n_ok * n_post]):
        f = unpack(nrl, word)
        t, j = divmod(r, n_post)
        for name in got:
            got[name][t, j] = f[name]
    order = np.arange(n_post)[None, :].repeat(n_ok, axis=0)
    first_step = None
    for name, exp in (("index", order), ("spike", trace.spikes[:n_ok].astype(np.int64)),
                      ("v", trace.v[:n_ok]), ("y", trace.y[:n_ok]), ("a", trace.a[:n_ok])):
        diff = np.argwhere(got[name] != exp)
        count += len(diff)
        if len(diff):
            t, j = diff[0]
            if first_step is None or (t, j) < first_step[:2]:
                first_step = (t, j, (
                    f"step {t} (schedule item {int(trace.step_item[t])}), neuron {j}: {name} "
                    f"expected {int(exp[t, j])}, actual {int(got[name][t, j])}"))
    if first_step is not None:
        t = first_step[0]
        problems.append(((int(trace.step_item[t]), 0, int(t)), first_step[2]))
    pre, post = config.synapses
    s_n = config.n_syn
    dumps = [records.weights[d * s_n:(d + 1) * s_n] for d in range(len(trace.weights))]
    if len(records.weights) != s_n * len(trace.weights):
        count += 1
        problems.append((late, (f"{len(records.weights)} weight records, expected "
                                f"{len(trace.weights)} dumps x {s_n} synapses")))
    for d, (words, exp) in enumerate(zip(dumps, trace.weights, strict=True)):
        if len(words) != s_n:
            continue
        fs = [unpack(wrl, w) for w in words]
        m = np.array([f["m"] for f in fs], dtype=np.int64)
        idx = np.array([f["index"] for f in fs], dtype=np.int64)
        diff = np.flatnonzero((m != exp) | (idx != np.arange(s_n)))
        count += len(diff)
        if len(diff):
            k = int(diff[0])
            problems.append(((d, 1, 0), (
                f"weights after schedule item {d}, synapse {k} (pre {int(pre[k])}, post "
                f"{int(post[k])}): expected {int(exp[k])}, actual {int(m[k])} (index "
                f"{int(idx[k])})")))
    if len(records.status) != len(trace.status):
        count += 1
        problems.append((late, (f"{len(records.status)} status records, expected "
                                f"{len(trace.status)}")))
    for r, (word, exp) in enumerate(zip(records.status, trace.status, strict=False)):
        f = unpack(srl, word)
        act = (f["event"], f["steps"], f["stopped"], tuple(f["sums"]))
        exp_t = (int(exp[0]), exp[1], exp[2], exp[3])
        if act != exp_t:
            count += 1
            problems.append(((1 << 61, 2, r), (
                f"status record {r} ({StatusEvent(exp_t[0]).name}): expected (event, steps, "
                f"stopped, sums) {exp_t}, actual {act}")))
    return count, (min(problems)[1] if problems else None)


# --- Verilator harness -------------------------------------------------------------------------


def harness_verilog(config: RecurrentCoreConfig) -> str:
    """Return the SystemVerilog harness around the core (module :data:`HARNESS_TOP`)."""
    cl, nrl, wrl, srl = _layouts(config)
    cw, nw, ww, sw = cl.size, nrl.size, wrl.size, srl.size
    return "\n".join([
        *harness_prologue(top=HARNESS_TOP, in_width=cw),
        "  wire in_ready, busy, n_valid, w_valid, s_valid;",
        f"  wire [{nw - 1}:0] n_payload;",
        f"  wire [{ww - 1}:0] w_payload;",
        f"  wire [{sw - 1}:0] s_payload;",
        "  wire [15:0] decay_reg;",
        f"  {_CORE_TOP} dut(",
        "    .clk(clk), .rst(rst),",
        "    .cmd__valid(in_valid), .cmd__payload(in_payload), .cmd__ready(in_ready),",
        "    .neurons__valid(n_valid), .neurons__payload(n_payload),",
        "    .weights__valid(w_valid), .weights__payload(w_payload),",
        "    .status__valid(s_valid), .status__payload(s_payload),",
        "    .busy(busy), .decay_reg(decay_reg)",
        "  );",
        *harness_open_files(),
        *harness_feed_input(count_accepted=True),
        '      if (n_valid) $fwrite(fd_out, "n %h\\n", n_payload);',
        '      if (w_valid) $fwrite(fd_out, "w %h\\n", w_payload);',
        '      if (s_valid) $fwrite(fd_out, "s %h %0d\\n", s_payload, cycles);',
        *harness_finish(finished="(in_eof && !in_valid && !busy)",
                        timed_out="!(in_eof && !in_valid && !busy)"),
    ])


def default_build_dir(name: str) -> Path:
    """Return a persistent Verilator build folder ``name`` under the user cache.

    Rebuilding there only redoes the work whose sources changed, so a bench pays the clean
    build (about a minute for the core) once per machine and toolchain (the folder name ends
    in :func:`~spikesmith.hw.common.verilator_harness.toolchain_key`).
    """
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "spikesmith" / "rtl" / f"{name}-{toolchain_key()}"


def build_recurrent_harness(config: RecurrentCoreConfig, build_dir: str | os.PathLike) -> Path:
    """Write the core's Verilog and the harness into ``build_dir`` and compile them.

    Files are rewritten only when their text changes, so Verilator and make redo no work for a
    configuration built before.

    Raises
    ------
    RuntimeError
        If Verilator is unusable here.
    """
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    core_v = build / f"{_CORE_TOP}.v"
    core = RecurrentCore(config)
    # constant members (the always-ready streams' ready) are not ports
    ports = [Value.cast(v) for _, _, v in core.signature.flatten(core)
             if not isinstance(v, Const)]
    write_if_changed(core_v, verilog.convert(core, name=_CORE_TOP, ports=ports,
                                              emit_src=False))
    hpath = build / f"{HARNESS_TOP}.sv"
    write_if_changed(hpath, harness_verilog(config))
    return build_sources([core_v, hpath], top=HARNESS_TOP, build_dir=build)


def run_recurrent_harness(config: RecurrentCoreConfig, words: list[int], *,
                          build_dir: str | os.PathLike, max_cycles: int) -> CoreRecords:
    """Build (if needed) and run the harness on command ``words``; return the records.

    Raises
    ------
    RuntimeError
        If the run did not finish within ``max_cycles``.
    """
    build = Path(build_dir).resolve()
    with build_lock(build):
        return _run_locked(config, words, build, max_cycles)


def _run_locked(config: RecurrentCoreConfig, words: list[int], build: Path,
                max_cycles: int) -> CoreRecords:
    build_recurrent_harness(config, build)
    stim, out = build / "stim.hex", build / "out.txt"
    with open(stim, "w") as f:
        f.write(f"{len(words):x}\n{max_cycles:x}\n")
        f.write("\n".join(f"{w:x}" for w in words))
        f.write("\n")
    out.unlink(missing_ok=True)
    run_free_running(build, top=HARNESS_TOP, plusargs=[f"+sf_stim={stim}", f"+sf_out={out}"])
    neurons, weights, status, scyc = [], [], [], []
    cycles = -1
    for line in out.read_text().splitlines() if out.is_file() else []:
        tag, *vals = line.split()
        if tag == "n":
            neurons.append(int(vals[0], 16))
        elif tag == "w":
            weights.append(int(vals[0], 16))
        elif tag == "s":
            status.append(int(vals[0], 16))
            scyc.append(int(vals[1]))
        elif tag == "c":
            cycles = int(vals[0])
    if cycles < 0 or cycles >= max_cycles:
        raise RuntimeError(f"the recurrent harness did not finish within {max_cycles} cycles; "
                           f"see {build / 'sim.log'}")
    return CoreRecords(neurons, weights, status, scyc, cycles)
