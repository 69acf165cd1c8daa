"""NIR in and out of a run folder: the ``import`` stage and ``export --nir``.

``import`` reads a NIR graph (``compiler.frontend.nir``), calibrates the membrane width on the
dataset's training split and writes what the ``train`` stage writes, a ``SpikingMLP`` (a
``SpikingConvNet`` for a graph with Conv2d) checkpoint and ``config.json``, as a transaction
with the ``train`` stage's record: every later stage (export, verify, estimate, report) runs
unchanged on it and the run folder's guarantees (``docs/reliability.md``) hold as for a trained
network. The record's options hold
the NIR file's SHA-256, so a changed file reruns the import and invalidates what follows.

Quantisation rule (post-training, calibrated): weights with the contract's per-layer scale
``max|w| / (2**(b-1) - 1)`` (``sim.quant``), ``b = --weight-bits`` (default 8); thresholds in
membrane LSBs ``max(1, rint(theta / (scale * input_scale)))``; the membrane width is the
smallest signed width that holds every threshold and every membrane the integer network
reaches on the calibration images (up to :data:`CALIBRATION_IMAGES` of the training split,
simulated with a 32-bit membrane), so nothing saturates on them; ``--membrane-bits`` overrides.

``export --nir`` runs the export stage (options ``lanes`` and ``nir``) and also writes
``network.nir`` (``compiler.nir_export``) from the lowered IR.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DATASETS, load_dataset
from .flow import CHECKPOINT, IR_FILE, FlowError, export_body, network_entries, warn_quantization
from .records import OUTPUTS
from .runfolder import RunFolder
from .sim.encoders import EncoderParams, Encoding
from .sim.files import atomic_write_bytes, atomic_write_text, read_input_bytes
from .sim.limits import CHECKPOINT_BYTES, MEMBRANE_BITS, TIMESTEPS, WEIGHT_BITS
from .stage import open_run, run_stage, say

__all__ = ["CALIBRATION_IMAGES", "NIR_FILE", "ImportOptions", "calibrate_membrane_bits",
           "float_graph", "network_from_graph", "resolve_options", "stage_export_nir",
           "stage_import"]

#: Name of the NIR graph ``export --nir`` writes into the run folder.
NIR_FILE = "network.nir"
#: Training images the membrane width is calibrated on.
CALIBRATION_IMAGES = 1000
#: The widest membrane: calibration runs with it.
_WIDE = MEMBRANE_BITS.hi
#: Smallest threshold a ``SpikingMLP`` accepts (``model.layers.MIN_THRESHOLD``).
_MIN_THETA = 1e-2


@dataclass(frozen=True)
class ImportOptions:
    """What the ``import`` stage reads and how it discretises and quantises.

    ``None`` fields come from the graph's ``spikesmith.*`` metadata when it has them (a graph
    we wrote), else from the defaults stated in the CLI help.
    """

    nir: str
    dataset: str = "digits"
    timesteps: int | None = None
    encoding: str | None = None
    dt: float | None = None
    weight_bits: int | None = None
    membrane_bits: int | None = None
    reset: str | None = None

    def check(self) -> ImportOptions:
        """Return ``self`` if every option is acceptable, else raise ``FlowError``."""
        if self.dataset not in DATASETS:
            raise FlowError(f"unknown dataset {self.dataset!r}: accepted datasets are "
                            f"{', '.join(DATASETS)}")
        for limit, v in ((TIMESTEPS, self.timesteps), (WEIGHT_BITS, self.weight_bits),
                         (MEMBRANE_BITS, self.membrane_bits)):
            if v is not None and v not in limit:
                raise FlowError(f"{limit.describe()} expected, not {v!r}")
        if self.encoding is not None and self.encoding not in {e.value for e in Encoding}:
            raise FlowError(f"encoding must be one of {[e.value for e in Encoding]}, "
                            f"not {self.encoding!r}")
        if self.reset is not None and self.reset not in ("zero", "subtract"):
            raise FlowError(f"reset must be 'zero' or 'subtract', not {self.reset!r}")
        if self.dt is not None and not self.dt > 0:
            raise FlowError(f"dt must be a positive time step, not {self.dt!r}")
        if not Path(self.nir).is_file():
            raise FlowError(f"NIR file {self.nir!r} is not a regular file")
        return self


def _nir():
    try:
        import nir
    except ImportError:
        raise FlowError("reading and writing NIR needs the optional extra: "
                        "pip install 'spikesmith[nir]'") from None
    return nir


def _input_meta(graph) -> dict[str, Any]:
    """The ``spikesmith.*`` metadata of the graph's Input node (empty for other writers)."""
    for node in graph.nodes.values():
        if type(node).__name__ == "Input":
            return {k.removeprefix("spikesmith."): (v.decode() if isinstance(v, bytes) else v)
                    for k, v in getattr(node, "metadata", {}).items()
                    if k.startswith("spikesmith.")}
    return {}


