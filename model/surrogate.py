"""Surrogate spike functions: a Heaviside forward with the derivative of a smooth step backward.

The forward pass is the fire stage of ``sim.lif.fire`` applied to ``x = u - theta``: a spike
where ``x >= 0`` (greater-or-equal, as in ``u >= theta``). The backward pass replaces the
Dirac derivative of the step by the derivative of a named smooth *primitive* ``f`` (a smooth
step rising from 0 to 1 around ``x = 0``). Each surrogate is built by a keyword-only factory::

    spike = fast_sigmoid(slope=5.0)
    s = spike(u - theta)          # 0.0 / 1.0 forward, f'(u - theta) backward

Primitives (``k`` the slope or ``alpha`` the sharpness):

``FAST_SIGMOID``
    ``f(x) = 1/2 + 1/2 * k x / (1 + k |x|)``, ``f'(x) = k / (2 (1 + k |x|)**2)``.
``ATAN``
    ``f(x) = 1/2 + atan(pi/2 * alpha x) / pi``, ``f'(x) = alpha / (2 (1 + (pi/2 * alpha x)**2))``.
``SIGMOID``
    ``f(x) = sigmoid(alpha x)``, ``f'(x) = alpha sigmoid(alpha x) (1 - sigmoid(alpha x))``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import torch

__all__ = ["Surrogate", "SurrogateKind", "atan", "fast_sigmoid", "sigmoid"]


class SurrogateKind(enum.Enum):
    """Which smooth primitive supplies the backward pass."""

    FAST_SIGMOID = "fast_sigmoid"
    ATAN = "atan"
    SIGMOID = "sigmoid"


@dataclass(frozen=True)
class Surrogate:
    """A spike function with a named surrogate gradient (build it with a factory).

    Parameters
    ----------
    kind : SurrogateKind
        The smooth primitive.
    sharpness : float
        ``k`` (fast sigmoid) or ``alpha`` (atan, sigmoid), per unit of ``x``; larger is closer
        to the step. Must be positive and finite.

    Raises
    ------
    TypeError, ValueError
        On an unknown kind or a non-positive sharpness.
    """

    kind: SurrogateKind
    sharpness: float

    def __post_init__(self) -> None:
        if not isinstance(self.kind, SurrogateKind):
            raise TypeError(f"kind must be a SurrogateKind, not {self.kind!r}")
        s = self.sharpness
        if isinstance(s, bool) or not isinstance(s, int | float) or not (
            math.isfinite(s) and s > 0
        ):
            raise ValueError(f"surrogate sharpness must be a positive finite number, not {s!r}")

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """Return the smooth step ``f(x)`` whose derivative is the surrogate gradient."""
        a = self.sharpness
        if self.kind is SurrogateKind.FAST_SIGMOID:
            return 0.5 + 0.5 * a * x / (1.0 + a * x.abs())
        if self.kind is SurrogateKind.ATAN:
            return 0.5 + torch.atan(0.5 * math.pi * a * x) / math.pi
        return torch.sigmoid(a * x)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``f'(x)``, the gradient the backward pass uses in place of the Dirac delta."""
        a = self.sharpness
        if self.kind is SurrogateKind.FAST_SIGMOID:
            return 0.5 * a / (1.0 + a * x.abs()) ** 2
        if self.kind is SurrogateKind.ATAN:
            return 0.5 * a / (1.0 + (0.5 * math.pi * a * x) ** 2)
        sg = torch.sigmoid(a * x)
        return a * sg * (1.0 - sg)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Return spikes ``(x >= 0)`` as floats, differentiable through :meth:`derivative`."""
        return _SpikeFunction.apply(x, self)

    def to_config(self) -> dict[str, object]:
        """Return a JSON-able description (inverse of :meth:`from_config`)."""
        return {"kind": self.kind.value, "sharpness": float(self.sharpness)}

    @classmethod
    def from_config(cls, config: dict[str, object]) -> Surrogate:
        """Build a surrogate from :meth:`to_config`'s dictionary.

        Raises
        ------
        ValueError
            On missing or unknown keys, an unknown kind or a bad sharpness.
        """
        if not isinstance(config, dict) or set(config) != {"kind", "sharpness"}:
            raise ValueError(
                f"surrogate config must be a dict with keys 'kind' and 'sharpness', not {config!r}"
            )
        kinds = [k.value for k in SurrogateKind]
        if config["kind"] not in kinds:
            raise ValueError(f"surrogate kind must be one of {kinds}, not {config['kind']!r}")
        return cls(SurrogateKind(config["kind"]), config["sharpness"])


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward ``x >= 0``; backward ``grad * surrogate.derivative(x)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(x), None


def fast_sigmoid(*, slope: float = 5.0) -> Surrogate:
    """Return the fast-sigmoid surrogate with slope ``k`` (peak gradient ``k/2`` at 0)."""
    return Surrogate(SurrogateKind.FAST_SIGMOID, slope)


def atan(*, alpha: float = 2.0) -> Surrogate:
    """Return the arctangent surrogate with sharpness ``alpha`` (peak gradient ``alpha/2``)."""
    return Surrogate(SurrogateKind.ATAN, alpha)


def sigmoid(*, alpha: float = 4.0) -> Surrogate:
    """Return the logistic surrogate with sharpness ``alpha`` (peak gradient ``alpha/4``)."""
    return Surrogate(SurrogateKind.SIGMOID, alpha)
