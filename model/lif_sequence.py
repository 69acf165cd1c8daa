"""A layer of float LIF neurons run over all ``T`` timesteps as one autograd operation.

:func:`lif_sequence` computes exactly what ``T`` calls of
:meth:`~spikesmith.model.layers.LIFNeuron.step` compute (same spikes, same final membrane, bit
for bit), but records no autograd graph per timestep: the forward loop runs under
``no_grad`` and keeps only what the backward pass needs (the surrogate derivative at every
step, and the spikes), and the backward pass is a hand-written reverse-time recursion. The
per-step Python and autograd overhead of BPTT is what dominates small spiking layers on a
CPU; this removes most of it.

Forward, per step ``t`` (``lam = 1 - 2**-k`` for LIF, 1 for IF; ``theta`` the threshold the
caller passes, usually fake-quantised)::

    u_t = v_{t-1} - v_{t-1} * 2**-k + i_t      (LIF)    or    u_t = v_{t-1} + i_t   (IF)
    x_t = u_t - theta;   s_t = (x_t >= 0)
    v_t = u_t - s_t * theta  (SUBTRACT)   or   v_t = u_t * (1 - s_t)  (ZERO)

``v_t = where(s_t, x_t, u_t)`` for SUBTRACT is the same float as ``u_t - s_t * theta``.
Backward (``g_t = dL/ds_t * f'(x_t)`` with ``f'`` the surrogate derivative, ``s_t`` detached
in the reset as in ``LIFNeuron.step``; ``dL/dv_T`` from the caller)::

    dL/di_t = g_t + a_t * lam * dL/di_{t+1},   a_t = 1 (SUBTRACT) or 1 - s_t (ZERO)
    dL/di_T = g_T + a_T * dL/dv_T
    dL/dtheta = -sum_t g_t - [SUBTRACT] sum_t s_t * dL/dv_t
"""

from __future__ import annotations

import torch

from spikesmith.sim.lif import NeuronModel, ResetMode

from .surrogate import Surrogate

__all__ = ["lif_forward", "lif_sequence"]


