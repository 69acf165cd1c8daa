"""Stage records: what each stage of a run folder did, tied to the bytes it read and wrote.

A stage that completes writes ``<run>/<stage>.json``::

    {"format": "spikesmith-record/1", "stage": "export",
     "options":  {"lanes": 8},                               what the stage was asked to do
     "inputs":   {"checkpoint.safetensors": "<sha256>"},     files it read, by content hash
     "upstream": {"train": "<digest>"},                      records of the stages it builds on
     "outputs":  {"network.ir": "<sha256>", "hw/...": "..."},  files it wrote, by content hash
     "result":   {...},                                      its figures
     "summary":  {...},                                      its entries of summary.json
     "timing":   {"seconds": 12.3}}                          wall time (the only varying field)

A record is *current* when its outputs exist and hash as recorded, its inputs still hash as
recorded, and every stage it depends on (``DEPENDS``) is current with the record digest it
recorded, or has no record at all (``None``: its inputs came from outside the flow, e.g. a
checkpoint trained elsewhere).
Only current records count: the summary and the report are built from them alone, so a
result whose inputs changed, or whose upstream stage re-ran, is never shown as current.
The digest of a record is the SHA-256 of its canonical JSON without ``timing``, so a rerun
with the same options and inputs reproduces it exactly.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .sim.files import read_input_bytes

__all__ = [
    "DEPENDS",
    "FORMAT",
    "OUTPUTS",
    "STAGES",
    "Chain",
    "Record",
    "RecordError",
    "StageState",
    "downstream",
    "hash_paths",
    "load_record",
    "record_file",
]

#: Format tag of a stage record.
FORMAT = "spikesmith-record/1"
#: Stages of the flow in order.
STAGES = ("train", "export", "verify", "estimate", "report")
#: The stages whose records a stage builds on.
DEPENDS: dict[str, tuple[str, ...]] = {
    "train": (),
    "export": ("train",),
    "verify": ("train", "export"),
    "estimate": ("export",),
    "report": ("train", "export", "verify", "estimate"),
}
#: What each stage writes into the run folder (a name may be a folder). Every other stage
#: treats these as read-only; a stage's outputs are replaced only when it commits.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "train": ("checkpoint.safetensors", "config.json"),
    "export": ("hw", "network.ir", "network.nir"),
    "verify": ("verify_trace",),
    "estimate": (),
    "report": ("accuracy.png", "feature_maps.png", "raster.png", "report.md", "resources.png"),
}
#: Why a stage that never ran (or whose record was removed) is not current.
NO_RECORD = "no record yet"
_KEYS = ("format", "stage", "options", "inputs", "upstream", "outputs", "result", "summary",
         "timing")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class RecordError(ValueError):
    """A stage record is malformed."""


def record_file(stage: str) -> str:
    """Return the run-folder name of ``stage``'s record (``"<stage>.json"``)."""
    return f"{stage}.json"


def downstream(stage: str) -> tuple[str, ...]:
    """Return every stage that depends on ``stage``, directly or not, in flow order."""
    found: set[str] = set()
    for s in STAGES:
        if stage in DEPENDS[s] or found.intersection(DEPENDS[s]):
            found.add(s)
    return tuple(s for s in STAGES if s in found)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def hash_paths(root: Path, names: Iterable[str]) -> dict[str, str]:
    """Return ``{relative posix path: sha256}`` of the regular files named by ``names``.

    A name that is a folder stands for every regular file below it; names and files starting
    with ``.`` (temporary files, caches) are left out; a missing name contributes nothing.
    """
    out: dict[str, str] = {}
    for name in names:
        p = root / name
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            rel = f.relative_to(root)
            if f.is_file() and not any(part.startswith(".") for part in rel.parts):
                out[rel.as_posix()] = _file_sha256(f)
    return dict(sorted(out.items()))


def top_names(files: Iterable[str]) -> tuple[str, ...]:
    """Return the distinct first path components of ``files`` (``hw/a.v`` -> ``hw``)."""
    return tuple(sorted({PurePosixPath(f).parts[0] for f in files}))


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True)
class Record:
    """One stage's record (see the module docstring for each field)."""

    stage: str
    options: dict[str, Any]
    inputs: dict[str, str]
    upstream: dict[str, str | None]
    outputs: dict[str, str]
    result: dict[str, Any]
    summary: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON object (keys in ``_KEYS`` order)."""
        return {"format": FORMAT, "stage": self.stage, "options": self.options,
                "inputs": self.inputs, "upstream": self.upstream, "outputs": self.outputs,
                "result": self.result, "summary": self.summary, "timing": self.timing}

    def text(self) -> str:
        """Return the record file's text: indented JSON with sorted keys, newline-terminated."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True, allow_nan=False) + "\n"

    def digest(self) -> str:
        """Return the SHA-256 of the record without ``timing`` (stable across reruns)."""
        body = self.to_json()
        del body["timing"]
        return hashlib.sha256(_canonical(body)).hexdigest()


