"""Documentation checks: the numeric contract's links point at real definitions."""

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_numerics_links_name_real_objects():
    text = (ROOT / "docs" / "numerics.md").read_text()
    links = re.findall(r"\[`(?:(\w+)/(\w+)\.py: )?(\w+)`\]\(\.\./(\w+)/(\w+)\.py\)", text)
    assert len(links) >= 12
    for _, _, name, folder, module in links:
        mod = importlib.import_module(f"spikesmith.{folder}.{module}")
        assert hasattr(mod, name), f"docs/numerics.md links {folder}/{module}.py: {name}"
        assert name in mod.__all__


def test_architecture_names_real_files():
    """Every path docs/architecture.md names exists (``<core>`` is a pattern, not a path).

    A path may be relative to a layer's folder (``passes/``, ``config.py``).
    """
    text = (ROOT / "docs" / "architecture.md").read_text()
    paths = {p for p in re.findall(r"`([\w/]+(?:\.py|/))`", text) if "<" not in p}
    assert len(paths) >= 20
    folders = ("spikesmith", "model", "compiler", "sim", "hw", "tests", "docs")
    known = {f"{q.relative_to(ROOT).as_posix()}/" if q.is_dir() else q.relative_to(ROOT).as_posix()
             for f in folders for q in [ROOT / f, *(ROOT / f).rglob("*")]
             if "__pycache__" not in q.parts}
    for path in paths:
        assert any(k == path or k.endswith("/" + path) for k in known), (
            f"docs/architecture.md names {path}, which does not exist")
