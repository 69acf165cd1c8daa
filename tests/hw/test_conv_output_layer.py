"""A network whose output layer is a convolution is refused, with a paragraph, at export
(``spikesmith.hardware.generate_hardware``: a ``CompilerError``, exit status 2 on the command
line) and by the conv verification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikesmith.compiler.errors import CompilerError
from spikesmith.compiler.irfile import load_ir
from spikesmith.compiler.lowering import to_hardware_config, to_network_params
from spikesmith.hardware import generate_hardware
from spikesmith.hw.conv.generate import GeneratedConvDesign
from spikesmith.verification.conv import verify_conv_network

GOLDEN = Path(__file__).parents[1] / "compiler" / "golden" / "small_conv_lowered.ir"


def conv_output_ir(tmp_path: Path) -> Path:
    """The golden small conv network cut after its second conv layer (a 3x2x2 map, 12
    outputs): its output layer is a conv."""
    lines = GOLDEN.read_text().splitlines()
    keep = lines[:lines.index(next(ln for ln in lines if ln.startswith("layers.5 =")))]
    path = tmp_path / "conv_output.ir"
    output = "output = OUTPUT(layers.4) u4.0:floor:saturate rule=max_count"
    path.write_text("\n".join([*keep, output, "outputs output", ""]))
    return path


def test_export_refuses_a_conv_output_layer(tmp_path):
    graph = load_ir(conv_output_ir(tmp_path))
    with pytest.raises(CompilerError, match=r"the output layer 'layers_3' is a convolution "
                       r"with a \(3, 2, 2\) output map; the conv core is not an output core"):
        generate_hardware(graph, tmp_path / "hw")
    assert not (tmp_path / "hw").exists()


def test_verification_refuses_a_conv_output_layer(tmp_path):
    graph = load_ir(conv_output_ir(tmp_path))
    config = to_hardware_config(graph)
    design = GeneratedConvDesign(config=config, verilog=tmp_path / "none.v", top="top",
                                 ports={}, readbacks=())
    with pytest.raises(ValueError, match="End the network with a Flatten and a dense"):
        verify_conv_network(design=design, params=to_network_params(graph),
                            images=np.zeros((1, 36), np.uint8), membrane_samples=0,
                            build_dir=tmp_path)
