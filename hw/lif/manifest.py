"""The design manifest: what generation hands to verification, typed and validated.

:func:`spikesmith.hw.lif.generate.generate` writes a :class:`DesignManifest` beside the Verilog
(``design.json``): the top module's name, the timesteps per sample, every port of the top
(flattened Amaranth names as in the Verilog, e.g. ``i__payload``, with direction and width) and
every layer core's parameters. The Verilator harness and the comparison read it back with
:meth:`DesignManifest.load`, which checks every field (type, range, size, consistency with the
stream layouts of :mod:`spikesmith.hw.common.streams`) before anything uses it, so a malformed
or hostile ``design.json`` is refused with a :class:`ManifestError` that names the field.

The JSON text is a pure function of the manifest (:meth:`DesignManifest.to_json`): keys in a
fixed order, two-space indent, one trailing newline.
"""

from __future__ import annotations

import enum
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikesmith.sim.files import atomic_write_text, read_input_bytes
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, NeuronModel, ResetMode
from spikesmith.sim.limits import LANES, MEMBRANE_BITS, TIMESTEPS, WEIGHT_BITS, IntRange

from ..common.streams import current_event_layout, membrane_readback_layout, spike_event_layout

__all__ = [
    "MAX_MANIFEST_BYTES",
    "CoreRecord",
    "DesignManifest",
    "ManifestError",
    "PortDirection",
    "PortRecord",
]

#: Largest ``design.json`` that :meth:`DesignManifest.load` reads, bytes.
MAX_MANIFEST_BYTES = 1 << 20
_MANIFEST_SIZE = IntRange("design.json size in bytes", 0, MAX_MANIFEST_BYTES)
#: Most layer cores and most ports of one design.
MAX_CORES, MAX_PORTS = 256, 4096
#: Longest module, core or port name, characters.
MAX_NAME = 128
_NEURONS = IntRange("neurons", 1, 1 << 20)
_PORT_WIDTH = IntRange("port width", 1, 1 << 16)
_ACC_BITS = IntRange("accumulator bits", 2, 64)
_INPUT_BITS = (1, 8)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ManifestError(ValueError):
    """A manifest field is missing, of the wrong type, out of range or inconsistent.

    Attributes
    ----------
    field : str
        Path of the field, e.g. ``"cores[1].lanes"`` (empty for the whole manifest).
    problem : str
        What is wrong with it and what is accepted.
    """

    def __init__(self, field: str, problem: str, *, source: str | os.PathLike | None = None
                 ) -> None:
        self.field, self.problem = field, problem
        where = f"{source}: " if source is not None else ""
        super().__init__(f"{where}{field}: {problem}" if field else f"{where}{problem}")

    def within(self, outer: str) -> ManifestError:
        """Return this error with its field inside ``outer`` (e.g. ``"cores[1]"``)."""
        return ManifestError(f"{outer}.{self.field}" if self.field else outer, self.problem)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _check_int(field: str, value: object, accepted: IntRange) -> None:
    if value not in accepted:
        raise ManifestError(field, f"must be {accepted.describe()}, not {_show(value)}")


def _check_name(field: str, value: object) -> None:
    if not isinstance(value, str) or len(value) > MAX_NAME or not _IDENTIFIER.fullmatch(value):
        raise ManifestError(field, f"must be an identifier of at most {MAX_NAME} characters"
                                   f" (letters, digits, _), not {_show(value)}")


def _check_type(field: str, value: object, kind: type) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        what = "an integer" if kind is int else f"a {kind.__name__}"
        raise ManifestError(field, f"must be {what}, not {_show(value)}")


