"""The conv RTL bench shares its layer cases and golden trace with the Amaranth benches
(``tests/hw/conv_cases.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hw"))
