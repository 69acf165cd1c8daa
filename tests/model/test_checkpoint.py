"""Checkpoints: round trip keeps hardware-exact outputs; every defect gives a clear error."""

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from spikesmith.model.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    read_checkpoint_extra,
    save_checkpoint,
)
from spikesmith.model.network import SpikingMLP
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode


def make_net():
    torch.manual_seed(0)
    net = SpikingMLP([6, 5, 3], weight_bits=5, membrane_bits=20, timesteps=4,
                     encoder=EncoderParams(Encoding.LATENCY, seed=7), model=NeuronModel.IF,
                     reset=ResetMode.ZERO, threshold=0.3, learnable_threshold=True, dropout=0.2)
    with torch.no_grad():
        net.layers[1].threshold.fill_(0.4321)
    return net


def write(path, tensors, config, *, fmt=FORMAT, extra="{}"):
    meta = {"format": fmt, "config": json.dumps(config), "extra": extra}
    path.write_bytes(st_save(tensors, metadata=meta))
    return path


def parts():
    net = make_net()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, net.config()


def test_round_trip_keeps_hardware_exact_outputs(tmp_path):
    net = make_net()
    path = save_checkpoint(tmp_path / "net.safetensors", net, extra={"accuracy": 0.5})
    loaded = load_checkpoint(path)
    assert not loaded.training
    assert loaded.config() == net.config()
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    images = np.random.default_rng(0).integers(0, 256, size=(9, 6)).astype(np.uint8)
    ta, tb = net.evaluate_hardware(images), loaded.evaluate_hardware(images)
    for a, b in zip(ta.spikes + ta.membranes, tb.spikes + tb.membranes, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(ta.predictions, tb.predictions)
    assert read_checkpoint_extra(path) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]


def test_equal_networks_save_to_equal_bytes(tmp_path):
    """safetensors orders its metadata from a hash map; the saved file must not vary with it."""
    net = make_net()
    files = {save_checkpoint(tmp_path / f"{i}.safetensors", net,
                             extra={"b": 1, "a": [2, 3], "é": "ü"}).read_bytes()
             for i in range(20)}
    assert len(files) == 1
    (data,) = files
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0
    header = json.loads(data[8:8 + n])
    assert list(header) == ["__metadata__", *sorted(
        (k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])]
    assert list(header["__metadata__"]) == ["config", "extra", "format"]
    assert read_checkpoint_extra(tmp_path / "0.safetensors") == {"a": [2, 3], "b": 1, "é": "ü"}


def test_save_rejects_extra_that_is_not_json(tmp_path):
    with pytest.raises(TypeError, match="extra must be JSON-serialisable"):
        save_checkpoint(tmp_path / "x.safetensors", make_net(), extra={"a": object()})
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint '.*nope.safetensors' does not exist "
                                              r"\(expected a .safetensors file"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a directory, expected a regular file"):
        load_checkpoint(tmp_path)


def test_not_a_safetensors_file(tmp_path):
    p = tmp_path / "a.safetensors"
    p.write_bytes(b"abc")
    with pytest.raises(CheckpointError, match="is not a safetensors file: 3 bytes, expected an "
                                              "8-byte header length first"):
        load_checkpoint(p)
    p.write_text("this is a text file, not tensors")
    with pytest.raises(CheckpointError, match="is not a safetensors file or is truncated: header "
                                              "length"):
        load_checkpoint(p)


def test_truncated_payload(tmp_path):
    p = save_checkpoint(tmp_path / "a.safetensors", make_net())
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="is corrupted or truncated: the safetensors "
                                              "payload does not match its header"):
        load_checkpoint(p)


def test_truncated_header(tmp_path):
    p = save_checkpoint(tmp_path / "a.safetensors", make_net())
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="is not a safetensors file or is truncated"):
        load_checkpoint(p)


def test_corrupted_header(tmp_path):
    p = save_checkpoint(tmp_path / "a.safetensors", make_net())
    data = bytearray(p.read_bytes())
    data[8:12] = b"\xff\xfe{!"
    p.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is corrupted: its safetensors header is not "
                                              "valid JSON"):
        load_checkpoint(p)


def test_wrong_format_tag(tmp_path):
    tensors, config = parts()
    p = write(tmp_path / "a.safetensors", tensors, config, fmt="other/9")
    with pytest.raises(CheckpointError, match="has format 'other/9' in its metadata, expected "
                                              "'spikesmith.SpikingMLP/1'"):
        load_checkpoint(p)
    p.write_bytes(st_save(tensors))
    with pytest.raises(CheckpointError, match="has format None in its metadata"):
        load_checkpoint(p)


def test_missing_metadata_entry(tmp_path):
    tensors, _ = parts()
    p = tmp_path / "a.safetensors"
    p.write_bytes(st_save(tensors, metadata={"format": FORMAT, "extra": "{}"}))
    with pytest.raises(CheckpointError, match="has no 'config' metadata entry"):
        load_checkpoint(p)


