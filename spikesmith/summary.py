"""``summary.json``: the key figures of a run folder, built from its current stage records only.

The summary is never edited in place: it is rebuilt from the records that are current
(``spikesmith.records.Chain``) each time a stage commits or a command opens the folder. Each
current record contributes its ``summary`` entries, in flow order; ``stages`` says for every
stage whether it is current and, if not, why; ``records`` holds the digest of each current
record (the provenance of every figure); ``timing`` the wall time of each stage (the only
field that differs between two runs with the same inputs). Figures that combine two stages
(latency = cycles / Fmax) appear only when both are current.
"""

from __future__ import annotations

import copy
from typing import Any

from .records import Chain

__all__ = ["build_summary", "deep_merge", "not_current"]


def deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    """Merge ``new`` into ``into``, recursing into nested objects and into lists of objects of
    the same length, element by element (the per-layer records that several stages add to)."""
    for k, v in new.items():
        old = into.get(k)
        if isinstance(v, dict) and isinstance(old, dict):
            deep_merge(old, v)
        elif _object_lists(old, v):
            for a, b in zip(old, v, strict=True):
                deep_merge(a, b)
        else:
            into[k] = v


def _object_lists(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are lists of objects of the same length."""
    return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
            and all(isinstance(x, dict) for x in (*a, *b)))


def not_current(summary: dict[str, Any]) -> dict[str, str]:
    """Return ``{stage: why}`` for the stages whose results the summary does not hold."""
    return {s: why for s, why in summary.get("stages", {}).items() if why != "current"}


def _latency(summary: dict[str, Any]) -> dict[str, float]:
    cps = summary.get("cycles_per_sample")
    fmax = summary.get("fmax_mhz", {})
    return {t: cps / f for t, f in fmax.items() if f} if cps else {}


def build_summary(chain: Chain) -> dict[str, Any]:
    """Return the summary of the current records of ``chain``.

    The summary is nested JSON: the key written ``accuracy.float`` in the documentation is
    ``summary["accuracy"]["float"]``.
    """
    out: dict[str, Any] = {}
    current = chain.current()
    for record in current.values():
        deep_merge(out, copy.deepcopy(record.summary))
    latency = _latency(out) if {"verify", "estimate"} <= set(current) else {}
    if latency:
        out["latency_us"] = latency
    out["stages"] = {s: "current" if st.current else st.stale
                     for s, st in chain.states.items()}
    out["records"] = {s: r.digest() for s, r in current.items()}
    out["timing"] = {s: r.timing.get("seconds") for s, r in current.items()}
    return out
