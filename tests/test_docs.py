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