def test_config_not_json(tmp_path):
    tensors, _ = parts()
    p = tmp_path / "a.safetensors"
    p.write_bytes(st_save(tensors, metadata={"format": FORMAT, "config": "{sizes", "extra": ""}))
    with pytest.raises(CheckpointError, match="metadata 'config' is not valid JSON"):
        load_checkpoint(p)
    with pytest.raises(CheckpointError, match="metadata 'extra' is not valid JSON"):
        read_checkpoint_extra(p)


def test_missing_and_extra_tensors(tmp_path):
    tensors, config = parts()
    del tensors["layers.0.weight"]
    tensors["layers.9.bias"] = torch.zeros(3)
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match=r"tensors \['layers.0.weight'\] are missing and "
                                              r"\['layers.9.bias'\] unexpected; expected exactly"):
        load_checkpoint(p)


def test_wrong_shape_and_dtype(tmp_path):
    tensors, config = parts()
    tensors["layers.3.weight"] = torch.zeros(3, 4)
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match=r"tensor 'layers.3.weight' is torch.float32 of "
                                              r"shape \(3, 4\), expected torch.float32 of shape "
                                              r"\(3, 5\)"):
        load_checkpoint(p)
    tensors, config = parts()
    tensors["layers.1.threshold"] = tensors["layers.1.threshold"].double()
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match="tensor 'layers.1.threshold' is torch.float64"):
        load_checkpoint(p)


def test_non_finite_and_non_positive_values(tmp_path):
    tensors, config = parts()
    tensors["layers.0.weight"][0, 0] = float("nan")
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match="tensor 'layers.0.weight' has non-finite values"):
        load_checkpoint(p)
    tensors, config = parts()
    tensors["layers.1.threshold"].fill_(-1.0)
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match="tensor 'layers.1.threshold' must be a threshold "
                                              ">= 0.01, not -1.0"):
        load_checkpoint(p)


def test_unknown_and_missing_config_keys(tmp_path):
    tensors, config = parts()
    config["colour"] = "blue"
    del config["timesteps"]
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match=r"config has unknown keys \['colour'\] and lacks "
                                              r"keys \['timesteps'\]; expected exactly"):
        load_checkpoint(p)
    p = write(tmp_path / "a.safetensors", tensors, [1, 2])
    with pytest.raises(CheckpointError, match="config must be a JSON object, not list"):
        load_checkpoint(p)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("weight_bits", 1, "bad network config: weight bits must be an integer in 2..16, not 1"),
    ("weight_bits", 40, "bad network config: weight bits must be an integer in 2..16, not 40"),
    ("timesteps", 0, "config 'timesteps' must be an integer in 1..256, not 0"),
    ("timesteps", 1e9, "config 'timesteps' must be an integer in 1..256, not 1000000000.0"),
    ("sizes", [6], (r"config 'sizes' must be a list of 2..64 layer widths, each an integer in "
                    r"1..65536, with at most 16777216 weights per layer, not \[6\]")),
    ("sizes", [6, 1e9, 3], "config 'sizes' must be .*, found 1000000000.0$"),
    ("sizes", [6, 0, 3], "config 'sizes' must be .*, found 0$"),
    ("sizes", [6, 65536, 4096], ("layer 1 has 65536 inputs x 4096 neurons = 268435456 "
                                 "weights; raise it with SPIKESMITH_LIMITS=layer_weights=N$")),
    ("sizes", [6, 70000, 3], "found 70000; raise it with SPIKESMITH_LIMITS=layer_width=N$"),
    ("model", "hh", r"config 'model' must be one of \['if', 'lif'\], not 'hh'"),
    ("reset", 3, r"config 'reset' must be one of \['zero', 'subtract'\], not 3"),
    ("encoder", {"encoding": "rate"},
     "config 'encoder' must be an object with keys 'encoding' and 'seed'"),
    ("encoder", {"encoding": "pcm", "seed": 1},
     r"config 'encoder.encoding' must be one of \['rate', 'latency', 'direct'\], not 'pcm'"),
    ("encoder", {"encoding": "rate", "seed": 0},
     "bad network config: seed must be a non-zero 16-bit value, not 0"),
    ("surrogate", {"kind": "box", "sharpness": 1.0},
     "bad network config: surrogate kind must be one of"),
    ("leak_shift", 32, "bad network config: leak_shift must be an integer in 1..31, not 32"),
])
def test_bad_config_values(tmp_path, key, value, message):
    tensors, config = parts()
    config[key] = value
    p = write(tmp_path / "a.safetensors", tensors, config)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(p)


def test_extra_must_be_an_object(tmp_path):
    tensors, config = parts()
    p = write(tmp_path / "a.safetensors", tensors, config, extra="[1]")
    with pytest.raises(CheckpointError, match="metadata 'extra' must be a JSON object, not list"):
        read_checkpoint_extra(p)


def test_checkpoint_error_is_a_value_error():
    assert issubclass(CheckpointError, ValueError)
    assert struct.calcsize("<Q") == 8
