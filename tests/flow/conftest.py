"""Helpers shared by the run-folder tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def artefacts(run: Path) -> dict[str, bytes]:
    """Every artefact of a run folder by relative name, the wall-time fields of the stage
    records and the summary removed (the only fields allowed to differ between two runs with
    the same options); work space and caches (``.build`` ...) left out."""
    out = {}
    for p in sorted(run.rglob("*")):
        rel = p.relative_to(run)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        data = p.read_bytes()
        if rel.suffix == ".json" and len(rel.parts) == 1:
            obj = json.loads(data)
            if isinstance(obj, dict):
                obj.pop("timing", None)
            data = json.dumps(obj, sort_keys=True).encode()
        out[rel.as_posix()] = data
    return out


@pytest.fixture(name="artefacts")
def artefacts_fixture():
    """:func:`artefacts`, for tests."""
    return artefacts
