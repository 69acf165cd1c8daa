"""The train -> export -> verify -> estimate -> report flow over a run folder.

Each stage is a function of a :class:`~spikeforge.runfolder.RunFolder` and keyword options.
It reads what earlier stages wrote, writes its own artefacts atomically, merges its key figures
into ``summary.json`` and records its inputs, so a stage whose inputs have not changed is
skipped on a re-run (``force=True`` re-runs it). Seeds are explicit, so re-running a stage with
the same inputs gives byte-identical outputs.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .datasets import DATASETS, Dataset, load_dataset
from .runfolder import RunFolder, RunFolderError

__all__ = [
    "DemoOptions",
    "FlowError",
    "check_options",
    "run_demo",
    "stage_estimate",
    "stage_export",
    "stage_report",
    "stage_train",
    "stage_verify",
]

CHECKPOINT = "checkpoint.safetensors"
IR_FILE = "network.ir"
HW_DIR = "hw"


class FlowError(ValueError):
    """A flow option or a run folder's content is not acceptable."""


@dataclass(frozen=True)
class DemoOptions:
    """Everything the train stage needs; recorded in ``config.json``.

    ``None`` fields take the dataset's recipe default (``model.recipes``).
    """

    dataset: str = "digits"
    weight_bits: int | None = None
    membrane_bits: int | None = None
    timesteps: int | None = None
    epochs: int | None = None
    hidden: int | None = None
    seed: int = 0


def check_options(opts: DemoOptions) -> None:
    """Validate options before anything is written.

    Raises
    ------
    FlowError
        Naming the option at fault and what is accepted.
    """
    from .sim.quant import MAX_WEIGHT_BITS, MIN_WEIGHT_BITS

    if opts.dataset not in DATASETS:
        raise FlowError(
            f"unknown dataset {opts.dataset!r}: accepted datasets are {', '.join(DATASETS)} "
            "(both ship inside pip packages, no download needed)"
        )
    if opts.weight_bits is not None and not MIN_WEIGHT_BITS <= opts.weight_bits <= MAX_WEIGHT_BITS:
        raise FlowError(
            f"weight bits must be in {MIN_WEIGHT_BITS}..{MAX_WEIGHT_BITS}, "
            f"not {opts.weight_bits}"
        )
    if opts.membrane_bits is not None and not 4 <= opts.membrane_bits <= 32:
        raise FlowError(f"membrane bits must be in 4..32, not {opts.membrane_bits}")
    if opts.timesteps is not None and not 1 <= opts.timesteps <= 256:
        raise FlowError(f"timesteps must be in 1..256, not {opts.timesteps}")
    if opts.epochs is not None and opts.epochs < 1:
        raise FlowError(f"epochs must be >= 1, not {opts.epochs}")
    if opts.hidden is not None and not 1 <= opts.hidden <= 4096:
        raise FlowError(f"hidden width must be in 1..4096, not {opts.hidden}")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_digest(run: RunFolder, *names: str) -> str:
    h = hashlib.sha256()
    for name in names:
        p = run.file(name)
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _up_to_date(run: RunFolder, stage: str, inputs: dict[str, Any]) -> bool:
    marker = run.file(f".{stage}.done")
    return marker.exists() and marker.read_text().strip() == _digest(inputs)


def _mark_done(run: RunFolder, stage: str, inputs: dict[str, Any]) -> None:
    from .runfolder import atomic_write_text

    atomic_write_text(run.file(f".{stage}.done"), _digest(inputs) + "\n")


def _dataset(run: RunFolder) -> Dataset:
    cfg = run.read_json(RunFolder.CONFIG)
    return load_dataset(cfg["dataset"], seed=0)