def resolve_options(opts: ImportOptions, graph) -> dict[str, Any]:
    """Options with ``None`` replaced from the metadata, then from the defaults (the membrane
    width is calibrated when neither the options nor the metadata give it)."""
    meta = _input_meta(graph)

    def first(key: str) -> int | None:
        return next((int(n.metadata[key]) for n in graph.nodes.values()
                     if key in getattr(n, "metadata", {})), None)

    return {
        "timesteps": opts.timesteps or int(meta.get("timesteps", 8)),
        "encoding": opts.encoding or str(meta.get("encoding", Encoding.DIRECT.value)),
        "encoder_seed": int(meta.get("encoder_seed", EncoderParams().seed)),
        "dt": opts.dt or float(meta.get("dt", 1e-4)),
        "weight_bits": opts.weight_bits or first("spikesmith.weight_bits") or 8,
        "membrane_bits": opts.membrane_bits or first("spikesmith.membrane_bits"),
        "reset": opts.reset,
    }


def float_graph(graph, resolved: dict[str, Any]):
    """Return ``compiler.frontend.nir.from_nir`` of ``graph`` with options from
    :func:`resolve_options` (the membrane is the widest; the stage then calibrates it).

    Raises
    ------
    compiler.frontend.nir.NIRImportError
        Listing every node or parameter that cannot be represented.
    """
    from .compiler.frontend.nir import from_nir
    from .sim.lif import ResetMode

    r = resolved
    encoder = EncoderParams(Encoding(r["encoding"]), r["encoder_seed"])
    return from_nir(graph, dt=r["dt"], timesteps=r["timesteps"], encoder=encoder,
                    weight_bits=r["weight_bits"], membrane_bits=_WIDE,
                    reset=ResetMode(r["reset"]) if r["reset"] else None)


def network_from_graph(g, *, membrane_bits: int):
    """Return the network whose torch frontend gives the float-stage graph ``g``: a
    ``SpikingMLP`` for a dense graph, a ``SpikingConvNet`` when ``g`` holds CONV or POOL nodes.

    A layer whose threshold is below the networks' minimum has its weights, bias and threshold
    multiplied by the same factor (the same spikes: our neuron is linear below threshold). A
    conv bias is carried by a ``BatchNorm2d`` with running statistics ``(0, 1)``, scale
    ``sqrt(1 + eps)`` and shift ``b`` (``model.fold`` folds it back to ``W`` and ``b`` up to
    float32 rounding of the scale, which quantisation absorbs).

    Raises
    ------
    FlowError
        If the layers do not share weight bits (a network has one width).
    """
    import torch

    from .compiler.ir import Op

    syn = [n for n in g.nodes if n.op in (Op.DENSE, Op.CONV)]
    lifs = g.of_op(Op.LIF)
    bits = {d.arg.bits for d in syn}
    if len(bits) != 1:
        raise FlowError(f"the layers have weight widths {sorted(bits)}; one is needed")
    net = (_conv_network if g.of_op(Op.CONV) or g.of_op(Op.POOL) else _mlp)(
        g, bits=bits.pop(), membrane_bits=membrane_bits)
    stages = _synapse_stages(net)
    with torch.no_grad():
        for (q, bn, neuron), d, lif in zip(stages, syn, lifs, strict=True):
            c = max(1.0, _MIN_THETA / lif.arg.threshold)
            q.weight.copy_(torch.from_numpy(d.arg.weights * c))
            neuron.threshold.fill_(lif.arg.threshold * c)
            if bn is not None:
                bias = getattr(d.arg, "bias", None)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0)
                bn.weight.fill_(math.sqrt(1.0 + bn.eps))
                bn.bias.copy_(torch.zeros(bn.num_features) if bias is None
                              else torch.from_numpy(bias * c))
    return net.eval()