def lif_sequence(currents: torch.Tensor, theta: torch.Tensor, *, model: NeuronModel,
                 leak_shift: int, reset: ResetMode, surrogate: Surrogate
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run LIF neurons over the leading (time) axis of ``currents``; return ``(spikes, v)``.

    Parameters
    ----------
    currents : torch.Tensor
        Synaptic input ``(T, ...)`` in float units, any trailing shape.
    theta : torch.Tensor
        Threshold in float units (differentiable; may be fake-quantised): 0-d, or any shape
        that broadcasts against one timestep ``currents[t]`` (e.g. ``(C, 1, 1)``, one per
        channel of a feature map); its gradient is summed to its shape.
    model, leak_shift, reset :
        Neuron dynamics (see :class:`~spikesmith.model.layers.LIFNeuron`).
    surrogate : Surrogate
        Spike function whose derivative the backward pass uses.

    Returns
    -------
    spikes : torch.Tensor
        ``0.0/1.0`` spikes, the shape of ``currents``.
    v : torch.Tensor
        Membrane after the last step, ``currents.shape[1:]``.
    """
    return _LIFSequence.apply(currents, theta, model, leak_shift, reset, surrogate)


def lif_forward(currents: torch.Tensor, theta: torch.Tensor, *, leak_shift: int | None,
                reset: ResetMode) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(x, v)``: ``x_t = u_t - theta`` for every step ``(T, ...)`` and the final ``v``.

    The forward recursion of the module docstring without autograd (call it under
    ``no_grad``); spikes are ``x >= 0``. ``leak_shift`` is ``None`` for IF. When
    ``lam = 1 - 2**-k`` is exact in the dtype,
    ``v * lam`` rounds the exact product once, as ``v - v * 2**-k`` does (``v * 2**-k`` is
    exact for normal floats), so the values equal ``LIFNeuron.step``'s; otherwise the loop
    computes ``v - v * 2**-k`` itself. Scalars are 0-d tensors of the currents' dtype (no
    per-op scalar conversion); the loop works in place.
    """
    x = torch.empty_like(currents)
    fired = torch.empty(currents.shape[1:], dtype=torch.bool, device=currents.device)
    v = torch.zeros_like(currents[0])
    zero = currents.new_zeros(())
    exact = leak_shift is not None and 2.0 ** -leak_shift >= torch.finfo(currents.dtype).eps / 2
    decay = currents.new_full((), 1.0 - 2.0 ** -leak_shift if exact else 2.0 ** -(
        leak_shift or 0))
    theta = theta.to(currents.dtype)
    for i_t, x_t in zip(currents.unbind(0), x.unbind(0), strict=True):
        if exact:
            v.mul_(decay)
        elif leak_shift is not None:
            v.sub_(v * decay)
        v.add_(i_t)
        torch.sub(v, theta, out=x_t)
        torch.ge(x_t, zero, out=fired)
        if reset is ResetMode.SUBTRACT:
            torch.where(fired, x_t, v, out=v)
        else:
            v.masked_fill_(fired, zero)
    return x, v


class _LIFSequence(torch.autograd.Function):
    """Forward loop without a graph; hand-written reverse-time backward (module docstring)."""

    @staticmethod
    def forward(ctx, currents, theta, model, leak_shift, reset, surrogate):
        shift = leak_shift if model is NeuronModel.LIF else None
        with torch.no_grad():
            x, v = lif_forward(currents.detach(), theta.detach(), leak_shift=shift, reset=reset)
            fired = x >= 0
            deriv = surrogate.derivative(x)
        spikes = fired.to(currents.dtype)
        ctx.save_for_backward(deriv, fired)
        ctx.lam = 1.0 if shift is None else 1.0 - 2.0 ** -shift
        ctx.reset = reset
        ctx.theta_shape = theta.shape
        return spikes, v

    @staticmethod
    def backward(ctx, grad_spikes, grad_v):
        deriv, fired = ctx.saved_tensors
        g = torch.zeros_like(deriv) if grad_spikes is None else grad_spikes * deriv
        grad_i = torch.empty_like(g)
        T = g.shape[0]
        subtract = ctx.reset is ResetMode.SUBTRACT
        keep = None if subtract else (~fired).to(g.dtype)  # a_t of the ZERO reset
        last = g[T - 1] if grad_v is None else (
            g[T - 1] + (grad_v if subtract else keep[T - 1] * grad_v))
        grad_i[T - 1] = last
        g_t, out_t = g.unbind(0), grad_i.unbind(0)
        if subtract:
            lam = g.new_full((), ctx.lam)
            for t in range(T - 2, -1, -1):
                torch.addcmul(g_t[t], out_t[t + 1], lam, out=out_t[t])
        else:
            a_t = (keep * ctx.lam).unbind(0)
            for t in range(T - 2, -1, -1):
                torch.addcmul(g_t[t], a_t[t], out_t[t + 1], out=out_t[t])
        grad_theta = None
        if ctx.needs_input_grad[1]:
            grad_theta = _theta_gradient(g, grad_i, fired, grad_v, lam=ctx.lam,
                                         subtract=subtract, shape=ctx.theta_shape)
        return grad_i, grad_theta, None, None, None, None


def _theta_gradient(g: torch.Tensor, grad_i: torch.Tensor, fired: torch.Tensor,
                    grad_v: torch.Tensor | None, *, lam: float, subtract: bool,
                    shape: torch.Size) -> torch.Tensor:
    """Return ``dL/dtheta`` of the module docstring, summed to the threshold's ``shape``."""
    if len(shape) == 0:
        grad = -g.sum()
        if subtract:
            # dL/dv_t = lam * dL/di_{t+1} for t < T-1, and the caller's dL/dv_T.
            grad = grad - lam * (fired[:-1] * grad_i[1:]).sum()
            if grad_v is not None:
                grad = grad - (fired[-1] * grad_v).sum()
        return grad
    per_step = -g
    if subtract:
        per_step = per_step.clone()
        per_step[:-1] -= lam * (fired[:-1] * grad_i[1:])
        if grad_v is not None:
            per_step[-1] -= fired[-1] * grad_v
    return per_step.sum(dim=0).sum_to_size(shape)
