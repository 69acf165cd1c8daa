"""Training methods: which seed-paper parts a network is trained with.

A :class:`Method` names a combination of :class:`MethodParts`; each member is one line, so a
new method is one more line (and, if it needs a new part, one more field of the parts)::

    bptt       plain BPTT: fixed threshold, no dropout, no normalisation
    lt         learnable threshold theta = tanh(w) per spiking layer (LTMD paper, sec. 2.1)
    ltmd       lt + moderate dropout (one mask over all timesteps) + two-pass consistency loss
    tebn       temporal effective batch normalisation (TEBN paper, sec. 6.1), dense layers
    ltmd+tebn  both
    ratebp     rate-based backpropagation (Rate-BP paper, sec. 4): BPTT's network, gradients
               through the firing rates (:mod:`.ratebp`)

The parts and their exact integer folding: :mod:`.ltmd` and :mod:`.tebn`;
:class:`~spikesmith.model.method_net.MethodMLP` runs them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Method", "MethodParts"]


@dataclass(frozen=True)
class MethodParts:
    """The training parts a method switches on.

    Parameters
    ----------
    tanh_threshold : bool
        Every spiking layer learns ``theta = tanh(w)`` (:class:`.ltmd.TanhLIFNeuron`).
    moderate_dropout : bool
        Activity-dependent dropout after the first hidden spiking layer, one mask over all
        timesteps, with the two-pass consistency loss (:mod:`.ltmd`).
    tebn : bool
        A TEBN normalisation of every synaptic input (:class:`.tebn.TEBNorm`).
    rate_gradient : bool
        Gradients by rate-based backpropagation (``model.ratebp``) instead of BPTT.
    """

    tanh_threshold: bool = False
    moderate_dropout: bool = False
    tebn: bool = False
    rate_gradient: bool = False

    @property
    def changes_the_network(self) -> bool:
        """Whether a part adds layers or parameters (a ``MethodMLP``, not a ``SpikingMLP``)."""
        return self.tanh_threshold or self.moderate_dropout or self.tebn


class Method(enum.Enum):
    """A training method by its command-line name (``Method("ltmd+tebn")``)."""

    BPTT = ("bptt", MethodParts())
    LT = ("lt", MethodParts(tanh_threshold=True))
    LTMD = ("ltmd", MethodParts(tanh_threshold=True, moderate_dropout=True))
    TEBN = ("tebn", MethodParts(tebn=True))
    LTMD_TEBN = ("ltmd+tebn", MethodParts(tanh_threshold=True, moderate_dropout=True, tebn=True))
    RATEBP = ("ratebp", MethodParts(rate_gradient=True))

    def __new__(cls, name: str, parts: MethodParts) -> Method:
        obj = object.__new__(cls)
        obj._value_ = name
        obj.parts = parts
        return obj

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Return the command-line names, in declaration order."""
        return tuple(m.value for m in cls)
