"""Golden files: the compiler's text output for the tiny fixed network, compared exactly.

Regenerate on purpose with ``SPIKESMITH_REGEN_GOLDEN=1 pytest tests/compiler/test_golden.py``
(the tests then report themselves skipped, naming each file written); review with ``git diff``.
"""

import os
from pathlib import Path

import pytest

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import parse, render
from spikesmith.sim.encoders import Encoding

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("SPIKESMITH_REGEN_GOLDEN") == "1"


def _compare(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text)
        pytest.skip(f"regenerated {path}")
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with SPIKESMITH_REGEN_GOLDEN=1")
    expected = path.read_text()
    assert text == expected
    assert render(parse(expected)) == expected


@pytest.mark.parametrize("encoding", [Encoding.DIRECT, Encoding.RATE])
def test_frontend_output_matches_golden(tiny_net, encoding):
    _compare(f"tiny_{encoding.value}_frontend.ir", render(from_torch(tiny_net(encoding))))


@pytest.mark.parametrize("encoding", [Encoding.DIRECT, Encoding.RATE])
def test_lowered_output_matches_golden(tiny_net, encoding):
    _compare(f"tiny_{encoding.value}_lowered.ir",
             render(lower(from_torch(tiny_net(encoding)), lanes=2)))


def test_lowered_conv_graph_matches_golden(conv_graph):
    # CONV with bias and padding, POOL, CONV without bias, DENSE: every line form of the text.
    _compare("small_conv_lowered.ir", render(lower(conv_graph(), lanes=2)))
