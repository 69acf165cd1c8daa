"""The sleep-ratio study: train the recurrent STDP network with sleep at several ratios and seeds,
read it out with PCA + logistic regression, and write ``summary.json`` and two plots.

Ref: Massey et al., arXiv 2601.08447 (``reference/algorithms.md`` §3). The network, STDP and
sleep are ``spikesmith.sim.recurrent_net``; the readout is ``spikesmith.readout``.

Protocol of one run ``(ratio, seed)``:

1. Images: mnist5k (``spikesmith.datasets``), resized 28×28 → 15×15 by :func:`resize_area`.
   The first ``n_train`` training images, in the split's order, are presented once.
2. Training: blocks of ``block_images`` images (``steps_per_image`` wake steps each, no reset
   between images); after each block, if ``ratio > 0``, one sleep episode whose budget is
   ``ratio`` times the block's wake steps (``sim.sleep.sleep_length``), stopping early when
   every group's ``sum |w|`` is back at its initial value.
3. Readout: plasticity frozen, each image from rest (``sim.recurrent_net.evaluate_counts``);
   excitatory spike counts of the ``n_train`` training images fit the probe, the 1000 test
   images score it. The input baseline is the same probe on the input spike counts.

The seed sets connectivity, every LFSR register (input spike trains, sleep noise, decay
rounding) and the readout's input trains; it does not change the image order.
"""

from __future__ import annotations

import io
import json
import numbers
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .readout import clustering_index, pca_lr_accuracy
from .sim.files import atomic_write_bytes, atomic_write_text
from .sim.limits import POPULATION, PROCESSES, RATIOS, SEED, SEEDS, IntRange, show_value
from .sim.recurrent import SynapseGroup
from .sim.recurrent_net import (
    NetConfig,
    evaluate_counts,
    init_network,
    run_sleep_episode,
    run_wake_block,
    sleep_budget,
    synapse_sums,
)

__all__ = [
    "MAX_SLEEP_RATIO",
    "TEST_IMAGES",
    "TRAIN_IMAGES",
    "RunResult",
    "StudyResult",
    "check_study_options",
    "resize_area",
    "run_one",
    "run_sleep_study",
    "untrained_accuracy",
]

#: Training images of the study: the first ``n`` of mnist5k's 4000 (``spikesmith.datasets``).
TRAIN_IMAGES = IntRange("train images", 1, 4000)
#: Test images of the study: the first ``n`` of mnist5k's 1000.
TEST_IMAGES = IntRange("test images", 1, 1000)
#: Largest sleep ratio (sleep steps per wake step).
MAX_SLEEP_RATIO = 100.0


