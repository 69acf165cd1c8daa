"""The design manifest: round trip, deterministic bytes, and a clear error naming the field for
every malformed or hostile ``design.json``."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from spikesmith.hw.lif.generate import MANIFEST_NAME, generate, load_design
from spikesmith.hw.lif.manifest import (
    MAX_CORES,
    MAX_MANIFEST_BYTES,
    CoreRecord,
    DesignManifest,
    ManifestError,
)
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.network import DenseLayer, NetworkParams
from spikesmith.verification.lif import network_config_for


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    rng = np.random.default_rng(0)
    lif = LIFParams(threshold=20, model=NeuronModel.LIF, leak_shift=2,
                    reset=ResetMode.SUBTRACT, membrane=FixedFormat(10))
    params = NetworkParams(
        layers=(DenseLayer(rng.integers(-7, 8, (5, 6)), weight_bits=4, lif=lif),
                DenseLayer(rng.integers(-7, 8, (3, 5)), weight_bits=4, lif=lif)),
        timesteps=3, encoder=EncoderParams(encoding=Encoding.DIRECT))
    return generate(network_config_for(params, lanes=2), tmp_path_factory.mktemp("d"))


def test_manifest_round_trips_with_deterministic_bytes(design, tmp_path):
    m = design.manifest
    assert DesignManifest.load(design.out_dir / MANIFEST_NAME) == m
    assert (design.out_dir / MANIFEST_NAME).read_text() == m.to_json()
    m.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == (design.out_dir / MANIFEST_NAME).read_bytes()
    assert list(json.loads(m.to_json())) == ["top", "timesteps", "ports", "cores"]
    assert DesignManifest.from_dict(m.to_dict()) == m
    core = m.cores[0]
    assert (core.input_bits, core.groups, core.lif.threshold) == (8, 3, 20)
    assert m.port("i__payload").width == 3 + 8 + 2  # index, value, eot, last


def _set(path, value):
    def edit(d):
        *outer, last = path
        for key in outer:
            d = d[key]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value
    return edit


_DELETE = object()


@pytest.mark.parametrize(("edit", "message"), [
    (_set(["cores", 0, "lanes"], _DELETE), r"cores\[0\]\.lanes: is missing"),
    (_set(["cores", 0, "lanes"], 3), r"cores\[0\]\.lanes: must be a power of two in .*, not 3"),
    (_set(["cores", 0, "lanes"], "2"), r"cores\[0\]\.lanes: must be .*, not '2'"),
    (_set(["cores", 1, "n_out"], True), r"cores\[1\]\.n_out: must be an integer"),
    (_set(["cores", 1, "groups"], 1), r"cores\[1\]\.groups: must be ceil\(n_out / lanes\) = 2"),
    (_set(["cores", 0, "groups"], 3.0), r"cores\[0\]\.groups: must be an integer"),
    (_set(["cores", 0, "input_bits"], 4), r"cores\[0\]\.input_bits: must be one of \[1, 8\]"),
    (_set(["cores", 0, "model"], "relu"), r"cores\[0\]\.model: must be one of \['if', 'lif'\]"),
    (_set(["cores", 0, "threshold"], 4000), r"cores\[0\]: threshold must be .* in 1\.\.511"),
    (_set(["cores", 0, "leak_shift"], None), r"cores\[0\]\.leak_shift: must be an integer, not"),
    (_set(["cores", 0, "name"], "x; rm -rf /"), r"cores\[0\]\.name: must be an identifier"),
    (_set(["cores", 1, "n_in"], 4), r"cores\[1\]\.n_in: must be 5"),
    (_set(["cores", 0, "extra"], 1), r"'extra': is not a field"),
    (_set(["cores"], []), r"cores: must be a list of 1\.\.256 entries, not 0 entries"),
    (_set(["cores"], "fc0"), r"cores: must be a list"),
    (_set(["ports"], {}), r"ports: must be a list"),
    (_set(["ports", 0, "dir"], "inout"), r"ports\[0\]\.dir: must be one of \['in', 'out'\]"),
    (_set(["ports", 0, "width"], 1 << 40), r"ports\[0\]\.width: must be an integer in "),
    (_set(["ports", 0, "width"], 7), r"ports\[i__payload\]: must be input of 13 bits"),
    (_set(["ports", 1, "name"], "i__payload"), r"ports\[1\]\.name: must be unique"),
    (_set(["top"], "../../etc/passwd"), r"top: must be an identifier"),
    (_set(["top"], "a" * 1000), r"top: must be an identifier of at most 128"),
    (_set(["timesteps"], 1.5), r"timesteps: must be an integer in 1\.\.256, not 1\.5"),
    (_set(["timesteps"], _DELETE), r"timesteps: is missing"),
])
def test_malformed_manifest_names_the_field(design, tmp_path, edit, message):
    data = copy.deepcopy(design.manifest.to_dict())
    edit(data)
    path = tmp_path / MANIFEST_NAME
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=message) as info:
        DesignManifest.load(path)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_port_and_too_many_cores_are_refused(design):
    data = design.manifest.to_dict()
    data["ports"] = [p for p in data["ports"] if p["name"] != "o__payload"]
    with pytest.raises(ManifestError, match=r"ports: must include 'o__payload'"):
        DesignManifest.from_dict(data)
    data = design.manifest.to_dict()
    data["cores"] = data["cores"] * (MAX_CORES + 1)
    with pytest.raises(ManifestError, match=rf"cores: must be a list of 1\.\.{MAX_CORES}"):
        DesignManifest.from_dict(data)


@pytest.mark.parametrize(("content", "message"), [
    (b"{", r"must be UTF-8 JSON"),
    (b"\xff\xfe{}", r"must be UTF-8 JSON"),
    (b"[1, 2]", r"must be an object with keys \['top', 'timesteps', 'ports', 'cores'\]"),
    (b'{"top": "a", "top": "b"}', r"'top': must appear once in its object"),
    (b"[" * 100_000 + b"]" * 100_000, r"must be UTF-8 JSON"),
    (b'{"timesteps": ' + b"9" * 10_000 + b"}", r"must be UTF-8 JSON"),
    (b" " * (MAX_MANIFEST_BYTES + 1), rf"is larger than {MAX_MANIFEST_BYTES} bytes"),
])
def test_hostile_file_is_refused_with_a_value_error(tmp_path, content, message):
    path = tmp_path / MANIFEST_NAME
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=message):
        DesignManifest.load(path)


def test_load_design_refuses_a_malformed_manifest(design, tmp_path):
    data = design.manifest.to_dict()
    data["cores"][0]["membrane_bits"] = 64
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"cores\[0\]\.membrane_bits: must be an integer in "
                                            r"2\.\.32, not 64"):
        load_design(tmp_path)


def test_records_validate_when_built_directly(design):
    core = design.manifest.cores[0]
    fields = {k: getattr(core, k) for k in core.__dataclass_fields__}
    with pytest.raises(ManifestError, match=r"^model: must be a NeuronModel, not 'lif'"):
        CoreRecord(**{**fields, "model": "lif"})
    with pytest.raises(ManifestError, match=r"^cores: must be a tuple"):
        DesignManifest(top="t", timesteps=1, ports=design.manifest.ports,
                       cores=list(design.manifest.cores))