def _check_hashes(name: str, obj: Any, *, nullable: bool = False) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RecordError(f"'{name}' must be an object")
    for k, v in obj.items():
        bad_path = not isinstance(k, str) or k.startswith("/") or ".." in k.split("/")
        good_hash = isinstance(v, str) and _SHA256.fullmatch(v) is not None
        if bad_path or not (good_hash or (v is None and nullable)):
            raise RecordError(f"'{name}' must map relative names to SHA-256 hex digests")
    return obj


def parse_record(obj: Any, *, stage: str) -> Record:
    """Validate a decoded record of ``stage``.

    Raises
    ------
    RecordError
        Naming the first field that is missing or of the wrong type.
    """
    if not isinstance(obj, dict) or set(obj) != set(_KEYS):
        raise RecordError(f"a record is an object with exactly the keys {', '.join(_KEYS)}")
    if obj["format"] != FORMAT or obj["stage"] != stage:
        raise RecordError(f"'format' must be {FORMAT!r} and 'stage' {stage!r}")
    for key in ("options", "result", "summary", "timing"):
        if not isinstance(obj[key], dict):
            raise RecordError(f"'{key}' must be an object")
    upstream = _check_hashes("upstream", obj["upstream"], nullable=True)
    if set(upstream) != set(DEPENDS[stage]):
        raise RecordError(f"'upstream' must name exactly {', '.join(DEPENDS[stage]) or 'none'}")
    return Record(stage=stage, options=obj["options"],
                  inputs=_check_hashes("inputs", obj["inputs"]), upstream=upstream,
                  outputs=_check_hashes("outputs", obj["outputs"]), result=obj["result"],
                  summary=obj["summary"], timing=obj["timing"])


def load_record(root: Path, stage: str) -> Record | None:
    """Return ``stage``'s record in run folder ``root``, or ``None`` if there is none.

    Raises
    ------
    RecordError
        If the file is not a bounded regular file holding a valid record.
    """
    path = root / record_file(stage)
    if not path.exists() and not path.is_symlink():
        return None
    try:
        obj = json.loads(read_input_bytes(path).decode("utf-8"))
    except (ValueError, OSError) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise RecordError(f"{path.name}: {str(exc)[:160]}") from None
    try:
        return parse_record(obj, stage=stage)
    except RecordError as exc:
        raise RecordError(f"{path.name}: {exc}") from None


@dataclass(frozen=True)
class StageState:
    """Where one stage stands: its record (if readable) and why it is not current."""

    stage: str
    record: Record | None
    stale: str | None

    @property
    def current(self) -> bool:
        """The record exists and is current."""
        return self.record is not None and self.stale is None


class Chain:
    """The states of every stage of a run folder, evaluated in flow order.

    Parameters
    ----------
    root : Path
        The run folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.states: dict[str, StageState] = {}
        for stage in STAGES:
            self.states[stage] = self._evaluate(stage)

    def digest(self, stage: str) -> str | None:
        """Return the digest of ``stage``'s record if it is current, else ``None``."""
        st = self.states[stage]
        return st.record.digest() if st.current else None

    def upstream(self, stage: str) -> dict[str, str | None]:
        """Return what a record of ``stage`` written now must hold as ``upstream``."""
        return {d: self.digest(d) for d in DEPENDS[stage]}

    def current(self) -> dict[str, Record]:
        """Return the current records, in flow order."""
        return {s: st.record for s, st in self.states.items() if st.current and st.record}

    def _evaluate(self, stage: str) -> StageState:
        try:
            rec = load_record(self.root, stage)
        except RecordError as exc:
            return StageState(stage, None, f"its record is malformed ({exc})")
        if rec is None:
            return StageState(stage, None, NO_RECORD)
        return StageState(stage, rec, self._stale(rec))

    def _stale(self, rec: Record) -> str | None:
        changed = _difference(rec.outputs, hash_paths(self.root, OUTPUTS[rec.stage]))
        if changed:
            return f"its output {changed}"
        changed = _difference(rec.inputs, hash_paths(self.root, top_names(rec.inputs)))
        if changed:
            return f"its input {changed} since it ran"
        for dep, digest in rec.upstream.items():
            dep_state = self.states[dep]
            if not dep_state.current and dep_state.stale != NO_RECORD:
                return f"stage {dep} is not current ({dep_state.stale})"
            if self.digest(dep) != digest:
                return f"stage {dep} changed since it ran"
        return None


def _difference(recorded: dict[str, str], now: dict[str, str]) -> str | None:
    """Name the first file that differs between two ``hash_paths`` results, or ``None``."""
    for name in sorted(set(recorded) | set(now)):
        if name not in now:
            return f"{name} is missing"
        if name not in recorded:
            return f"{name} appeared"
        if now[name] != recorded[name]:
            return f"{name} was modified"
    return None
