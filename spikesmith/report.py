"""The human-readable report of a run folder: Markdown plus PNG plots.

Built from a summary of the current stage records (``spikesmith.summary``) and a spike raster
handed in by the caller; writes ``report.md``, ``raster.png``, ``accuracy.png`` and
``resources.png`` into a folder (the report stage's staging folder). The report names the
records it was built from and says plainly which stages are not current for this network.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from .sim.files import atomic_write_bytes, atomic_write_text
from .summary import not_current

__all__ = ["PROVENANCE_TAG", "TARGETS", "plot_accuracy", "plot_feature_maps", "plot_raster",
           "plot_resources", "write_report"]

#: Synthesis targets in report order.
TARGETS = ("ice40", "ecp5", "xc7")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> str:
    buf = io.BytesIO()
    # A fixed creation date keeps reruns byte-identical.
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    _figure().close(fig)
    atomic_write_bytes(out / name, buf.getvalue())
    return name


def plot_raster(out: Path, layers: list[np.ndarray], *, names: list[str],
                title: str) -> str:
    """Plot one sample's spikes: ``layers[i]`` is ``(T, n_i)``, stacked bottom to top."""
    plt = _figure()
    fig, axes = plt.subplots(len(layers), 1, figsize=(7, 1.2 + 1.6 * len(layers)),
                             sharex=True, squeeze=False)
    for ax, spikes, name in zip(axes[::-1, 0], layers, names, strict=True):
        t, n = np.nonzero(np.asarray(spikes))
        ax.scatter(t, n, s=4, marker="|", color="black")
        ax.set_ylabel(f"{name}\nneuron")
        ax.set_ylim(-1, spikes.shape[1])
    axes[-1, 0].set_xlabel("timestep")
    axes[0, 0].set_title(title)
    return _save(fig, out, "raster.png")


def plot_feature_maps(out: Path, counts: np.ndarray, *, title: str) -> str:
    """Plot one sample's spike counts per position of a ``(C, H, W)`` feature map, a panel per
    channel (at most 16)."""
    plt = _figure()
    channels = min(16, counts.shape[0])
    cols = min(channels, 8)
    rows = -(-channels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.4 * rows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < channels:
            ax.imshow(counts[k], cmap="viridis", vmin=0, vmax=max(1, int(counts.max())))
            ax.set_title(f"ch {k}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, out, "feature_maps.png")


def plot_accuracy(out: Path, accuracy: dict[str, float]) -> str:
    """Bar chart of accuracy per evaluation (float, quantised, hardware)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3))
    names = list(accuracy)
    values = [100 * accuracy[k] for k in names]
    bars = ax.bar(names, values, color=["#888", "#46a", "#a64"][: len(names)])
    ax.bar_label(bars, fmt="%.2f")
    ax.set_ylim(max(0.0, min(values) - 10), 100)
    ax.set_ylabel("test accuracy (%)")
    return _save(fig, out, "accuracy.png")


def _fit_lines(s: dict[str, Any]) -> list[str]:
    """Return one line per target: whether the network fits its part and what decided it."""
    basis = s.get("fit_basis", {})
    return [
        f"\n- {t}: {'fits' if ok else 'does not fit'} its part"
        + (f" (decided by {basis[t]})" if t in basis else "")
        for t, ok in s.get("fits", {}).items()
    ]


def plot_resources(out: Path, resources: dict[str, dict[str, int]]) -> str:
    """Grouped bars of LUT, FF, BRAM, DSP per target (log scale)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3))
    kinds = ("lut", "ff", "bram", "dsp")
    targets = [t for t in TARGETS if t in resources]
    x = np.arange(len(kinds))
    width = 0.8 / max(1, len(targets))
    for i, target in enumerate(targets):
        vals = [max(resources[target].get(k, 0), 0) for k in kinds]
        bars = ax.bar(x + i * width, [max(v, 0.5) for v in vals], width, label=target)
        ax.bar_label(bars, labels=[str(v) for v in vals], fontsize=7)
    ax.set_xticks(x + width * (len(targets) - 1) / 2, kinds)
    ax.set_yscale("log")
    ax.legend()
    ax.set_ylabel("cells")
    return _save(fig, out, "resources.png")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _quantization_lines(q: dict[str, Any]) -> list[str]:
    """Markdown table of the export stage's per-layer weight quantisation record."""
    level = q.get("zeroed_warn_share")
    lines = ["## Weight quantisation (per layer)", "",
             "| layer | weights | nonzero weights quantised to 0 | share | clipped | scale |",
             "|---|---|---|---|---|---|"]
    for name, st in q.get("layers", {}).items():
        share = st["zeroed_share"]
        flag = " **above warning level**" if level is not None and share > level else ""
        lines.append(f"| {name} | {st['weights']} | {st['zeroed']} | {100 * share:.2f} %{flag} "
                     f"| {st['clipped']} | {st['scale']:.4g} |")
    if level is not None:
        lines += ["", (f"Warning level: more than {100 * level:.0f} % of a layer's weights "
                      "quantised to 0 (`spikesmith.flow.ZEROED_WARN_SHARE`).")]
    return [*lines, ""]


