"""Shared by the conv-core tests: random conv layers and the golden trace of sim.conv + sim.lif.

Not a test module: ``make_config`` draws a :class:`ConvCoreConfig`, ``golden`` runs the golden
model (``sim.conv.conv_synaptic_input``, ``sim.lif.lif_step``, ``sim.conv.or_pool``) timestep
by timestep, ``model_marker_cycles`` asks the cycle model (``hw.conv.cycles``) when each
output marker should appear.
"""

from __future__ import annotations

import numpy as np

from spikesmith.hw.conv.config import ConvCoreConfig
from spikesmith.hw.conv.cycles import sample_cycles
from spikesmith.hw.conv.host import feature_events
from spikesmith.hw.conv.network_config import ConvNetworkConfig
from spikesmith.sim.conv import (
    ConvLayer,
    PoolLayer,
    conv_accumulator_bound,
    conv_synaptic_input,
    or_pool,
)
from spikesmith.sim.encoders import EncoderParams
from spikesmith.sim.fixed import FixedFormat
from spikesmith.sim.lif import LIFParams, LIFState, NeuronModel, ResetMode, lif_step
from spikesmith.sim.network import DenseLayer, NetworkParams


def make_config(*, c_in=2, c_out=3, size=6, kernel=3, stride=1, padding=1, lanes=2, pool=None,
                weight_bits=4, membrane_bits=10, threshold=6, model=NeuronModel.LIF,
                leak_shift=2, reset=ResetMode.SUBTRACT, bias=True, input_bits=1, seed=0,
                name="conv"):
    """Return a random conv core configuration (weights and bias drawn from ``seed``)."""
    rng = np.random.default_rng(seed)
    top = (1 << (weight_bits - 1)) - 1
    w = rng.integers(-top - 1, top + 1, size=(c_out, c_in, kernel, kernel))
    lif = LIFParams(threshold=threshold, model=model, leak_shift=leak_shift, reset=reset,
                    membrane=FixedFormat(membrane_bits))
    b = rng.integers(-4, 5, size=c_out) if bias else None
    layer = ConvLayer(weights=w, bias=b, weight_bits=weight_bits, stride=stride,
                      padding=padding, in_shape=(c_in, size, size), lif=lif)
    pl = None if pool is None else PoolLayer(kernel=pool, in_shape=layer.out_shape)
    input_max = 255 if input_bits > 1 else 1
    acc = conv_accumulator_bound(layer, input_max=input_max).bit_length() + 1
    return ConvCoreConfig(name=name, layer=layer, pool=pl, acc_bits=max(2, acc),
                          input_bits=input_bits, lanes=lanes)


def golden(cfg: ConvCoreConfig, x: np.ndarray, *, bias_offset: int = 0):
    """Return ``(emitted spikes, neuron spikes, membranes)``, each ``(T, batch, n)``, of the
    golden model on input ``x`` ``(T, batch, C_in*H*W)``.

    ``bias_offset`` perturbs the reference (added to every synaptic input) for the tests that
    prove the comparison fails on a wrong reference.
    """
    t_n, batch, _ = x.shape
    state = LIFState.zeros(batch=batch, n=cfg.layer.n_out)
    emitted, spikes, mems = [], [], []
    for t in range(t_n):
        i = conv_synaptic_input(x[t], cfg.layer) + bias_offset
        s, state = lif_step(i, state, cfg.lif)
        s = s.astype(np.uint8)
        spikes.append(s)
        mems.append(state.v)
        emitted.append(s if cfg.pool is None else or_pool(s, cfg.pool))
    return np.stack(emitted), np.stack(spikes), np.stack(mems)


def model_marker_cycles(cfg: ConvCoreConfig, x: np.ndarray) -> list[int]:
    """Return the cycle model's output-marker cycles of input ``x`` ``(T, batch, n_in)`` fed as
    one stream (samples one after the other), from the first input item's acceptance."""
    _, spikes, _ = golden(cfg, x)
    steps = []
    for b in range(x.shape[1]):
        for t in range(x.shape[0]):
            ev = [(c, y, xx) for c, y, xx, _v, eot, _l
                  in feature_events(x[t:t + 1, b:b + 1], cfg.in_shape) if not eot]
            steps.append((ev, spikes[t, b]))
    return sample_cycles(cfg, steps)


def event_payloads(cfg: ConvCoreConfig, x: np.ndarray) -> list[dict[str, int]]:
    """Return the input-stream payloads (field dicts for an Amaranth testbench) of ``x``."""
    out = []
    for c, y, xx, value, eot, last in feature_events(x, cfg.in_shape):
        payload = {"c": c, "y": y, "x": xx, "eot": eot, "last": last}
        if cfg.input_bits > 1:
            payload["value"] = value
        out.append(payload)
    return out


def random_input(cfg: ConvCoreConfig, rng: np.random.Generator, *, timesteps: int, batch: int,
                 density: float) -> np.ndarray:
    """Return random input ``(T, batch, n_in)``: spikes, or 8-bit currents for direct input,
    each input non-zero with probability ``density``."""
    mask = rng.random((timesteps, batch, int(np.prod(cfg.in_shape)))) < density
    if cfg.input_bits == 1:
        return mask.astype(np.uint8)
    return (rng.integers(0, 256, size=mask.shape) * mask).astype(np.uint8)


def make_network(*, seed: int, encoding=None, timesteps: int = 3, lanes=(2, 1, 4)):
    """Return a small conv network ``NetworkParams`` and its ``ConvNetworkConfig``:
    conv 3x3 (2 -> 3 channels, 8x8, padding 1) + 2x2 OR pool, conv 2x2 stride 2
    (3 -> 2 channels), dense 8 -> 5."""
    rng = np.random.default_rng(seed)
    lif = LIFParams(threshold=3, leak_shift=2, reset=ResetMode.SUBTRACT,
                    membrane=FixedFormat(10))
    enc = EncoderParams() if encoding is None else EncoderParams(encoding=encoding)
    conv1 = ConvLayer(weights=rng.integers(-3, 5, size=(3, 2, 3, 3)), bias=rng.integers(-2, 3, 3),
                      weight_bits=4, padding=1, in_shape=(2, 8, 8), lif=lif)
    pool = PoolLayer(kernel=2, in_shape=conv1.out_shape)
    conv2 = ConvLayer(weights=rng.integers(-3, 6, size=(2, 3, 2, 2)), weight_bits=4, stride=2,
                      in_shape=pool.out_shape, lif=lif)
    dense = DenseLayer(weights=rng.integers(-4, 6, size=(5, conv2.n_out)), weight_bits=4,
                       lif=lif)
    params = NetworkParams(layers=(conv1, pool, conv2, dense), encoder=enc, timesteps=timesteps)
    return params, ConvNetworkConfig.from_params(params, lanes=lanes)
