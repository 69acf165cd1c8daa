"""The layering contracts of ``[tool.importlinter]`` in pyproject.toml hold (DESIGN.md §1).

import-linter finds a package's modules by walking its folder, but ``spikesmith.sim`` and its
siblings live in their own top-level folders, mapped into the namespace by
``[tool.setuptools.package-dir]``. The test therefore lays the sources out as an installed
wheel would (``sim/`` as ``spikesmith/sim/``, ...) in a temporary folder and runs
``lint-imports`` there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"


def _installed_layout(dest: Path) -> Path:
    """Copy every mapped package folder to its import path under ``dest``; return ``dest``."""
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    for package in config["packages"]:
        top = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len)
        source = ROOT / mapping[top] / Path(*package[len(top):].split(".")[1:])
        target = dest / Path(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in source.glob("*.py"):
            shutil.copy2(module, target / module.name)
    return dest


def test_import_contracts_are_kept(tmp_path):
    layout = _installed_layout(tmp_path / "layout")
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(layout)}
    run = subprocess.run([str(lint), str(PYPROJECT), "--no-cache"], cwd=layout, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_layout_holds_every_source_module(tmp_path):
    """Every module of a mapped folder is linted (and listed in ``packages``, so it ships)."""
    layout = _installed_layout(tmp_path / "layout")
    mapping = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        for module in (ROOT / folder).rglob("*.py"):
            if "__pycache__" not in module.parts:
                relative = module.relative_to(ROOT / folder)
                assert (layout / Path(*package.split(".")) / relative).exists(), module