#: Start of the HTML comment in ``report.md`` that holds, as JSON, the full digests of the
#: records the report was built from (``spikesmith.runfolder.RunFolder.problems`` reads it).
PROVENANCE_TAG = "<!-- spikesmith-records"

#: What the report says is missing when a stage's record is not current.
_MISSING = {
    "train": "training figures (float and quantised accuracy)",
    "export": "the exported IR and Verilog",
    "verify": "not verified: no bit-exact comparison of the RTL with the golden model",
    "estimate": "not estimated: no resources or Fmax",
}


def _status_lines(s: dict[str, Any]) -> list[str]:
    """What the report holds and what it does not, stage by stage."""
    records = s.get("records", {})
    lines = ["## Provenance", "",
             ("Every figure below comes from these current stage records (SHA-256, first 16 hex "
             "digits):"), ""]
    lines += [f"- {stage}: `{digest[:16]}`" for stage, digest in records.items()]
    missing = {k: v for k, v in not_current(s).items() if k in _MISSING}
    if missing:
        lines += ["", "**Not held for this network:**", ""]
        lines += [f"- {stage}: {_MISSING[stage]}; {why}" for stage, why in missing.items()]
    return [*lines, ""]


def _size(v: Any) -> str:
    """A layer size as the report writes it: ``8x4x4`` for a map, ``128`` for a vector."""
    return "x".join(map(str, v)) if isinstance(v, list) else str(v)


def _layer_lines(layers: list[dict[str, Any]], rates: list[float] | None) -> list[str]:
    """Markdown table of the export stage's layers, with their spike rates and, per core, its
    analytic cycles per sample alone (verify stage) and analytic LUT / FF / BRAM / DSP per
    target (estimate stage)."""
    targets = [t for t in TARGETS
               if any(t in ly.get("analytic_resources", {}) for ly in layers)]
    head = "".join(f" | {t} LUT / FF / BRAM / DSP" for t in targets)
    lines = ["## Layers", "",
             ("| # | kind | in | out | weight bits | acc bits | core (lanes) "
              f"| spikes / neuron / step | cycles / sample (alone){head} |"),
             "|---|---|---|---|---|---|---|---|---|" + "---|" * len(targets)]
    for k, ly in enumerate(layers):
        core = f"{ly['core']} ({ly['lanes']})" if "core" in ly else "-"
        rate = f"{rates[k]:.4f}" if rates is not None and k < len(rates) else "-"
        cycles = ly.get("analytic_cycles_per_sample")
        cells = [f"{cycles:.0f}" if isinstance(cycles, int | float) else "-"]
        for t in targets:
            r = ly.get("analytic_resources", {}).get(t)
            cells.append("-" if r is None else f"{r['lut']} / {r['ff']} / {r['bram']} / "
                         f"{r['dsp']}")
        lines.append(f"| {k} | {ly['kind']} | {_size(ly['in'])} | {_size(ly['out'])} | "
                     f"{ly.get('weight_bits', '-')} | {ly.get('acc_bits', '-')} | {core} | "
                     f"{rate} | " + " | ".join(cells) + " |")
    if targets or any("analytic_cycles_per_sample" in ly for ly in layers):
        lines += ["", ("Per core: cycles per sample of the core alone (input always valid, "
                       "output always ready; cycle model of `hw.conv.cycles` / "
                       "`hw.lif.estimate`, mean of the first 100 verified samples) and its "
                       "analytic resources (`hw.conv.resources`, `hw.lif.estimate`); a pooling "
                       "runs inside the conv core before it.")]
    return [*lines, ""]


