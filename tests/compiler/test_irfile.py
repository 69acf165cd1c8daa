"""IR files: atomic writes, and damaged files rejected with the file, line and reason."""

import os

import pytest

from spikesmith.compiler.frontend.torch import from_torch
from spikesmith.compiler.ir import Graph, structurally_equal
from spikesmith.compiler.irfile import IRFileError, load_ir, save_ir
from spikesmith.compiler.pipeline import lower
from spikesmith.compiler.render import render
from spikesmith.compiler.verify import IRError
from spikesmith.sim.limits import INPUT_FILE_BYTES


def test_save_then_load_gives_the_same_graph(tmp_path, tiny_net):
    g = lower(from_torch(tiny_net()), lanes=2)
    path = save_ir(tmp_path / "net.ir", g)
    assert path.read_text() == render(g)
    assert structurally_equal(load_ir(path), g)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.ir"]


def test_invalid_graph_is_not_written(tmp_path, int_graph):
    path = tmp_path / "net.ir"
    path.write_text("old\n")
    g = int_graph()
    with pytest.raises(IRError):
        save_ir(path, Graph(nodes=g.nodes, outputs=()))
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.ir"]


@pytest.fixture
def saved(tmp_path, int_graph):
    return save_ir(tmp_path / "net.ir", lower(int_graph(), lanes=1))


def test_wrong_header_is_reported(saved):
    saved.write_text(saved.read_text().replace("spikesmith-ir 1", "{\"json\": true}"))
    with pytest.raises(IRFileError, match=r"net.ir: line 1: expected the header "
                                          r"'spikesmith-ir 1', found '\{\"json\": true\}'$"):
        load_ir(saved)


def test_bad_number_is_reported(saved):
    saved.write_text(saved.read_text().replace("  3 -2 1", "  3 -2 one"))
    with pytest.raises(IRFileError, match=r"net.ir: line 4: expected column 3: a decimal "
                                          r"integer without leading zeros or '\+' in .*, "
                                          r"found 'one'"):
        load_ir(saved)


def test_truncated_file_is_reported(saved):
    text = saved.read_text()
    saved.write_text(text[:text.index("  0 5 -4")])
    with pytest.raises(IRFileError, match=r"net.ir: line 5: expected weight row 2 of 2: .* "
                                          r"found 'end of text'$"):
        load_ir(saved)


def test_non_utf8_file_is_reported(saved):
    saved.write_bytes(b"\xff\xfe" + saved.read_bytes())
    with pytest.raises(IRFileError, match=r"net.ir: not UTF-8 text \(byte 0\); expected a "
                                          r"spikesmith IR file"):
        load_ir(saved)


def test_rule_violation_in_a_file_is_reported(saved):
    saved.write_text(saved.read_text().replace("threshold=4", "threshold=400"))
    with pytest.raises(IRFileError, match=r"net.ir: IR verification failed with 1 problem\(s\):"
                                          r"\n  - node 'layers.1' \(LIF\): threshold must be an "
                                          r"integer in 1..127"):
        load_ir(saved)


def test_directory_is_refused(tmp_path):
    (tmp_path / "net.ir").mkdir()
    with pytest.raises(IRFileError, match=r"net.ir: is a directory, expected a regular file "
                                          r"\(a spikesmith IR file\)$"):
        load_ir(tmp_path / "net.ir")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_link_to_a_device_is_refused_without_reading(tmp_path):
    (tmp_path / "net.ir").symlink_to("/dev/zero")
    with pytest.raises(IRFileError, match=r"net.ir: is a device, pipe or socket, expected a "
                                          r"regular file"):
        load_ir(tmp_path / "net.ir")


def test_file_over_the_size_limit_is_refused(saved):
    with saved.open("ab") as f:
        f.truncate(INPUT_FILE_BYTES.hi + 1)
    with pytest.raises(IRFileError, match=r"net.ir: is larger than 67108864 bytes \(64 MiB\), "
                                          r"the accepted file size in bytes \(an integer in "
                                          r"0..67108864\)"):
        load_ir(saved)


def test_garbage_is_quoted_as_a_short_excerpt(saved):
    saved.write_bytes(bytes(range(11, 127)) * 140 + b"\n")
    with pytest.raises(IRFileError) as info:
        load_ir(saved)
    assert len(str(info.value)) < 250 + len(str(saved))
    assert str(info.value).endswith("... (16240 characters)")