def _shared(g, *, bits: int, membrane_bits: int) -> dict[str, Any]:
    from .compiler.ir import Op

    inp, first = g.of_op(Op.INPUT)[0].arg, g.of_op(Op.LIF)[0].arg
    return {"weight_bits": bits, "membrane_bits": membrane_bits, "timesteps": inp.timesteps,
            "encoder": inp.encoder, "model": first.model, "leak_shift": first.leak_shift,
            "reset": first.reset}


def _mlp(g, *, bits: int, membrane_bits: int):
    from .compiler.ir import Op
    from .model.network import SpikingMLP

    dense = g.of_op(Op.DENSE)
    return SpikingMLP([dense[0].arg.n_in, *(d.arg.n_out for d in dense)],
                      **_shared(g, bits=bits, membrane_bits=membrane_bits))


def _conv_network(g, *, bits: int, membrane_bits: int):
    """A ``SpikingConvNet`` of the graph's architecture, with a BatchNorm (carrying the bias)
    after every conv if any conv has a bias."""
    from .compiler.ir import Op
    from .model.arch import ConvSpec
    from .model.convnet import SpikingConvNet

    tokens = []
    for n in g.nodes:
        a = n.arg
        if n.op is Op.CONV:
            tokens.append(str(ConvSpec(int(a.weights.shape[0]), a.kernel, a.stride, a.padding)))
        elif n.op is Op.POOL:
            tokens.append(f"p{a.kernel}")
        elif n.op is Op.DENSE:
            tokens.append(str(a.n_out))
    bias = any(n.arg.bias is not None for n in g.of_op(Op.CONV))
    return SpikingConvNet("-".join(tokens), g.nodes[1].arg.in_shape, batch_norm=bias,
                          **_shared(g, bits=bits, membrane_bits=membrane_bits))


def _synapse_stages(net) -> list[tuple[Any, Any, Any]]:
    """``(synapse, BatchNorm or None, LIFNeuron)`` of every synapse layer, in order."""
    from .model.convnet import SpikingConvNet, SynapseStage

    if isinstance(net, SpikingConvNet):
        return [(s.synapse, s.bn, s.neuron) for s in net.stages()
                if isinstance(s, SynapseStage)]
    return [(q, None, neuron) for q, neuron in net.synapse_neuron_pairs()]


def calibrate_membrane_bits(net, images: np.ndarray) -> int:
    """Return the smallest membrane width holding every threshold and every membrane of the
    integer network on ``images`` (simulated with the widest membrane), at least
    ``MEMBRANE_BITS.lo``."""
    saved = net.membrane_bits
    net.membrane_bits = _WIDE
    try:
        layers = net.integer_layers()
        trace = net.evaluate_hardware(images, record_membranes=True)
    finally:
        net.membrane_bits = saved
    top = max(max(layer.lif.threshold for layer in layers if hasattr(layer, "lif")),
              *(int(np.abs(m).max()) for m in trace.membranes if m is not None and m.size))
    bits = MEMBRANE_BITS.lo
    while (1 << (bits - 1)) - 1 < top and bits < _WIDE:
        bits += 1
    return bits


