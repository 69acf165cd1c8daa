"""Network shapes as spec strings, and the named presets.

Grammar (tokens separated by ``-``, case-sensitive, no spaces)::

    spec   := layer ("-" layer)*
    layer  := conv | pool | dense
    conv   := C "c" K ["s" S] ["p" P]     e.g. 16c5, 32c3p1, 8c3s2p1
    pool   := "p" k                       e.g. p2
    dense  := N                           e.g. 128, 10

* ``<C>c<K>``: a ``QuantConv2d`` of ``C`` output channels, ``K x K`` kernel, stride ``S``
  (default 1) and zero padding ``P`` (default 0, "valid"; ``0 <= P < K``; ``P = (K-1)//2``
  with stride 1 keeps the size for odd ``K``), followed (optionally) by a ``BatchNorm2d`` and
  a ``LIFNeuron`` layer.
* ``p<k>``: OR pooling of spikes (``SpikePool``), window and stride ``k``; only after a map.
* ``<N>``: a ``QuantDense`` of ``N`` neurons and its ``LIFNeuron`` layer; a ``Flatten``
  (channel-major, free) is inserted before the first dense layer after a map. Once flat, no
  conv or pool may follow. The last token is a dense or conv layer: its neurons are the
  outputs (the class count for a dense output).

The input map ``(C, H, W)`` comes from the dataset, not from the spec. Numbers are decimal
without sign or leading zeros. ``str(parse_arch(s)) == s`` for every canonical spec (stride 1
and padding 0 are not written).

Presets (:data:`PRESETS`): ``conv`` for ``mnist5k``-sized 28 x 28 digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PRESETS", "ArchSpec", "ConvSpec", "DenseSpec", "PoolSpec", "parse_arch",
           "resolve_arch"]

_CONV = re.compile(r"([1-9][0-9]*)c([1-9][0-9]*)(?:s([1-9][0-9]*))?(?:p(0|[1-9][0-9]*))?")
_POOL = re.compile(r"p([1-9][0-9]*)")
_DENSE = re.compile(r"[1-9][0-9]*")
#: Longest spec string accepted (characters).
MAX_SPEC_CHARS = 256

#: Named architectures, by name.
PRESETS: dict[str, str] = {
    # Two conv + OR-pool stages and a dense classifier for 28 x 28 digits.
    "conv": "16c5-p2-32c5-p2-128-10",
}


@dataclass(frozen=True)
class ConvSpec:
    """``<C>c<K>[s<S>][p<P>]``: a conv synapse layer with its neurons."""

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0

    def __str__(self) -> str:
        s = f"{self.channels}c{self.kernel}"
        if self.stride != 1:
            s += f"s{self.stride}"
        if self.padding:
            s += f"p{self.padding}"
        return s


@dataclass(frozen=True)
class PoolSpec:
    """``p<k>``: OR pooling of spikes, window and stride ``k``."""

    kernel: int

    def __str__(self) -> str:
        return f"p{self.kernel}"


@dataclass(frozen=True)
class DenseSpec:
    """``<N>``: a dense synapse layer of ``N`` neurons."""

    neurons: int

    def __str__(self) -> str:
        return str(self.neurons)


LayerSpec = ConvSpec | PoolSpec | DenseSpec


@dataclass(frozen=True)
class ArchSpec:
    """A parsed spec string: the layers in order (see the module docstring)."""

    layers: tuple[LayerSpec, ...]

    def __str__(self) -> str:
        return "-".join(str(x) for x in self.layers)

    @property
    def outputs(self) -> int:
        """Neurons of the last layer (channels of a conv output)."""
        last = self.layers[-1]
        return last.neurons if isinstance(last, DenseSpec) else last.channels

    @property
    def has_maps(self) -> bool:
        """Whether the first layer reads a feature map (a conv or pool)."""
        return not isinstance(self.layers[0], DenseSpec)


def _token(tok: str) -> LayerSpec:
    if m := _CONV.fullmatch(tok):
        c, k, s, p = m.groups()
        if p is not None and int(p) >= int(k):
            raise ValueError(f"{tok!r}: padding {p} must be below the kernel size {k}")
        return ConvSpec(int(c), int(k), int(s or 1), int(p or 0))
    if m := _POOL.fullmatch(tok):
        return PoolSpec(int(m.group(1)))
    if _DENSE.fullmatch(tok):
        return DenseSpec(int(tok))
    raise ValueError(f"{tok!r} is not a layer: expected <C>c<K>[s<S>][p<P>] (conv), p<k> "
                     "(pool) or <N> (dense), e.g. 16c5-p2-32c3-p2-128-10")


def parse_arch(spec: str) -> ArchSpec:
    """Return the :class:`ArchSpec` of a spec string (module docstring).

    Raises
    ------
    ValueError
        On a malformed token (every one is reported), a conv or pool after a dense layer, or
        a pool last.
    """
    if not isinstance(spec, str) or not spec or len(spec) > MAX_SPEC_CHARS:
        raise ValueError(f"an architecture must be a non-empty spec string of at most "
                         f"{MAX_SPEC_CHARS} characters, not {spec!r}")
    layers, problems = [], []
    for tok in spec.split("-"):
        try:
            layers.append(_token(tok))
        except ValueError as e:
            problems.append(str(e))
    flat = False
    for x in layers:
        if isinstance(x, DenseSpec):
            flat = True
        elif flat:
            problems.append(f"{x} follows a dense layer; convolution and pooling need a map")
    if layers and isinstance(layers[-1], PoolSpec):
        problems.append("the last layer must have neurons (conv or dense), not be a pool")
    if problems:
        raise ValueError(f"architecture {spec!r}: " + "; ".join(problems))
    return ArchSpec(tuple(layers))


def resolve_arch(name_or_spec: str) -> ArchSpec:
    """Return the preset called ``name_or_spec`` (:data:`PRESETS`), else parse it as a spec.

    Raises
    ------
    ValueError
        As :func:`parse_arch`, naming the presets too.
    """
    if name_or_spec in PRESETS:
        return parse_arch(PRESETS[name_or_spec])
    try:
        return parse_arch(name_or_spec)
    except ValueError as e:
        raise ValueError(f"{e} (or a preset: {sorted(PRESETS)})") from None
