"""The run folder: one directory per flow run holding every artefact, with stages as transactions.

Layout (``spikesmith.records.OUTPUTS`` lists what each stage writes)::

    <run>/config.json, checkpoint.safetensors   train: what was asked, trained weights
    <run>/network.ir, hw/                        export: integer IR, Verilog, RTLIL, manifest
    <run>/verify_trace/                          verify --trace: FST waveform
    <run>/report.md, *.png                       report
    <run>/<stage>.json                           each stage's record (``spikesmith.records``)
    <run>/summary.json                           built from the current records only
    <run>/.staging/, .trash/, .build/            work space and caches

A stage is a transaction (:meth:`RunFolder.commit`): it writes its outputs into
``.staging/<stage>/``, then, in this order, the summary is removed, the records and outputs of
the stages that depend on it are removed (outputs before records), its own record is removed,
its outputs are renamed into place, its new record is written (the commit point) and the
summary is rebuilt. A kill at any instant therefore leaves only records whose outputs either
hash as recorded or do not (then the record is not current and claims nothing), and either no
summary or one that equals the current records. The next command on the folder removes what a
killed one left (:meth:`RunFolder.recover`).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .records import DEPENDS, OUTPUTS, STAGES, Chain, Record, downstream, record_file
from .sim.files import atomic_write_text, read_input_bytes
from .summary import build_summary

__all__ = ["RunFolder", "RunFolderError"]

_STAGING = ".staging"
_TRASH = ".trash"


class RunFolderError(ValueError):
    """A run folder is missing what a stage needs, or holds something malformed."""


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
        """Write ``obj`` as pretty JSON (sorted keys, so reruns are byte-identical), atomically.

        For the folders of the learning flows; the train -> report flow writes only through
        stage records (:meth:`commit`).
        """
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

    # --- the current state -------------------------------------------------------------

    def chain(self) -> Chain:
        """Return the state of every stage's record."""
        return Chain(self._path)

    def summary(self) -> dict[str, Any]:
        """Return the summary built from the current records (what ``summary.json`` holds)."""
        return build_summary(self.chain())

    def write_summary(self) -> dict[str, Any]:
        """Rebuild ``summary.json`` from the current records; return it."""
        s = self.summary()
        text = json.dumps(s, indent=2, sort_keys=True) + "\n"
        p = self.file(self.SUMMARY)
        if not p.is_file() or p.read_text(errors="replace") != text:
            self._discard(p)  # whatever stands there (a folder, a link) is replaced
            atomic_write_text(p, text)
        return s

    def problems(self) -> list[str]:
        """Return every way the folder states something it does not hold (empty if none).

        Checked: every record file is readable; ``summary.json``, if present, equals the
        summary of the current records; ``report.md``, if present, was built from exactly the
        records that are current now. Records that are not current are allowed: they claim
        nothing. Work space left by a killed command (``.staging``, ``.trash``) is allowed
        too; the next command removes it.
        """
        from .report import PROVENANCE_TAG

        chain, out = self.chain(), []
        out += [f"{s}: {st.stale}" for s, st in chain.states.items()
                if st.record is None and st.stale and "malformed" in st.stale]
        summary = self.file(self.SUMMARY)
        if summary.exists() and self.read_json(self.SUMMARY) != build_summary(chain):
            out.append("summary.json differs from the summary of the current records")
        report = self.file("report.md")
        if report.exists() and not chain.states["report"].current:
            text = report.read_text(errors="replace")
            line = next((ln for ln in text.splitlines() if ln.startswith(PROVENANCE_TAG)), "")
            built_from = json.loads(line[len(PROVENANCE_TAG):].rstrip(" ->") or "null")
            current = {s: d for s in DEPENDS["report"] if (d := chain.digest(s))}
            if built_from != current:
                out.append("report.md was built from records that are not current")
        return out

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def locked(self, *, create: bool = False) -> Iterator[RunFolder]:
        """Hold the folder's lock while inside (one command at a time), after recovering.

        The lock is an ``flock`` on the folder itself, so it writes nothing and a killed
        holder releases it. With ``create`` a missing folder is made, and removed again if
        the command fails before anything was committed into it.

        Raises
        ------
        RunFolderError
            If the folder is missing (and not ``create``), or another command holds the lock.
        """
        created = create and not self._path.exists()
        if created:
            self._path.mkdir(parents=True)
        elif not self._path.is_dir():
            raise RunFolderError(f"there is no run folder at {self._path}: run `spikesmith "
                                 f"train --run {self._path}` (or `demo`) first")
        fd = os.open(self._path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunFolderError(f"another spikesmith command is working in {self._path}; "
                                     "wait for it to finish") from None
            self.recover()
            try:
                yield self
            except BaseException:
                self._clean_work()
                if created and not any(self.file(record_file(s)).exists() for s in STAGES):
                    shutil.rmtree(self._path, ignore_errors=True)
                raise
        finally:
            os.close(fd)

    def recover(self) -> None:
        """Remove what an interrupted stage left (staging, trash, temporary files) and
        rebuild the summary from the current records (if there are any)."""
        self._clean_work()
        for tmp in self._temporaries():
            tmp.unlink(missing_ok=True)
        if self.file(self.SUMMARY).exists() or any(
                self.file(record_file(s)).exists() for s in STAGES):
            self.write_summary()

    def _clean_work(self) -> None:
        for name in (_STAGING, _TRASH):
            shutil.rmtree(self.file(name), ignore_errors=True)

    def _temporaries(self) -> list[Path]:
        """Files named like ``sim.files.atomic_write_bytes``'s temporaries, outside caches."""
        found = []
        for name in (".", *{n for names in OUTPUTS.values() for n in names}):
            folder = self.file(name)
            if folder.is_dir():
                found += [p for p in folder.rglob(".*.tmp") if _TRASH not in p.parts
                          and ".build" not in p.parts]
        return found

    def staging(self, stage: str) -> Path:
        """Return an empty staging folder for ``stage``'s outputs (same relative names)."""
        folder = self.file(_STAGING) / stage
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def commit(self, record: Record, staged: Path) -> None:
        """Make ``record`` and the outputs staged in ``staged`` the stage's current state.

        The steps and why a kill between any two of them is safe are in the module docstring.
        When the new record equals the old one (a rerun that reproduced every byte, or
        restored outputs that had been deleted), the stages that depend on it keep their
        records.
        """
        old = self.chain().states[record.stage].record
        unchanged = old is not None and old.digest() == record.digest()
        self._discard(self.file(self.SUMMARY))
        if not unchanged:
            for stage in reversed(downstream(record.stage)):
                self._remove_stage(stage)
        self._discard(self.file(record_file(record.stage)))
        trash = self.file(_TRASH)
        for name in OUTPUTS[record.stage]:
            self._replace(staged / name, self.file(name), trash)
        atomic_write_text(self.file(record_file(record.stage)), record.text())
        self.write_summary()
        self._clean_work()

    def _remove_stage(self, stage: str) -> None:
        """Remove ``stage``'s outputs, then its record."""
        for name in OUTPUTS[stage]:
            self._discard(self.file(name))
        self._discard(self.file(record_file(stage)))

    def _discard(self, path: Path) -> None:
        """Remove a file, link or folder of the run (a folder via ``.trash``, so a kill never
        leaves it half-deleted under its own name)."""
        if path.is_dir() and not path.is_symlink():
            trash = self.file(_TRASH)
            trash.mkdir(exist_ok=True)
            target = trash / f"{path.name}.{os.getpid()}"
            os.replace(path, target)
            shutil.rmtree(target, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def _replace(self, new: Path, dest: Path, trash: Path) -> None:
        """Put ``new`` (file, folder or nothing) at ``dest``, moving an old folder aside."""
        if dest.is_dir() and not dest.is_symlink():
            trash.mkdir(exist_ok=True)
            os.replace(dest, trash / dest.name)
        elif not new.exists():
            dest.unlink(missing_ok=True)
        if new.exists():
            os.replace(new, dest)
