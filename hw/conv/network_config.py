"""Configuration of a network of conv and dense cores: what :mod:`.conv_network` elaborates.

A chain of :class:`~.config.ConvCoreConfig` (each with the pooling that follows it) and then
:class:`~spikesmith.hw.lif.config.LIFCoreConfig` (the dense classifier), built by the compiler's
lowering or, from a ``sim.network.NetworkParams``, by :meth:`ConvNetworkConfig.from_params`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from spikesmith.sim.conv import ConvLayer, PoolLayer
from spikesmith.sim.encoders import DEFAULT_ENCODER, EncoderParams, Encoding
from spikesmith.sim.limits import TIMESTEPS
from spikesmith.sim.network import DenseLayer, NetworkParams

from ..lif.config import LIFCoreConfig
from .config import ConvCoreConfig

__all__ = ["ConvNetworkConfig", "Core"]

#: A core of a conv network.
Core = ConvCoreConfig | LIFCoreConfig


def _outputs(core: Core) -> int:
    return math.prod(core.emit_shape) if isinstance(core, ConvCoreConfig) else core.n_out


def _check_chain(a: Core, b: Core) -> None:
    if isinstance(b, ConvCoreConfig):
        if not isinstance(a, ConvCoreConfig):
            raise ValueError(f"core {b.name!r} is a conv core after the dense core {a.name!r};"
                             " conv cores must come before the dense ones")
        if a.emit_shape != b.in_shape:
            raise ValueError(f"core {b.name!r} must take the {a.emit_shape} map of {a.name!r},"
                             f" not {b.in_shape}")
    elif _outputs(a) != b.n_in:
        raise ValueError(f"core {b.name!r} must have {_outputs(a)} inputs (the outputs of "
                         f"{a.name!r}), not {b.n_in}")
    if b.input_bits != 1:
        raise ValueError(f"core {b.name!r} must take spike input (input_bits 1) since it follows"
                         f" {a.name!r}, not input_bits {b.input_bits}")


@dataclass(frozen=True, eq=False)
class ConvNetworkConfig:
    """A chain of conv cores, then dense cores, plus what the host needs to drive them.

    Parameters
    ----------
    cores : tuple[ConvCoreConfig | LIFCoreConfig, ...]
        Cores in order; core ``k``'s output events feed core ``k + 1`` (flattened channel-major
        from the last conv core into the first dense one).
    timesteps : int
        Timesteps ``T`` per sample.
    encoder : EncoderParams
        How pixels become the first core's input (``sim.encoders``).

    Raises
    ------
    TypeError
        If a core is neither a ``ConvCoreConfig`` nor a ``LIFCoreConfig``.
    ValueError
        If there are no cores, they do not chain, a hidden core takes direct current, or
        ``timesteps`` is outside ``sim.limits.TIMESTEPS``.
    """

    cores: tuple[Core, ...]
    timesteps: int
    encoder: EncoderParams = DEFAULT_ENCODER

    def __post_init__(self) -> None:
        if not self.cores:
            raise ValueError("a network needs at least one core")
        for core in self.cores:
            if not isinstance(core, ConvCoreConfig | LIFCoreConfig):
                raise TypeError(f"a core must be a ConvCoreConfig or LIFCoreConfig, not {core!r}")
        for a, b in zip(self.cores, self.cores[1:], strict=False):
            _check_chain(a, b)
        TIMESTEPS.check(self.timesteps)

    def output_problem(self) -> str | None:
        """Return why the network cannot be exported and verified as a classifier, or ``None``.

        The output layer's spikes are read as class neurons (spike counts, ties broken by the
        final membranes, ``sim.network.predict``), which needs a dense output core: a conv core
        emits ``(c, y, x)`` feature events of its (pooled) map and is not an output core (the
        NIR import refuses such a network too).
        """
        last = self.cores[-1]
        if not isinstance(last, ConvCoreConfig):
            return None
        return (f"the output layer {last.name!r} is a convolution with a {last.emit_shape} "
                f"output map{' (after pooling)' if last.pool is not None else ''}; the conv "
                "core is not an output core: the class decision (spike counts, ties broken by "
                "the membranes) and its verification read the output layer as dense neurons. "
                "End the network with a Flatten and a dense (Linear) layer, or with a Conv2d "
                "whose output map is 1 x 1, which the compiler reads as a dense layer.")

    @classmethod
    def from_params(cls, params: NetworkParams, *, lanes: int | Sequence[int]
                    ) -> ConvNetworkConfig:
        """Return the cores of ``params``: each conv layer with the pool layer after it, each
        dense layer; accumulators as wide as ``params.bounds()`` proves, direct-current input
        (8 bits) for the first core under ``Encoding.DIRECT``.

        Parameters
        ----------
        params : NetworkParams
            The integer network (``sim.network``).
        lanes : int or sequence of int
            Lanes of every core, or per core.

        Raises
        ------
        ValueError
            If a pool layer does not follow a conv layer, or ``lanes`` has the wrong length.
        """
        bounds = params.bounds()
        groups: list[list[int]] = []
        for idx, layer in enumerate(params.layers):
            if isinstance(layer, PoolLayer):
                if not groups or not isinstance(params.layers[groups[-1][-1]], ConvLayer):
                    raise ValueError(f"layer {idx} is a pool layer that does not follow a conv "
                                     "layer; the hardware pools in a conv core's output")
                groups[-1].append(idx)
            else:
                groups.append([idx])
        per_core = [lanes] * len(groups) if isinstance(lanes, int) else list(lanes)
        if len(per_core) != len(groups):
            raise ValueError(f"lanes must give one value per core ({len(groups)}), "
                             f"not {len(per_core)}")
        cores: list[Core] = []
        for k, (members, p) in enumerate(zip(groups, per_core, strict=True)):
            layer = params.layers[members[0]]
            acc_bits = max(2, bounds[members[0]].bit_length() + 1)
            input_bits = 8 if k == 0 and params.encoder.encoding is Encoding.DIRECT else 1
            if isinstance(layer, DenseLayer):
                cores.append(LIFCoreConfig(name=f"dense{k}", layer=layer, acc_bits=acc_bits,
                                           input_bits=input_bits, lanes=p))
            else:
                pool = params.layers[members[1]] if len(members) > 1 else None
                cores.append(ConvCoreConfig(name=f"conv{k}", layer=layer, pool=pool,
                                            acc_bits=acc_bits, input_bits=input_bits, lanes=p))
        return cls(cores=tuple(cores), timesteps=params.timesteps, encoder=params.encoder)
