"""The config of a :class:`~spikesmith.model.convnet.SpikingConvNet`: strict checks and rebuild.

A config is ``SpikingConvNet.config()``: a JSON object with exactly the keys of
:data:`CONV_CONFIG_KEYS`. :func:`check_conv_config` bounds every size (the shapes follow from
the spec and the input map without allocating a tensor); :func:`conv_net_from_config` builds
the network.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

from spikesmith.sim.conv import check_shape, conv_geometry, pool_geometry
from spikesmith.sim.encoders import EncoderParams, Encoding
from spikesmith.sim.lif import NeuronModel, ResetMode
from spikesmith.sim.limits import LAYER_WEIGHTS, LAYER_WIDTH, TIMESTEPS

from .arch import ArchSpec, ConvSpec, PoolSpec, parse_arch
from .convnet import SpikingConvNet
from .method_convnet import build_conv_net
from .methods import Method
from .surrogate import Surrogate

__all__ = ["CONV_CONFIG_KEYS", "check_conv_config", "conv_net_from_config"]

#: Keys of a conv network config, in the order ``SpikingConvNet.config()`` writes them.
CONV_CONFIG_KEYS = ("arch", "in_shape", "batch_norm", "weight_bits", "membrane_bits",
                    "timesteps", "encoder", "model", "leak_shift", "reset",
                    "learnable_threshold", "surrogate", "init_gain")


def _enum(name: str, cls: type, value: Any) -> Any:
    accepted = [m.value for m in cls]
    if value not in accepted:
        raise ValueError(f"{name!r} must be one of {accepted}, not {reprlib.repr(value)}")
    return cls(value)


def _check_weights(arch: ArchSpec, in_shape: tuple[int, int, int]) -> None:
    """Check every layer's geometry and weight count before anything is allocated."""
    shape: tuple[int, int, int] | None = in_shape
    n = math.prod(in_shape)
    for k, spec in enumerate(arch.layers):
        if isinstance(spec, ConvSpec):
            weights = spec.channels * shape[0] * spec.kernel ** 2
            shape = conv_geometry(in_shape=shape, out_channels=spec.channels,
                                  kernel=spec.kernel, stride=spec.stride,
                                  padding=spec.padding)
        elif isinstance(spec, PoolSpec):
            shape = pool_geometry(in_shape=shape, kernel=spec.kernel)
            weights = 0
        else:
            LAYER_WIDTH.check(spec.neurons)
            weights = n * spec.neurons
            shape = None
        n = math.prod(shape) if shape is not None else getattr(spec, "neurons", n)
        if weights not in LAYER_WEIGHTS and weights:
            raise ValueError(f"layer {k} ({spec}) has {weights} weights"
                             f"{LAYER_WEIGHTS.hint}")


def check_conv_config(config: Any) -> None:
    """Raise ``ValueError`` (or ``TypeError``) unless ``config`` describes a valid network.

    Checks the keys (exactly :data:`CONV_CONFIG_KEYS`), the spec, the input map, the
    timesteps and every layer's geometry and weight count (``sim.limits``); the remaining
    values are checked by the constructor.
    """
    if not isinstance(config, dict):
        raise TypeError(f"config must be a JSON object, not {type(config).__name__}")
    unknown = sorted(set(config) - set(CONV_CONFIG_KEYS))
    missing = [k for k in CONV_CONFIG_KEYS if k not in config]
    if unknown or missing:
        raise ValueError(f"config has unknown keys {reprlib.repr(unknown)} and lacks keys "
                         f"{missing}; expected exactly {list(CONV_CONFIG_KEYS)}")
    in_shape = config["in_shape"]
    if not isinstance(in_shape, list) or len(in_shape) != 3:
        raise ValueError(f"'in_shape' must be a list [C, H, W], not {reprlib.repr(in_shape)}")
    shape = check_shape(tuple(in_shape))
    if config["timesteps"] not in TIMESTEPS:
        raise ValueError(f"'timesteps' must be {TIMESTEPS.describe()}, not "
                         f"{reprlib.repr(config['timesteps'])}")
    arch = parse_arch(config["arch"])
    if str(arch) != config["arch"]:
        raise ValueError(f"'arch' must be a canonical spec string, {str(arch)!r}, not "
                         f"{config['arch']!r}")
    _check_weights(arch, shape)
    enc = config["encoder"]
    if not isinstance(enc, dict) or set(enc) != {"encoding", "seed"}:
        raise ValueError(f"'encoder' must be an object with keys 'encoding' and 'seed', not "
                         f"{reprlib.repr(enc)}")
    for key in ("batch_norm", "learnable_threshold"):
        if not isinstance(config[key], bool):
            raise ValueError(f"{key!r} must be true or false, not {reprlib.repr(config[key])}")


def conv_net_from_config(config: dict[str, Any], *, method: Method = Method.BPTT,
                         channel_thresholds: bool = True) -> SpikingConvNet:
    """Return a fresh network of a config that :func:`check_conv_config` accepts, with the
    training parts of ``method`` (``model.method_convnet.build_conv_net``).

    Raises
    ------
    TypeError, ValueError
        On a value the constructor rejects.
    """
    enc = config["encoder"]
    return build_conv_net(
        config["arch"], tuple(config["in_shape"]), method=method,
        channel_thresholds=channel_thresholds,
        batch_norm=config["batch_norm"],
        weight_bits=config["weight_bits"],
        membrane_bits=config["membrane_bits"],
        timesteps=config["timesteps"],
        encoder=EncoderParams(_enum("encoder.encoding", Encoding, enc["encoding"]), enc["seed"]),
        model=_enum("model", NeuronModel, config["model"]),
        leak_shift=config["leak_shift"],
        reset=_enum("reset", ResetMode, config["reset"]),
        learnable_threshold=config["learnable_threshold"],
        surrogate=Surrogate.from_config(config["surrogate"]),
        init_gain=config["init_gain"],
    )
