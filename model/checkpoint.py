"""Checkpoints of a :class:`~spikesmith.model.network.SpikingMLP` or
:class:`~spikesmith.model.convnet.SpikingConvNet` as safetensors.

The file holds the tensors of ``net.state_dict()`` (weights ``layers.<i>.weight``, thresholds
``layers.<i>.threshold``, and for a conv network conv biases ``layers.<i>.bias`` and the
BatchNorm parameters and running statistics ``layers.<i>.{weight,bias,running_mean,
running_var,num_batches_tracked}``) and, in the safetensors ``__metadata__``, three JSON
strings: ``format`` (:data:`FORMAT` for a ``SpikingMLP``, :data:`CONV_FORMAT` for a
``SpikingConvNet``), ``config`` (the network's ``config()``) and ``extra``
(anything JSON-able the caller wants recorded). Writing is atomic (temporary file in the same
folder, then ``os.replace``); reading never unpickles and reports every defect as a
:class:`CheckpointError` naming what is wrong and what is expected.
"""

from __future__ import annotations

import itertools
import json
import os
import reprlib
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.files import atomic_write_bytes, read_input_bytes
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.limits import CHECKPOINT_BYTES, LAYER_WEIGHTS, LAYER_WIDTH, TIMESTEPS

from .convnet import SpikingConvNet
from .convnet_config import check_conv_config, conv_net_from_config
from .layers import MIN_THRESHOLD
from .method_net import build_mlp
from .methods import Method
from .network import SpikingMLP
from .surrogate import Surrogate

__all__ = ["CONV_FORMAT", "FORMAT", "CheckpointError", "load_checkpoint",
           "read_checkpoint_extra", "save_checkpoint"]

#: Value of the ``format`` metadata entry of a ``SpikingMLP`` written by this version.
FORMAT = "spikesmith.SpikingMLP/1"
#: Value of the ``format`` metadata entry of a ``SpikingConvNet``.
CONV_FORMAT = "spikesmith.SpikingConvNet/1"

_CONFIG_KEYS = ("sizes", "weight_bits", "membrane_bits", "timesteps", "encoder", "model",
                "leak_shift", "reset", "learnable_threshold", "surrogate", "init_gain",
                "dropout")
_MAX_HEADER = 100_000_000
#: Most layer widths (inputs included) a checkpoint config may list.
_MAX_SIZES = 64


class CheckpointError(ValueError):
    """A checkpoint file is missing, malformed or does not describe a valid network."""


