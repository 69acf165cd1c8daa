"""``spikesmith verify --trace``: the FST waveform of the first mismatching sample (or of
``--trace-sample N``) lands in the run folder and the mismatch message names it (issue 12,
item 8)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from spikesmith.cli import main
from spikesmith.hw.common.verilator_harness import waveforms_available

_NO_WAVEFORMS = waveforms_available()
pytestmark = [pytest.mark.rtl,
              pytest.mark.skipif(_NO_WAVEFORMS is not None, reason=str(_NO_WAVEFORMS))]

#: First block of an FST file: type FST_BL_HDR (0), then its 64-bit length (329).
_FST_HEAD = bytes([0]) + (329).to_bytes(8, "big")


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _inverted(m: re.Match) -> str:
    """A weight word with every bit inverted: the RTL then disagrees with the golden model."""
    word = int(m.group(3), 16) ^ ((1 << int(m.group(2))) - 1)
    return f"{m.group(1)}{word:0{len(m.group(3))}x};"


def test_trace_of_the_first_mismatch_is_named_in_the_message(exported):
    vfile = next((exported / "hw").glob("*.v"))
    vfile.write_text(re.sub(r"(weights\[\d+\] = (\d+)'h)([0-9a-f]+);", _inverted,
                            vfile.read_text()))
    res = _invoke("verify", "--run", exported, "--samples", 20, "--membrane-samples", 2,
                  "--trace")
    assert res.exit_code == 1, res.output
    report = json.loads((exported / "verify.json").read_text())["result"]
    assert report["mismatches"] > 0
    sample = re.match(r"sample (\d+),", report["first"]).group(1)
    assert report["waveform"] == f"verify_trace/sample{sample}.fst"
    wave = exported / report["waveform"]
    assert f"MISMATCH: {report['mismatches']} mismatches" in res.output
    assert f"waveform: {wave}" in res.output
    assert wave.read_bytes()[:9] == _FST_HEAD
    assert [p.name for p in (exported / "verify_trace").iterdir()] == [wave.name]


def test_chosen_sample_is_traced_and_out_of_range_is_refused(exported):
    res = _invoke("verify", "--run", exported, "--samples", 20, "--membrane-samples", 2,
                  "--trace-sample", 7)
    assert res.exit_code == 0, res.output
    wave = exported / "verify_trace" / "sample7.fst"
    assert f"waveform: {wave}" in res.output
    assert wave.read_bytes()[:9] == _FST_HEAD
    res = _invoke("verify", "--run", exported, "--samples", 20, "--membrane-samples", 2,
                  "--trace-sample", 20)
    assert res.exit_code == 2
    assert "trace sample must be in 0..19, not 20" in res.output
