"""A stage of the run-folder flow as a transaction, and the one line it prints.

:func:`run_stage` is how every stage runs (``spikesmith.flow`` and any new stage): it decides
from the stage's record (``spikesmith.records``) whether the stage must run and why, lets the
stage's body write into a staging folder, and commits the outputs and the new record through
``RunFolder.commit``. :func:`open_run` locks a run folder for a command.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .records import OUTPUTS, Record, StageState, hash_paths
from .runfolder import RunFolder

__all__ = ["Entries", "open_run", "run_stage", "say"]

#: What a stage body returns: the record's ``result`` and ``summary`` entries.
Entries = tuple[dict[str, Any], dict[str, Any]]


def say(line: str) -> None:
    """Print one progress line of the flow (``[spikesmith] ...``) on stdout."""
    print(f"[spikesmith] {line}", flush=True)


def _why_run(state: StageState, options: dict[str, Any], force: bool) -> str | None:
    """Return why the stage must run, or ``None`` if its record is current for ``options``."""
    if force:
        return "--force"
    if state.stale is not None:
        return state.stale
    assert state.record is not None
    if state.record.options != options:
        changed = sorted(k for k in {*options, *state.record.options}
                         if options.get(k) != state.record.options.get(k))
        return f"options changed: {', '.join(changed)}"
    return None


def run_stage(run: RunFolder, stage: str, *, options: dict[str, Any], inputs: tuple[str, ...],
               body: Callable[[Path], Entries], force: bool) -> Record:
    """Run ``stage`` as a transaction unless its record is current for ``options``; print one
    line saying what it did or why it skipped; return its (new or current) record.

    ``body(staging)`` does the work, writes the stage's outputs (``records.OUTPUTS``) under
    ``staging`` with their run-folder names, and returns the record's entries. The record
    holds the content hashes of ``inputs`` taken before the work and of the outputs as staged.
    """
    options = json.loads(json.dumps(options))
    chain = run.chain()
    state = chain.states[stage]
    why = _why_run(state, options, force)
    if why is None:
        assert state.record is not None
        say(f"{stage}: up to date, skipped (record {state.record.digest()[:12]}; its inputs "
             "and outputs hash as recorded)")
        return state.record
    hashed_inputs = hash_paths(run.path, inputs)
    staged = run.staging(stage)
    t0 = time.perf_counter()
    result, summary = body(staged)
    record = Record(stage=stage, options=options, inputs=hashed_inputs,
                    upstream=chain.upstream(stage), outputs=hash_paths(staged, OUTPUTS[stage]),
                    result=result, summary=summary,
                    timing={"seconds": round(time.perf_counter() - t0, 2)})
    run.commit(record, staged)
    say(f"{stage}: ran ({why}) in {record.timing['seconds']:.1f} s, record "
         f"{record.digest()[:12]}")
    return record


@contextmanager
def open_run(run_dir: Any, *, create: bool = False) -> Iterator[RunFolder]:
    """Lock the run folder (recovering what a killed command left) while inside; ``create``
    it if missing (``RunFolder.locked``)."""
    run = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
    with run.locked(create=create):
        yield run


