"""The run folder: one directory per flow run holding every artefact and ``summary.json``.

Layout (each stage writes only its own entries, atomically)::

    <run>/config.json          what the run was asked to do (dataset, widths, seeds, ...)
    <run>/checkpoint.safetensors   trained float weights (train)
    <run>/train.json           per-epoch history (train)
    <run>/network.ir           the lowered integer IR, text form (export)
    <run>/hw/                  generated Verilog, RTLIL and manifest (export)
    <run>/verify.json          the bit-exact comparison (verify)
    <run>/estimate.json        resources, Fmax, cycles (estimate)
    <run>/report.md, *.png     the human-readable report (report)
    <run>/summary.json         merged key figures of all stages

Every file is written to a temporary name in the same folder and renamed into place, so an
interrupted or failed stage never leaves a half-written file behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .sim.files import atomic_write_text, read_input_bytes

__all__ = ["RunFolder", "RunFolderError"]


class RunFolderError(ValueError):
    """A run folder is missing what a stage needs, or holds something malformed."""


def _deep_merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _deep_merge(into[k], v)
        else:
            into[k] = v


class RunFolder:
    """A run folder on disk.

    Parameters
    ----------
    path : Path
        The folder; created on first write.
    """

    SUMMARY = "summary.json"
    CONFIG = "config.json"

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)

    @property
    def path(self) -> Path:
        """The folder."""
        return self._path

    def file(self, name: str) -> Path:
        """Return the path of an artefact (it may not exist yet)."""
        return self._path / name

    def require(self, name: str, *, stage: str) -> Path:
        """Return the path of an artefact that an earlier stage must have written.

        Raises
        ------
        RunFolderError
            If it is missing, naming the stage that produces it.
        """
        p = self.file(name)
        if not p.exists():
            raise RunFolderError(
                f"{p} is missing: run `spikesmith {stage} --run {self._path}` first"
            )
        return p

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as pretty JSON (sorted keys, so reruns are byte-identical)."""
        p = self.file(name)
        atomic_write_text(p, json.dumps(obj, indent=2, sort_keys=True) + "\n")
        return p

    def read_json(self, name: str) -> Any:
        """Read a JSON artefact, with a clear error if it is malformed.

        Raises
        ------
        RunFolderError
            If it is missing, not a regular file, larger than ``sim.limits.INPUT_FILE_BYTES``
            (checked before reading), not UTF-8 or not valid JSON.
        """
        p = self.file(name)
        try:
            return json.loads(read_input_bytes(p).decode("utf-8"))
        except FileNotFoundError:
            raise RunFolderError(f"{p} is missing") from None
        except UnicodeDecodeError as exc:
            raise RunFolderError(f"{p} is not UTF-8 text (byte {exc.start}); expected "
                                 "JSON") from None
        except json.JSONDecodeError as exc:
            raise RunFolderError(f"{p} is not valid JSON: {exc}") from None
        except ValueError as exc:
            raise RunFolderError(f"{p} {exc} holding JSON") from None

    def summary(self) -> dict[str, Any]:
        """Return the summary (empty if none yet)."""
        return self.read_json(self.SUMMARY) if self.file(self.SUMMARY).exists() else {}

    def update_summary(self, entries: dict[str, Any]) -> dict[str, Any]:
        """Deep-merge ``entries`` into ``summary.json`` and return the result.

        The summary is nested JSON: the key written ``accuracy.float`` in the documentation is
        ``summary["accuracy"]["float"]``.
        """
        s = self.summary()
        _deep_merge(s, entries)
        self.write_json(self.SUMMARY, s)
        return s