def write_report(out: Path, s: dict[str, Any], *, raster: list[np.ndarray] | None = None,
                 raster_names: list[str] | None = None, layer_rates: list[float] | None = None,
                 feature_map: np.ndarray | None = None) -> str:
    """Write ``report.md`` (and its plots) into folder ``out`` from summary ``s`` (built by
    ``spikesmith.summary.build_summary``); return the file name.

    ``layer_rates`` are the golden model's spikes per neuron per timestep of each layer (the
    rows of ``s["layers"]``); ``feature_map`` is one sample's spike counts ``(C, H, W)`` of the
    first convolution, drawn as ``feature_maps.png``."""
    lines = [f"# spikesmith run: {s.get('dataset', '?')}", "", *_status_lines(s),
             f"{PROVENANCE_TAG} {json.dumps(s.get('records', {}), sort_keys=True)} -->", ""]
    images = []
    acc = s.get("accuracy", {})
    if "loss" in s:
        rule = s.get("output_rule", "max_count")
        lines += [f"Training loss: `{s['loss']}`; output rule: `{rule}`.", ""]
    if acc:
        lines += ["## Accuracy (test split)", "", "| evaluation | accuracy |", "|---|---|"]
        lines += [f"| {k} | {100 * v:.2f} % |" for k, v in acc.items()]
        lines.append("")
        images.append(("accuracy", plot_accuracy(out, acc)))
    ver = s.get("verify", {})
    if ver:
        lines += ["## Bit-exact verification (RTL in Verilator vs golden model)", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in sorted(ver.items())]
        lines.append("")
    if s.get("layers"):
        lines += _layer_lines(s["layers"], layer_rates)
    if s.get("quantization"):
        lines += _quantization_lines(s["quantization"])
    res = s.get("resources", {})
    if res:
        lines += ["## Resources (Yosys, whole network) and Fmax (nextpnr)", "",
                  ("| target | LUT | LUT analytic (error) | FF | BRAM | DSP | Fmax network (MHz) "
                  "| Fmax LIF core (MHz) |"),
                  "|---|---|---|---|---|---|---|---|"]
        fmax = s.get("fmax_mhz", {})
        fmax_core = s.get("fmax_core_mhz", {})
        analytic = s.get("analytic", {})
        error = s.get("error", {})
        for t in TARGETS:
            if t in res:
                r = res[t]
                a = analytic.get(t, {}).get("lut", "-")
                e = error.get(t, {}).get("lut")
                a_txt = f"{a} ({100 * e:+.0f} %)" if isinstance(e, float) else str(a)
                f_txt = _fmt(fmax.get(t, "-"))
                fa, fe = s.get("fmax_analytic_mhz", {}).get(t), s.get("fmax_error", {}).get(t)
                if isinstance(fa, int | float) and isinstance(fe, int | float):
                    f_txt += f" (analytic {fa:.4g}, {100 * fe:+.0f} %)"
                lines.append(f"| {t} | {r.get('lut')} | {a_txt} | {r.get('ff')} | "
                             f"{r.get('bram')} | {r.get('dsp')} | {f_txt} | "
                             f"{_fmt(fmax_core.get(t, '-'))} |")
        lines += _fit_lines(s)
        for t, f in s.get("fmax_seeds_mhz", {}).items():
            if len(f["by_seed"]) > 1:
                lines.append(f"\n- {t}: network Fmax over nextpnr seeds "
                             f"{', '.join(f['by_seed'])}: min {_fmt(f['min'])} MHz, "
                             f"median {_fmt(f['median'])} MHz")
        for t, note in s.get("fmax_notes", {}).items():
            lines.append(f"\n- {t}: {note}")
        lines.append("")
        images.append(("resources", plot_resources(out, res)))
    other = {k: v for k, v in s.items()
             if k not in ("accuracy", "verify", "resources", "fmax_mhz", "fmax_core_mhz",
                          "analytic", "error", "fmax_notes", "fmax_analytic_mhz",
                          "fmax_error", "dataset", "quantization", "stages", "records",
                          "timing", "layers", "fits", "fit_basis", "fmax_seeds_mhz", "loss",
                          "output_rule")}
    if other:
        lines += ["## Figures", ""]
        flat: list[tuple[str, Any]] = []

        def walk(prefix: str, obj: Any) -> None:
            if isinstance(obj, dict):
                for k, v in obj.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                flat.append((prefix, obj))

        walk("", other)
        lines += [f"- `{k}`: {_fmt(v)}" for k, v in sorted(flat)]
        lines.append("")
    if feature_map is not None:
        images.append(("feature maps", plot_feature_maps(
            out, feature_map, title="first convolution: spike counts of test sample 0")))
    if raster is not None:
        names = raster_names or [f"layer {i}" for i in range(len(raster))]
        images.append(("raster", plot_raster(out, raster, names=names,
                                             title="spike raster of test sample 0")))
    if images:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({path})" for name, path in images]
        lines.append("")
    atomic_write_text(out / "report.md", "\n".join(lines))
    return "report.md"
