"""Compare the recurrent core with ``sim.recurrent_net``, bit for bit.

:func:`golden_trace` runs a :class:`~spikesmith.hw.recurrent.host.Schedule` through ``sim``
(what the core must produce); :func:`compare` checks the core's records
(:class:`~spikesmith.hw.recurrent.host.CoreRecords`, from the Verilator harness
:mod:`spikesmith.hw.recurrent.harness` or an Amaranth testbench) against it by ``==`` and
names the first mismatch (a :class:`~spikesmith.verification.report.Mismatch`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from spikesmith.hw.recurrent.host import (
    NEURON_FIELDS,
    CoreRecords,
    Schedule,
    WakeBlock,
    decode_neuron_rows,
    decode_neurons,
    decode_status,
    decode_weights,
)
from spikesmith.hw.recurrent.recurrent_core import RecurrentCoreConfig
from spikesmith.hw.recurrent.recurrent_streams import StatusEvent
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

from .report import Comparison, Mismatch, Tally

__all__ = ["GoldenTrace", "compare", "golden_trace"]


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


#: Order keys: status records and count errors come after every step and weight dump.
_LATE = (1 << 62, 0, 0)


def _check_readback(config: RecurrentCoreConfig, words: list[int], state: NetState,
                    tally: Tally) -> None:
    """Compare the final ``DUMP_NEURONS`` records with ``state``'s neurons."""
    n = state.neurons
    exp_rows = np.stack([np.arange(len(n.s)), n.s.astype(np.int64), n.v, n.y, n.a], axis=1)
    act_rows = decode_neuron_rows(config, words)
    for j, (act, exp) in enumerate(zip(act_rows, exp_rows, strict=False)):
        if tuple(act) != tuple(exp):
            tally.add(Mismatch(where=(("neuron readback", j),),
                               quantity=f"({', '.join(NEURON_FIELDS)})",
                               expected=tuple(int(x) for x in exp),
                               actual=tuple(int(x) for x in act)),
                      key=(1 << 60, 0, j))


def _check_steps(config: RecurrentCoreConfig, trace: GoldenTrace, words: list[int],
                 tally: Tally) -> None:
    """Compare the per-step neuron records (spike, ``v``, ``y``, ``a`` of every neuron)."""
    n_post, steps = config.net.neuron.n_post, trace.spikes.shape[0]
    if len(words) != steps * n_post:
        tally.add(Mismatch(where=(), quantity="neuron records",
                           expected=f"{steps} steps x {n_post} neurons = {steps * n_post}",
                           actual=len(words)), key=_LATE)
    got = decode_neurons(config, words[:steps * n_post])
    n_ok = got["index"].shape[0]
    exps = {"index": np.arange(n_post)[None, :].repeat(n_ok, axis=0),
            "spike": trace.spikes[:n_ok].astype(np.int64),
            "v": trace.v[:n_ok], "y": trace.y[:n_ok], "a": trace.a[:n_ok]}
    first = None
    count = 0
    for name in NEURON_FIELDS:
        diff = np.argwhere(got[name] != exps[name])
        count += len(diff)
        if len(diff) and (first is None or tuple(diff[0]) < first[:2]):
            t, j = (int(v) for v in diff[0])
            first = (t, j, Mismatch(
                where=(("step", f"{t} (schedule item {int(trace.step_item[t])})"),
                       ("neuron", j)),
                quantity=name, expected=int(exps[name][t, j]), actual=int(got[name][t, j])))
    if first is not None:
        t = first[0]
        tally.add(first[2], count=count, key=(int(trace.step_item[t]), 0, t))


def _check_weights(config: RecurrentCoreConfig, trace: GoldenTrace, words: list[int],
                   tally: Tally) -> None:
    """Compare every synapse of every weight dump (one after each schedule item)."""
    pre, post = config.synapses
    s_n = config.n_syn
    if len(words) != s_n * len(trace.weights):
        tally.add(Mismatch(where=(), quantity="weight records",
                           expected=f"{len(trace.weights)} dumps x {s_n} synapses",
                           actual=len(words)), key=_LATE)
    for d, exp in enumerate(trace.weights):
        dump = words[d * s_n:(d + 1) * s_n]
        if len(dump) != s_n:
            continue
        m, idx = decode_weights(config, dump)
        diff = np.flatnonzero((m != exp) | (idx != np.arange(s_n)))
        if len(diff):
            k = int(diff[0])
            tally.add(Mismatch(
                where=(("weights after schedule item", d),
                       ("synapse", f"{k} (pre {int(pre[k])}, post {int(post[k])})")),
                quantity="", expected=int(exp[k]), actual=int(m[k]),
                note=f" (index {int(idx[k])})"), count=len(diff), key=(d, 1, 0))


def _check_status(config: RecurrentCoreConfig, trace: GoldenTrace, words: list[int],
                  tally: Tally) -> None:
    """Compare the status records (event, steps, early stop, group sums)."""
    if len(words) != len(trace.status):
        tally.add(Mismatch(where=(), quantity="status records", expected=len(trace.status),
                           actual=len(words)), key=_LATE)
    for r, (act, exp) in enumerate(zip(decode_status(config, words), trace.status,
                                       strict=False)):
        exp_t = (int(exp[0]), exp[1], exp[2], exp[3])
        if act != exp_t:
            tally.add(Mismatch(
                where=(("status record", f"{r} ({StatusEvent(exp_t[0]).name})"),),
                quantity="(event, steps, stopped, sums)", expected=exp_t, actual=act),
                key=(1 << 61, 2, r))


def compare(config: RecurrentCoreConfig, trace: GoldenTrace, records: CoreRecords, *,
            dump_neurons: bool = False) -> Comparison:
    """Compare the core's records with ``trace``.

    With ``dump_neurons`` (the commands ended with ``DUMP_NEURONS``) the last ``n_post`` neuron
    records are the readback and must equal ``trace.state``'s neurons.

    Neuron records are checked step by step (spike, ``v``, ``y``, ``a`` of every neuron), the
    weight dumps (every synapse after every schedule item) and the status records. The first
    mismatch is the earliest in time (a schedule item's steps, then its weight dump; status
    records and count errors last); it names the step (and schedule item), neuron or synapse
    ``(pre, post)``, the field, expected and actual.
    """
    tally = Tally()
    neurons = records.neurons
    if dump_neurons:
        n_post = config.net.neuron.n_post
        _check_readback(config, neurons[-n_post:], trace.state, tally)
        neurons = neurons[:-n_post]
    _check_steps(config, trace, neurons, tally)
    _check_weights(config, trace, records.weights, tally)
    _check_status(config, trace, records.status, tally)
    return Comparison.of(tally)