def _fields(data: object, keys: tuple[str, ...]) -> dict[str, Any]:
    """Return ``data`` if it is an object with exactly ``keys``."""
    if not isinstance(data, dict):
        raise ManifestError("", f"must be an object with keys {list(keys)}, not {_show(data)}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ManifestError(missing[0], "is missing")
    extra = sorted(str(k) for k in data if k not in keys)
    if extra:
        raise ManifestError(_show(extra[0]), f"is not a field (expected {list(keys)})")
    return data


def _enum(field: str, value: object, kind: type[enum.Enum]) -> enum.Enum:
    accepted = [m.value for m in kind]
    if not isinstance(value, str) or value not in accepted:
        raise ManifestError(field, f"must be one of {accepted}, not {_show(value)}")
    return kind(value)


def _list(field: str, value: object, most: int) -> list:
    if not isinstance(value, list) or not 1 <= len(value) <= most:
        size = f"{len(value)} entries" if isinstance(value, list) else _show(value)
        raise ManifestError(field, f"must be a list of 1..{most} entries, not {size}")
    return value


class PortDirection(enum.Enum):
    """Direction of a top-level port, as the manifest writes it."""

    IN = "in"
    OUT = "out"


@dataclass(frozen=True)
class PortRecord:
    """One port of the top module.

    Parameters
    ----------
    name : str
        Flattened Amaranth name as in the Verilog (``i__payload``, ``readback_0__valid``).
    direction : PortDirection
        Into or out of the design.
    width : int
        Bits.
    """

    name: str
    direction: PortDirection
    width: int

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        _check_type("dir", self.direction, PortDirection)
        _check_int("width", self.width, _PORT_WIDTH)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object of the port."""
        return {"name": self.name, "dir": self.direction.value, "width": self.width}

    @classmethod
    def from_dict(cls, data: object) -> PortRecord:
        """Return the port of a JSON object (see :meth:`DesignManifest.from_dict`)."""
        d = _fields(data, ("name", "dir", "width"))
        return cls(name=d["name"], direction=_enum("dir", d["dir"], PortDirection),
                   width=d["width"])


#: JSON keys of a core record, in the order they are written.
_CORE_KEYS = ("name", "n_in", "n_out", "lanes", "groups", "input_bits", "weight_bits",
              "acc_bits", "membrane_bits", "threshold", "model", "leak_shift", "reset")


@dataclass(frozen=True)
class CoreRecord:
    """One layer core of the design.

    Parameters
    ----------
    name : str
        Layer name (an identifier).
    n_in, n_out : int
        Inputs and neurons of the layer.
    lanes : int
        Synapse lanes ``P`` (a power of two).
    groups : int
        Neuron groups ``ceil(n_out / lanes)``, one readback record each per timestep.
    input_bits : int
        1 (spike events) or 8 (direct current).
    weight_bits, acc_bits, membrane_bits : int
        Signed widths of a weight, the synaptic accumulator and the membrane.
    threshold : int
        Firing threshold in membrane LSBs.
    model : NeuronModel
        IF or LIF.
    leak_shift : int
        Shift of the LIF leak.
    reset : ResetMode
        Reset to zero or by subtraction.
    """

    name: str
    n_in: int
    n_out: int
    lanes: int
    groups: int
    input_bits: int
    weight_bits: int
    acc_bits: int
    membrane_bits: int
    threshold: int
    model: NeuronModel
    leak_shift: int
    reset: ResetMode

    def __post_init__(self) -> None:
        _check_name("name", self.name)
        _check_int("n_in", self.n_in, _NEURONS)
        _check_int("n_out", self.n_out, _NEURONS)
        _check_int("lanes", self.lanes, LANES)
        _check_int("groups", self.groups, _NEURONS)
        if self.groups != -(-self.n_out // self.lanes):
            raise ManifestError("groups", f"must be ceil(n_out / lanes) ="
                                          f" {-(-self.n_out // self.lanes)}, not"
                                          f" {_show(self.groups)}")
        _check_type("input_bits", self.input_bits, int)
        if self.input_bits not in _INPUT_BITS:
            raise ManifestError("input_bits", f"must be one of {list(_INPUT_BITS)}, not"
                                              f" {_show(self.input_bits)}")
        _check_int("weight_bits", self.weight_bits, WEIGHT_BITS)
        _check_int("acc_bits", self.acc_bits, _ACC_BITS)
        _check_int("membrane_bits", self.membrane_bits, MEMBRANE_BITS)
        _check_type("model", self.model, NeuronModel)
        _check_type("reset", self.reset, ResetMode)
        for field in ("threshold", "leak_shift"):
            _check_type(field, getattr(self, field), int)
        try:
            self.lif  # noqa: B018 - sim's ranges for threshold and leak shift
        except ValueError as exc:
            raise ManifestError("", str(exc)) from None

    @property
    def lif(self) -> LIFParams:
        """The neuron parameters (``sim.lif``) the record states."""
        return LIFParams(threshold=self.threshold, model=self.model, leak_shift=self.leak_shift,
                         reset=self.reset, membrane=FixedFormat(self.membrane_bits))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object of the core (enums as their values)."""
        return {k: (v.value if isinstance(v, enum.Enum) else v)
                for k, v in ((k, getattr(self, k)) for k in _CORE_KEYS)}

    @classmethod
    def from_dict(cls, data: object) -> CoreRecord:
        """Return the core of a JSON object (see :meth:`DesignManifest.from_dict`)."""
        d = dict(_fields(data, _CORE_KEYS))
        d["model"] = _enum("model", d["model"], NeuronModel)
        d["reset"] = _enum("reset", d["reset"], ResetMode)
        return cls(**d)


def _input_layout(core: CoreRecord):
    if core.input_bits == 1:
        return spike_event_layout(core.n_in)
    return current_event_layout(core.n_in, core.input_bits)


@dataclass(frozen=True)
class DesignManifest:
    """Ports and layer cores of a generated network top level.

    Parameters
    ----------
    top : str
        Verilog module name of the top level (the Verilog file is ``<top>.v``).
    timesteps : int
        Timesteps per sample.
    ports : tuple[PortRecord, ...]
        Every port of the top, in declaration order; names are unique, and the payloads of
        ``i``, ``o`` and every ``readback_<k>`` have the widths of their stream layouts.
    cores : tuple[CoreRecord, ...]
        Layer cores in order; core ``k``'s outputs are core ``k + 1``'s spike inputs.

    Raises
    ------
    ManifestError
        Naming the first field that is missing, of the wrong type, out of range or
        inconsistent.
    """

    top: str
    timesteps: int
    ports: tuple[PortRecord, ...]
    cores: tuple[CoreRecord, ...]

    def __post_init__(self) -> None:
        _check_name("top", self.top)
        _check_int("timesteps", self.timesteps, TIMESTEPS)
        for field, kind, most in (("ports", PortRecord, MAX_PORTS), ("cores", CoreRecord,
                                                                      MAX_CORES)):
            items = getattr(self, field)
            if not isinstance(items, tuple) or not 1 <= len(items) <= most:
                raise ManifestError(field, f"must be a tuple of 1..{most} records, not"
                                           f" {_show(items)}")
            for k, item in enumerate(items):
                _check_type(f"{field}[{k}]", item, kind)
        names = [p.name for p in self.ports]
        for k, name in enumerate(names):
            if name in names[:k]:
                raise ManifestError(f"ports[{k}].name", f"must be unique, not {name!r} again")
        self._check_chain()
        self._check_payloads()

    def _check_chain(self) -> None:
        for k, (a, b) in enumerate(zip(self.cores, self.cores[1:], strict=False), start=1):
            if b.n_in != a.n_out:
                raise ManifestError(f"cores[{k}].n_in", f"must be {a.n_out} (the outputs of"
                                                        f" cores[{k - 1}]), not {b.n_in}")
            if b.input_bits != 1:
                raise ManifestError(f"cores[{k}].input_bits",
                                    f"must be 1 (spikes from cores[{k - 1}]), not {b.input_bits}")

    def _check_payloads(self) -> None:
        need = [("i__payload", PortDirection.IN, _input_layout(self.cores[0])),
                ("o__payload", PortDirection.OUT, spike_event_layout(self.cores[-1].n_out))]
        need += [(f"readback_{k}__payload", PortDirection.OUT,
                  membrane_readback_layout(c.n_out, membrane_bits=c.membrane_bits,
                                           lanes=c.lanes))
                 for k, c in enumerate(self.cores)]
        for name, direction, layout in need:
            port = self.port(name)
            if (port.direction, port.width) != (direction, layout.size):
                raise ManifestError(f"ports[{name}]", f"must be {direction.value}put of"
                                                      f" {layout.size} bits, not"
                                                      f" {port.direction.value}put of"
                                                      f" {port.width} bits")

    def port(self, name: str) -> PortRecord:
        """Return the port called ``name``.

        Raises
        ------
        ManifestError
            If the top has no such port.
        """
        for p in self.ports:
            if p.name == name:
                return p
        raise ManifestError("ports", f"must include {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object of the manifest."""
        return {"top": self.top, "timesteps": self.timesteps,
                "ports": [p.to_dict() for p in self.ports],
                "cores": [c.to_dict() for c in self.cores]}

    def to_json(self) -> str:
        """Return the manifest's JSON text (deterministic: fixed key order, indent 2, final
        newline)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: object) -> DesignManifest:
        """Return the manifest of a parsed JSON object.

        Raises
        ------
        ManifestError
            Naming the first field that is missing, unknown, of the wrong type, out of range
            or inconsistent.
        """
        d = _fields(data, ("top", "timesteps", "ports", "cores"))
        records = {}
        for field, kind, most in (("ports", PortRecord, MAX_PORTS), ("cores", CoreRecord,
                                                                      MAX_CORES)):
            out = []
            for k, item in enumerate(_list(field, d[field], most)):
                try:
                    out.append(kind.from_dict(item))
                except ManifestError as exc:
                    raise exc.within(f"{field}[{k}]") from None
            records[field] = tuple(out)
        return cls(top=d["top"], timesteps=d["timesteps"], **records)

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_json` to ``path`` atomically; return the path."""
        return atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> DesignManifest:
        """Read and validate the manifest at ``path``.

        Raises
        ------
        FileNotFoundError
            If there is no file at ``path``.
        ManifestError
            If the file is not a regular file, is larger than :data:`MAX_MANIFEST_BYTES`
            (checked before reading), is not UTF-8 JSON, or any
            field is missing, unknown, of the wrong type, out of range or inconsistent; the
            message names the file and the field.
        """
        path = Path(path)
        try:
            raw = read_input_bytes(path, limit=_MANIFEST_SIZE)
        except ValueError as exc:  # not a regular file, or too large (checked before reading)
            raise ManifestError("", str(exc), source=path) from None
        try:
            data = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys)
        except ManifestError as exc:
            raise ManifestError(exc.field, exc.problem, source=path) from None
        except (ValueError, RecursionError) as exc:  # JSON, UTF-8, integer-size errors
            raise ManifestError("", f"must be UTF-8 JSON ({_show(str(exc))})",
                                source=path) from None
        try:
            return cls.from_dict(data)
        except ManifestError as exc:
            raise ManifestError(exc.field, exc.problem, source=path) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ManifestError(_show(key), "must appear once in its object")
        out[key] = value
    return out