def save_checkpoint(path: str | os.PathLike, net: SpikingMLP | SpikingConvNet, *,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write ``net`` to ``path`` atomically and return the path.

    Parameters
    ----------
    path : str or PathLike
        Destination file (its folder must exist).
    net : SpikingMLP or SpikingConvNet
        Network to save (float weights, thresholds and BatchNorm statistics).
    extra : dict, optional
        JSON-serialisable data stored alongside (e.g. training recipe, accuracies).

    Raises
    ------
    TypeError
        If ``extra`` is not a JSON-serialisable dict.
    """
    path = Path(path)
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise TypeError(f"extra must be a dict, not {type(extra).__name__}")
    try:
        extra_json = json.dumps(extra, sort_keys=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"extra must be JSON-serialisable: {e}") from e
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    fmt = CONV_FORMAT if isinstance(net, SpikingConvNet) else FORMAT
    data = st_save(tensors, metadata={"format": fmt,
                                      "config": json.dumps(net.config(), sort_keys=True),
                                      "extra": extra_json})
    atomic_write_bytes(path, _canonical(data))
    return path


def _canonical(data: bytes) -> bytes:
    """Return safetensors bytes ``data`` with one spelling of the header, so equal checkpoints
    are equal files.

    safetensors writes ``__metadata__`` from a hash map, so its key order changes from one save
    to the next. The header is rewritten with the metadata keys sorted and the tensors in the
    order of their data (compact JSON, padded with spaces to 8 bytes); the tensor offsets count
    from the end of the header, so the data bytes stay as they are.
    """
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = sorted(header.items(), key=lambda item: item[1]["data_offsets"])
    text = json.dumps({"__metadata__": dict(sorted(meta.items())), **dict(tensors)},
                      separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n:]


def _read(path: Path) -> tuple[bytes, dict[str, str]]:
    """Return the file bytes and its metadata after checking the safetensors framing."""
    expected = "expected a .safetensors file written by save_checkpoint"
    try:
        data = read_input_bytes(path, limit=CHECKPOINT_BYTES)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist ({expected})") from None
    except ValueError as e:  # not a regular file, or too large: nothing was read
        raise CheckpointError(f"checkpoint {str(path)!r} {e} ({expected})") from None
    except OSError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {e.strerror} "
                              f"({expected})") from None
    if len(data) < 8:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a safetensors file: "
                              f"{len(data)} bytes, expected an 8-byte header length first")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(len(data) - 8, _MAX_HEADER):
        raise CheckpointError(f"checkpoint {str(path)!r} is not a safetensors file or is "
                              f"truncated: header length {n} but only {len(data) - 8} bytes "
                              "follow")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:  # bad UTF-8, bad JSON, or an integer past Python's digit limit
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted: its safetensors "
                              f"header is not valid JSON ({e})") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or meta.get("format") not in (FORMAT, CONV_FORMAT):
        found = meta.get("format") if isinstance(meta, dict) else None
        raise CheckpointError(f"checkpoint {str(path)!r} has format {reprlib.repr(found)} in "
                              f"its metadata, expected {FORMAT!r} or {CONV_FORMAT!r}")
    for key in ("config", "extra"):
        if not isinstance(meta.get(key), str):
            raise CheckpointError(f"checkpoint {str(path)!r} has no {key!r} metadata entry "
                                  "(expected a JSON string)")
    return data, meta


def _json(path: Path, meta: dict[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except ValueError as e:  # bad JSON, or an integer past Python's digit limit
        raise CheckpointError(f"checkpoint {str(path)!r}: metadata {key!r} is not valid JSON "
                              f"({e})") from None


def _enum(path: Path, name: str, cls: type, value: Any) -> Any:
    accepted = [m.value for m in cls]
    if value not in accepted:
        raise CheckpointError(f"checkpoint {str(path)!r}: config {name!r} must be one of "
                              f"{accepted}, not {reprlib.repr(value)}")
    return cls(value)


def _check_sizes(path: Path, config: dict[str, Any]) -> None:
    """Bound the sizes and timesteps of ``config`` before any tensor is allocated."""
    sizes, timesteps = config["sizes"], config["timesteps"]
    expected = (f"a list of 2..{_MAX_SIZES} layer widths, each {LAYER_WIDTH.describe()}, with "
                f"at most {LAYER_WEIGHTS.hi} weights per layer")
    if not isinstance(sizes, list) or not 2 <= len(sizes) <= _MAX_SIZES:
        raise CheckpointError(f"checkpoint {str(path)!r}: config 'sizes' must be {expected}, "
                              f"not {reprlib.repr(sizes)}")
    for n in sizes:
        if n not in LAYER_WIDTH:
            raise CheckpointError(f"checkpoint {str(path)!r}: config 'sizes' must be "
                                  f"{expected}, found {reprlib.repr(n)}{LAYER_WIDTH.hint_for(n)}")
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if n_in * n_out not in LAYER_WEIGHTS:
            raise CheckpointError(f"checkpoint {str(path)!r}: config 'sizes' must be "
                                  f"{expected}; layer {i} has {n_in} inputs x {n_out} neurons "
                                  f"= {n_in * n_out} weights{LAYER_WEIGHTS.hint}")
    if timesteps not in TIMESTEPS:
        raise CheckpointError(f"checkpoint {str(path)!r}: config 'timesteps' must be "
                              f"{TIMESTEPS.describe()}, not {reprlib.repr(timesteps)}")


def _network_from_config(path: Path, config: Any) -> SpikingMLP:
    if not isinstance(config, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: config must be a JSON object, "
                              f"not {type(config).__name__}")
    config = dict(config)
    method = _enum(path, "method", Method, config.pop("method", Method.BPTT.value))
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    missing = [k for k in _CONFIG_KEYS if k not in config]
    if unknown or missing:
        raise CheckpointError(f"checkpoint {str(path)!r}: config has unknown keys "
                              f"{reprlib.repr(unknown)} and lacks keys {missing}; expected "
                              f"exactly {list(_CONFIG_KEYS)}")
    _check_sizes(path, config)
    enc = config["encoder"]
    if not isinstance(enc, dict) or set(enc) != {"encoding", "seed"}:
        raise CheckpointError(f"checkpoint {str(path)!r}: config 'encoder' must be an object "
                              f"with keys 'encoding' and 'seed', not {reprlib.repr(enc)}")
    try:
        encoder = EncoderParams(_enum(path, "encoder.encoding", Encoding, enc["encoding"]),
                                enc["seed"])
        return build_mlp(
            config["sizes"],
            method=method,
            weight_bits=config["weight_bits"],
            membrane_bits=config["membrane_bits"],
            timesteps=config["timesteps"],
            encoder=encoder,
            model=_enum(path, "model", NeuronModel, config["model"]),
            leak_shift=config["leak_shift"],
            reset=_enum(path, "reset", ResetMode, config["reset"]),
            learnable_threshold=config["learnable_threshold"],
            surrogate=Surrogate.from_config(config["surrogate"]),
            init_gain=config["init_gain"],
            dropout=config["dropout"],
        )
    except CheckpointError:
        raise
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r}: bad network config: {e}") from None


def _conv_from_config(path: Path, config: Any) -> SpikingConvNet:
    """A conv network; a ``MethodConvNet`` (``model.method_convnet``) when the config has
    ``method`` (and ``channel_thresholds``) beyond the keys of ``check_conv_config``."""
    method, per_channel = Method.BPTT, True
    if isinstance(config, dict):
        config = dict(config)
        method = _enum(path, "method", Method, config.pop("method", Method.BPTT.value))
        per_channel = config.pop("channel_thresholds", True)
        if not isinstance(per_channel, bool):
            raise CheckpointError(f"checkpoint {str(path)!r}: config 'channel_thresholds' "
                                  f"must be true or false, not {reprlib.repr(per_channel)}")
    try:
        check_conv_config(config)
        return conv_net_from_config(config, method=method, channel_thresholds=per_channel)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r}: bad conv network config: {e}"
                              ) from None


def load_checkpoint(path: str | os.PathLike) -> SpikingMLP | SpikingConvNet:
    """Return the network saved at ``path`` (in eval mode), without unpickling anything.

    Raises
    ------
    CheckpointError
        If the file is missing, not a safetensors file, truncated or corrupted, has a wrong
        format tag, an invalid config (unknown/missing keys, bad values), or tensors that are
        missing, unexpected, of the wrong shape or not finite, or a negative BatchNorm
        running variance.
    """
    path = Path(path)
    data, meta = _read(path)
    config = _json(path, meta, "config")
    net = (_conv_from_config(path, config) if meta["format"] == CONV_FORMAT
           else _network_from_config(path, config))
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupted or truncated: the "
                              f"safetensors payload does not match its header ({e})") from None
    expected = net.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {str(path)!r}: tensors {reprlib.repr(missing)} are "
                              f"missing and {reprlib.repr(unexpected)} unexpected; expected "
                              f"exactly {reprlib.repr(sorted(expected))}")
    for name, ref in expected.items():
        t = tensors[name]
        if t.shape != ref.shape or t.dtype != ref.dtype:
            raise CheckpointError(f"checkpoint {str(path)!r}: tensor {name!r} is {t.dtype} of "
                                  f"shape {reprlib.repr(tuple(t.shape))}, expected {ref.dtype} "
                                  f"of shape {tuple(ref.shape)}")
        if not torch.isfinite(t).all():
            raise CheckpointError(f"checkpoint {str(path)!r}: tensor {name!r} has non-finite "
                                  "values")
    for name, t in tensors.items():
        if name.endswith(".threshold") and not float(t) >= MIN_THRESHOLD:
            raise CheckpointError(f"checkpoint {str(path)!r}: tensor {name!r} must be a "
                                  f"threshold >= {MIN_THRESHOLD}, not {float(t)!r}")
        if name.endswith(".running_var") and not bool((t >= 0).all()):
            raise CheckpointError(f"checkpoint {str(path)!r}: tensor {name!r} must be a "
                                  "non-negative BatchNorm running variance")
    net.load_state_dict(tensors)
    return net.eval()


def read_checkpoint_extra(path: str | os.PathLike) -> dict[str, Any]:
    """Return the ``extra`` dictionary stored by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        As :func:`load_checkpoint` for the framing and metadata.
    """
    path = Path(path)
    _, meta = _read(path)
    extra = _json(path, meta, "extra")
    if not isinstance(extra, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: metadata 'extra' must be a JSON "
                              f"object, not {type(extra).__name__}")
    return extra