def resize_area(images: np.ndarray, *, shape: tuple[int, int], size: int) -> np.ndarray:
    """Resize square ``uint8`` images by integer area averaging.

    The ``h × w`` image is zero-padded symmetrically (extra column/row at the end) to
    ``size * f`` with ``f = ceil(h / size)``, every ``f × f`` block is summed and the sum is
    divided by ``f**2`` rounding half up: ``(s + f**2 // 2) // f**2``. For 28 → 15 this pads
    one pixel each side and averages 2×2 blocks.

    Raises
    ------
    ValueError
        If the images do not have ``shape[0] * shape[1]`` features or ``size`` is larger than
        the image.
    """
    h, w = shape
    x = np.asarray(images)
    if x.ndim != 2 or x.shape[1] != h * w:
        raise ValueError(f"images must have shape (n, {h * w}), not {x.shape!r}")
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size must be in 1..{min(h, w)}, not {size!r}")
    f = -(-max(h, w) // size)
    full = size * f
    top, left = (full - h) // 2, (full - w) // 2
    pad = np.zeros((x.shape[0], full, full), dtype=np.int64)
    pad[:, top : top + h, left : left + w] = x.reshape(-1, h, w)
    s = pad.reshape(-1, size, f, size, f).sum(axis=(2, 4))
    return ((s + f * f // 2) // (f * f)).reshape(x.shape[0], size * size).astype(np.uint8)


@dataclass(frozen=True)
class RunResult:
    """Outcome of one ``(ratio, seed)`` run.

    Attributes
    ----------
    ratio, seed : float, int
        The run's sleep ratio and seed.
    accuracy, input_accuracy : float
        Test accuracy of the probe on excitatory counts and on input counts.
    phi : float
        Clustering index of the excitatory test counts.
    weight_sum_final : dict[str, int]
        ``sum |w|`` per synapse group at the end, weight LSBs.
    trace : tuple[tuple[int, int], ...]
        ``(images seen, total sum |w|)`` during training.
    sleep_steps : int
        Total steps slept.
    mean_exc_rate : float
        Mean excitatory spikes per neuron per test image.
    seconds, cpu_seconds : float
        Wall time and CPU time of the run's process.
    group_trace : tuple[tuple[int, tuple[int, ...]], ...]
        ``(images seen, sum |w| per group in SynapseGroup order)`` at the start and after every
        wake block and every sleep episode, weight LSBs.
    train_exc_rates : tuple[float, ...]
        Excitatory spikes per neuron per image during each wake block (plastic, no reset).
    episodes_stopped_early : int
        Sleep episodes that ended before their budget because the sums were back at baseline.
    """

    ratio: float
    seed: int
    accuracy: float
    input_accuracy: float
    phi: float
    weight_sum_final: dict[str, int]
    trace: tuple[tuple[int, int], ...]
    sleep_steps: int
    mean_exc_rate: float
    seconds: float
    cpu_seconds: float
    group_trace: tuple[tuple[int, tuple[int, ...]], ...] = ()
    train_exc_rates: tuple[float, ...] = ()
    episodes_stopped_early: int = 0


@dataclass(frozen=True)
class StudyResult:
    """All runs of a study and where its outputs were written."""

    runs: tuple[RunResult, ...]
    summary: dict
    out_dir: Path


def _data(n_train: int, image_size: int, n_test: int):
    from .datasets import load_dataset

    d = load_dataset("mnist5k")
    if (len(d.y_train), len(d.y_test)) != (TRAIN_IMAGES.hi, TEST_IMAGES.hi):
        raise RuntimeError(f"mnist5k has {len(d.y_train)} + {len(d.y_test)} images, not the "
                           f"{TRAIN_IMAGES.hi} + {TEST_IMAGES.hi} that TRAIN_IMAGES and "
                           "TEST_IMAGES accept")
    xtr = resize_area(d.x_train[:n_train], shape=d.shape, size=image_size)
    xte = resize_area(d.x_test[:n_test], shape=d.shape, size=image_size)
    return xtr, d.y_train[:n_train], xte, d.y_test[:n_test]


def check_study_options(*, ratios: tuple[float, ...], seeds: tuple[int, ...], n_train: int,
                        n_test: int | None, n_exc: int, n_inh: int, processes: int) -> None:
    """Validate the options of :func:`run_sleep_study` before any work or write.

    Raises
    ------
    ValueError
        Naming the first option out of range (``sim.limits`` records, :data:`TRAIN_IMAGES`,
        :data:`TEST_IMAGES`, ratios finite in ``0..MAX_SLEEP_RATIO``), what is accepted and the
        value given (shortened).
    """
    RATIOS.check(len(ratios))
    SEEDS.check(len(seeds))
    bad = [r for r in ratios if isinstance(r, bool) or not isinstance(r, numbers.Real)
           or not 0 <= r <= MAX_SLEEP_RATIO]
    if bad:
        raise ValueError(f"sleep ratios must be finite numbers in 0..{MAX_SLEEP_RATIO:g}, not "
                         f"{show_value(bad[0])}")
    for seed in seeds:
        SEED.check(seed)
    TRAIN_IMAGES.check(n_train)
    if n_test is not None:
        TEST_IMAGES.check(n_test)
    POPULATION.check(n_exc)
    POPULATION.check(n_inh)
    PROCESSES.check(processes)


def run_one(
    *,
    ratio: float,
    seed: int,
    cfg: NetConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    block_images: int = 300,
    trace_every: int = 50,
) -> RunResult:
    """Train, sleep and read out one network (module docstring, steps 2-3)."""
    import time

    t0, c0 = time.perf_counter(), time.process_time()
    cfg = replace(cfg, seed=seed)
    conn, state = init_network(cfg)
    n_exc = cfg.neuron.n_exc
    sums0 = synapse_sums(state.m, conn)
    trace = [(0, int(sums0.sum()))]
    group_trace = [(0, tuple(int(s) for s in sums0))]
    rates = []
    seen = 0
    slept = 0
    early = 0
    for lo in range(0, x_train.shape[0], block_images):
        block = x_train[lo : lo + block_images]
        state, rec = run_wake_block(state, block, conn=conn, cfg=cfg, sums_every=trace_every)
        trace += [(seen + (i + 1) * trace_every, int(s.sum())) for i, s in enumerate(rec.sums)]
        seen += block.shape[0]
        rates.append(float(rec.spikes[:, :n_exc].sum()) / (n_exc * block.shape[0]))
        group_trace.append((seen, tuple(int(s) for s in synapse_sums(state.m, conn))))
        if ratio > 0:
            budget = sleep_budget(cfg, ratio=ratio, wake_steps=rec.spikes.shape[0])
            state, srec = run_sleep_episode(state, conn=conn, cfg=cfg, budget=budget)
            slept += srec.steps
            early += int(srec.stopped_early)
            sums = synapse_sums(state.m, conn)
            trace.append((seen, int(sums.sum())))
            group_trace.append((seen, tuple(int(s) for s in sums)))
    c_tr, in_tr = evaluate_counts(state.m, x_train, cfg=cfg, seed=seed)
    c_te, in_te = evaluate_counts(state.m, x_test, cfg=cfg, seed=seed + 10_000)
    acc = pca_lr_accuracy(c_tr[:, :n_exc], y_train, c_te[:, :n_exc], y_test, seed=seed)
    in_acc = pca_lr_accuracy(in_tr, y_train, in_te, y_test, seed=seed)
    sums = synapse_sums(state.m, conn)
    return RunResult(
        ratio=ratio,
        seed=seed,
        accuracy=acc,
        input_accuracy=in_acc,
        phi=clustering_index(c_te[:, :n_exc], y_test),
        weight_sum_final={g.value: int(s) for g, s in zip(SynapseGroup, sums, strict=True)},
        trace=tuple(trace),
        sleep_steps=slept,
        mean_exc_rate=float(c_te[:, :n_exc].mean()),
        seconds=time.perf_counter() - t0,
        cpu_seconds=time.process_time() - c0,
        group_trace=tuple(group_trace),
        train_exc_rates=tuple(rates),
        episodes_stopped_early=early,
    )


def untrained_accuracy(
    *,
    seed: int,
    cfg: NetConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
) -> tuple[int, float, float]:
    """Return ``(seed, accuracy, E spikes per neuron per test image)`` of the initial network.

    The same readout as :func:`run_one` on the network before any training: the random
    projection baseline that training has to beat.
    """
    cfg = replace(cfg, seed=seed)
    _, state = init_network(cfg)
    n_exc = cfg.neuron.n_exc
    c_tr, _ = evaluate_counts(state.m, x_train, cfg=cfg, seed=seed)
    c_te, _ = evaluate_counts(state.m, x_test, cfg=cfg, seed=seed + 10_000)
    acc = pca_lr_accuracy(c_tr[:, :n_exc], y_train, c_te[:, :n_exc], y_test, seed=seed)
    return seed, acc, float(c_te[:, :n_exc].mean())


def _job(args: dict) -> RunResult | tuple[int, float, float]:
    # One BLAS thread per worker: the study already runs one process per core.
    from threadpoolctl import threadpool_limits

    args = dict(args)
    fn = untrained_accuracy if args.pop("untrained") else run_one
    with threadpool_limits(limits=1):
        return fn(**args)


def _save_png(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    atomic_write_bytes(path, buf.getvalue())


def _summarise(runs: list[RunResult], ratios, seeds, meta: dict) -> dict:
    results = {}
    for r in ratios:
        rs = sorted((x for x in runs if x.ratio == r), key=lambda x: x.seed)
        acc = np.array([x.accuracy for x in rs])
        results[str(r)] = {
            "accuracy_mean": float(acc.mean()),
            "accuracy_std": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
            "seeds": [x.seed for x in rs],
            "accuracy_per_seed": [x.accuracy for x in rs],
            "phi_mean": float(np.mean([x.phi for x in rs])),
            "weight_sum_final": float(np.mean([sum(x.weight_sum_final.values()) for x in rs])),
            "weight_sum_final_per_group": {
                g.value: float(np.mean([x.weight_sum_final[g.value] for x in rs]))
                for g in SynapseGroup
            },
            "sleep_steps_mean": float(np.mean([x.sleep_steps for x in rs])),
            "mean_exc_spikes_per_image": float(np.mean([x.mean_exc_rate for x in rs])),
            "train_exc_spikes_per_image_last_block": float(
                np.mean([x.train_exc_rates[-1] if x.train_exc_rates else 0.0 for x in rs])
            ),
            "episodes_stopped_early_mean": float(np.mean([x.episodes_stopped_early for x in rs])),
            "seconds_mean": float(np.mean([x.seconds for x in rs])),
            "cpu_seconds_mean": float(np.mean([x.cpu_seconds for x in rs])),
        }
    base = [x.input_accuracy for x in runs if x.ratio == ratios[0]]
    return {
        **meta,
        "weight_lsb": 2.0 ** -meta["weight_frac"],
        "results": results,
        "input_baseline_accuracy": float(np.mean(base)),
        "input_baseline_accuracy_std": float(np.std(base, ddof=1)) if len(base) > 1 else 0.0,
    }


def _plots(runs: list[RunResult], ratios, summary: dict, out_dir: Path, lsb: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    means = [summary["results"][str(r)]["accuracy_mean"] for r in ratios]
    stds = [summary["results"][str(r)]["accuracy_std"] for r in ratios]
    ax.errorbar(ratios, means, yerr=stds, marker="o", capsize=3, label="E spike counts")
    ax.axhline(summary["input_baseline_accuracy"], color="grey", ls="--", label="input counts")
    if "untrained_accuracy" in summary:
        ax.axhline(summary["untrained_accuracy"], color="grey", ls=":", label="untrained network")
    ax.set_xlabel("sleep ratio")
    ax.set_ylabel("test accuracy (PCA 95 % + LR)")
    ax.legend()
    fig.tight_layout()
    _save_png(fig, out_dir / "accuracy.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in ratios:
        for k, run in enumerate(x for x in runs if x.ratio == r):
            xs, ys = zip(*run.trace, strict=True)
            color = f"C{list(ratios).index(r)}"
            ax.plot(
                xs, np.array(ys) * lsb, color=color, alpha=0.8, label=str(r) if k == 0 else None
            )
    ax.set_xlabel("training images")
    ax.set_ylabel("Σ|w| (all groups)")
    ax.legend(title="sleep ratio")
    fig.tight_layout()
    _save_png(fig, out_dir / "weight_sum.png")
    plt.close(fig)


def run_sleep_study(
    *,
    ratios: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5),
    seeds: tuple[int, ...] = (0, 1, 2),
    n_train: int = 3000,
    n_test: int | None = None,
    n_exc: int = 200,
    n_inh: int = 50,
    image_size: int = 15,
    out_dir: str | os.PathLike,
    progress: bool = True,
    processes: int = 2,
    block_images: int = 300,
    cfg: NetConfig | None = None,
) -> StudyResult:
    """Run every ``(ratio, seed)`` and write ``summary.json``, ``accuracy.png``, ``weight_sum.png``.

    Parameters
    ----------
    ratios : tuple[float, ...]
        Sleep ratios (sleep steps per wake step), each in ``0..MAX_SLEEP_RATIO``; their number
        in ``sim.limits.RATIOS``.
    seeds : tuple[int, ...]
        Seeds (connectivity, spike trains, noise), each in ``sim.limits.SEED``; their number in
        ``sim.limits.SEEDS``.
    n_train : int
        Training images presented once, in :data:`TRAIN_IMAGES`; also the probe's training
        set.
    n_test : int or None
        Test images scored (the first ``n_test`` of the 1000, in :data:`TEST_IMAGES`;
        ``None``: all).
    n_exc, n_inh : int
        Population sizes.
    image_size : int
        Side of the resized images (inputs = ``image_size**2``).
    out_dir : path
        Output folder (created); files are written atomically.
    progress : bool
        Show a progress bar over runs.
    processes : int
        Worker processes (``1`` runs inline).
    block_images : int
        Images per wake interval between sleep episodes.
    cfg : NetConfig or None
        Base configuration; sizes above override its population sizes.

    Raises
    ------
    ValueError
        On an option out of range (:func:`check_study_options`), before anything is written.
    """
    ratios = tuple(ratios)
    seeds = tuple(int(s) if isinstance(s, np.integer) else s for s in seeds)
    check_study_options(ratios=ratios, seeds=seeds, n_train=n_train, n_test=n_test,
                        n_exc=n_exc, n_inh=n_inh, processes=processes)
    ratios = tuple(float(r) for r in ratios)
    n_test = TEST_IMAGES.hi if n_test is None else n_test
    base = cfg if cfg is not None else NetConfig()
    neuron = replace(base.neuron, n_input=image_size * image_size, n_exc=n_exc, n_inh=n_inh)
    base = replace(base, neuron=neuron)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    xtr, ytr, xte, yte = _data(n_train, image_size, n_test)
    data = dict(cfg=base, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    # Longest runs (largest ratio) first, the short untrained evaluations last.
    jobs = [
        dict(untrained=False, ratio=r, seed=s, block_images=block_images, **data)
        for r in sorted(ratios, reverse=True)
        for s in seeds
    ]
    jobs += [dict(untrained=True, seed=s, **data) for s in seeds]
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="sleep study", unit="run", disable=not progress)
    results: list = []
    if processes <= 1:
        for j in jobs:
            results.append(_job(j))
            bar.update()
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(processes) as pool:
            for res in pool.imap_unordered(_job, jobs):
                results.append(res)
                bar.update()
    bar.close()
    runs = [x for x in results if isinstance(x, RunResult)]
    untrained = sorted(x for x in results if not isinstance(x, RunResult))
    meta = {
        "dataset": "mnist5k",
        "n_train": n_train,
        "n_test": int(xte.shape[0]),
        "n_exc": n_exc,
        "n_inh": n_inh,
        "image_size": image_size,
        "block_images": block_images,
        "steps_per_image": base.steps_per_image,
        "stdp_polarity": base.stdp.polarity.value,
        "lambda": base.sleep.lam,
        "decay_period": base.sleep.decay_period,
        "weight_frac": base.neuron.weight_frac,
        "total_seconds_of_runs": float(sum(r.seconds for r in runs)),
        "total_cpu_seconds_of_runs": float(sum(r.cpu_seconds for r in runs)),
    }
    summary = _summarise(runs, ratios, seeds, meta)
    u_acc = np.array([a for _, a, _ in untrained])
    summary["untrained_accuracy"] = float(u_acc.mean())
    summary["untrained_accuracy_std"] = float(u_acc.std(ddof=1)) if u_acc.size > 1 else 0.0
    summary["untrained_accuracy_per_seed"] = [a for _, a, _ in untrained]
    summary["untrained_exc_spikes_per_image"] = float(np.mean([r for _, _, r in untrained]))
    summary["runs"] = [
        {
            "ratio": r.ratio,
            "seed": r.seed,
            "accuracy": r.accuracy,
            "input_accuracy": r.input_accuracy,
            "phi": r.phi,
            "sleep_steps": r.sleep_steps,
            "weight_sum_final": r.weight_sum_final,
            "seconds": r.seconds,
            "cpu_seconds": r.cpu_seconds,
            "mean_exc_spikes_per_image": r.mean_exc_rate,
            "train_exc_spikes_per_image": list(r.train_exc_rates),
            "episodes_stopped_early": r.episodes_stopped_early,
            "group_trace": [
                {"images": n, **{g.value: s for g, s in zip(SynapseGroup, sums, strict=True)}}
                for n, sums in r.group_trace
            ],
        }
        for r in sorted(runs, key=lambda r: (r.ratio, r.seed))
    ]
    text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
    atomic_write_text(out / "summary.json", text)
    _plots(runs, ratios, summary, out, summary["weight_lsb"])
    return StudyResult(tuple(runs), summary, out)