def _import_body(opts: ImportOptions, data: bytes, digest: str):
    def body(out: Path):
        from .compiler.frontend.nir import read_nir
        from .model.checkpoint import save_checkpoint

        _nir()
        graph = read_nir(io.BytesIO(data))  # the bytes hashed in the record
        r = resolve_options(opts, graph)
        g = float_graph(graph, r)
        ds = load_dataset(opts.dataset, seed=0)
        problems = []
        in_shape = getattr(g.nodes[1].arg, "in_shape", None)
        if in_shape is not None and tuple(in_shape) != (1, *ds.shape):
            problems.append(f"the graph reads a {tuple(in_shape)} map, {opts.dataset} images "
                            f"are {(1, *ds.shape)}")
        elif g.nodes[1].arg.n_in != ds.n_features:
            problems.append(f"the graph takes {g.nodes[1].arg.n_in} inputs, {opts.dataset} "
                            f"images have {ds.n_features} pixels")
        if g.outputs[0].src[0].src[0].arg.n_out != ds.n_classes:
            problems.append(f"the graph has {g.outputs[0].src[0].src[0].arg.n_out} outputs, "
                            f"{opts.dataset} has {ds.n_classes} classes")
        if problems:
            raise FlowError("; ".join(problems))
        net = network_from_graph(g, membrane_bits=_WIDE)
        bits = r["membrane_bits"] or calibrate_membrane_bits(
            net, ds.x_train[:CALIBRATION_IMAGES])
        net = network_from_graph(g, membrane_bits=bits)
        source = {"nir": str(opts.nir), "nir_sha256": digest, **r, "membrane_bits": bits}
        atomic_write_text(out / RunFolder.CONFIG, json.dumps(
            {"dataset": opts.dataset, "source": "nir", "import": source}, indent=2,
            sort_keys=True) + "\n")
        save_checkpoint(out / CHECKPOINT, net, extra={"dataset": opts.dataset, "import": source})
        result, summary = network_entries(net, ds)
        result["import"] = source
        summary["source"] = "nir"
        return result, summary
    return body


def stage_import(run_dir: Any, opts: ImportOptions, *, force: bool = False) -> dict[str, Any]:
    """Import a NIR graph into the run folder as the ``train`` stage's outputs.

    Returns the record's ``result`` (accuracies on the test split: the float reading of the
    graph, fake-quantised, and the integer network; the resolved import options).

    Raises
    ------
    FlowError
        On bad options or a graph that does not fit the dataset, before anything is written.
    compiler.frontend.nir.NIRImportError
        Listing every node or parameter that cannot be represented; nothing is written.
    """
    opts.check()
    try:
        data = read_input_bytes(opts.nir, limit=CHECKPOINT_BYTES)
    except (OSError, ValueError) as exc:
        raise FlowError(f"NIR file {opts.nir!r}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    options = {**asdict(opts), "nir_sha256": digest}
    with open_run(run_dir, create=True) as run:
        return run_stage(run, "train", options=options, inputs=(),
                          body=_import_body(opts, data, digest), force=force).result


def _nir_bytes(graph) -> bytes:
    nir = _nir()
    buf = io.BytesIO()
    nir.write(buf, graph)
    return buf.getvalue()


def stage_export_nir(run_dir: Any, *, lanes: int = 8, force: bool = False) -> dict[str, Any]:
    """Run the export stage and also write ``network.nir`` (``compiler.nir_export.to_nir``).

    The record's options are ``{"lanes": lanes, "nir": true}``; ``network.nir`` is one of its
    outputs, hashed like ``network.ir``.
    """
    _nir()
    assert NIR_FILE in OUTPUTS["export"]

    with open_run(run_dir) as run:
        run.require(CHECKPOINT, stage="train")
        inner = export_body(run, lanes)

        def body(out: Path):
            from .compiler.irfile import load_ir
            from .compiler.nir_export import to_nir

            entries = inner(out)
            atomic_write_bytes(out / NIR_FILE, _nir_bytes(to_nir(load_ir(out / IR_FILE))))
            entries[0]["nir"] = NIR_FILE
            return entries

        record = run_stage(run, "export", options={"lanes": lanes, "nir": True},
                            inputs=(CHECKPOINT,), body=body, force=force)
        warn_quantization(record.result)
        say(f"export: {NIR_FILE} holds the integer network as a NIR graph")
        return record.result
