"""Input events of the NCG readout: latency-coded pixels or a frozen spiking front end's spikes.

A front end is a quantised :class:`spikesmith.model.SpikingMLP` trained with the dataset's
recipe (:func:`spikesmith.recipes.recipe_for`, hidden widths and timesteps replaced) on the
training part of :func:`spikesmith.datasets.split_80_20` only, then frozen. Its hardware-exact
integer mode (``evaluate_hardware``) is run on the training and test images and the spikes of
its last hidden layer become the readout's input events.

Rate-to-latency conversion (``Conversion.RATE``, the default): a hidden neuron that fired
``c`` of the ``T`` timesteps spikes at bin ``((T - c) K) // T``; ``c = 0`` is silent (bin
``K``). Strongest features first, as with latency-coded pixels (intensity ``c / T``).
``Conversion.FIRST`` (time to first spike): bin ``(t_first K) // T``, silent if it never fired.
The float reference gets the same events as times ``bin / K`` (``T_MAX`` for silent).

Front-end names: ``snn-h<W>[x<W2>...][-t<T>][-e<E>]``, e.g. ``snn-h256x64`` (hidden widths
256 and 64, the recipe's ``T`` and epochs) or ``snn-h16-t4-e1``; the input name ``pixels``
means latency-coded pixels. The trained front end is cached as a checkpoint under
``cache_dir`` and reused when its recipe matches.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import load_dataset, split_80_20
from .sim import ncg, ncg_reference
from .sim.limits import EPOCHS, HIDDEN, TIMESTEPS, show_value

__all__ = [
    "DEFAULT_FRONTENDS",
    "PIXELS",
    "Conversion",
    "FrontEndSpec",
    "InputEvents",
    "bins_to_times",
    "frontend_cache_path",
    "load_input",
    "parse_input",
    "spikes_to_bins",
    "train_frontend",
]

#: Input name of latency-coded raw pixels.
PIXELS = "pixels"

#: Front end used for the results in docs/ncg.md, per dataset.
DEFAULT_FRONTENDS = {"digits": "snn-h128x64", "mnist5k": "snn-h512x128"}

_NAME = re.compile(r"snn-h([0-9]{1,9}(?:x[0-9]{1,9})*)(?:-t([0-9]{1,9}))?(?:-e([0-9]{1,9}))?")
#: Most hidden layers of a front end.
MAX_FRONTEND_LAYERS = 8


class Conversion(enum.Enum):
    """How a hidden neuron's spike train becomes one input spike time."""

    RATE = "rate"
    FIRST = "first"


@dataclass(frozen=True)
class FrontEndSpec:
    """A front end, parsed from its name.

    Attributes
    ----------
    name : str
        Name as written in ``summary.json`` ``input``.
    hidden : tuple[int, ...]
        Hidden widths; the last one is the number of readout inputs.
    timesteps : int or None
        ``T`` of the spiking network; None keeps the recipe's.
    epochs : int or None
        Training epochs; None keeps the recipe's.
    conversion : Conversion
        Spike-train to spike-time conversion.
    """

    name: str
    hidden: tuple[int, ...]
    timesteps: int | None = None
    epochs: int | None = None
    conversion: Conversion = Conversion.RATE

    @property
    def n_features(self) -> int:
        """Readout inputs (width of the last hidden layer)."""
        return self.hidden[-1]


def parse_input(name: str) -> FrontEndSpec | None:
    """Return the front end named ``name``, or None for ``"pixels"``.

    Raises
    ------
    ValueError
        If ``name`` is neither ``pixels`` nor ``snn-h<W>[x<W2>...][-t<T>][-e<E>]`` with at most
        :data:`MAX_FRONTEND_LAYERS` widths in ``sim.limits.HIDDEN``, ``T`` in
        ``sim.limits.TIMESTEPS`` and ``E`` in ``sim.limits.EPOCHS``; the message quotes at most
        a short excerpt of ``name``.
    """
    if name == PIXELS:
        return None
    m = _NAME.fullmatch(name) if isinstance(name, str) and len(name) <= 200 else None
    if m is None:
        raise ValueError(f"input must be 'pixels' or 'snn-h<W>[x<W2>...][-t<T>][-e<E>]' "
                         f"(e.g. snn-h256x64), not {show_value(name)}")
    hidden = tuple(int(w) for w in m.group(1).split("x"))
    t = int(m.group(2)) if m.group(2) else None
    e = int(m.group(3)) if m.group(3) else None
    bad = [f"{len(hidden)} widths"] if len(hidden) > MAX_FRONTEND_LAYERS else []
    bad += [f"width {w}" for w in hidden if w not in HIDDEN][:1]
    bad += [f"-t{t}"] if t is not None and t not in TIMESTEPS else []
    bad += [f"-e{e}"] if e is not None and e not in EPOCHS else []
    if bad:
        raise ValueError(f"input {show_value(name)}: {', '.join(bad)} out of range; accepted "
                         f"1..{MAX_FRONTEND_LAYERS} widths each {HIDDEN.describe()}, -t "
                         f"{TIMESTEPS.describe()}, -e {EPOCHS.describe()}")
    return FrontEndSpec(name=name, hidden=hidden, timesteps=t, epochs=e)


def spikes_to_bins(spikes: np.ndarray, *, time_bins: int,
                   conversion: Conversion = Conversion.RATE) -> np.ndarray:
    """Convert spikes ``(T, n, F)`` (0/1) to input bins ``(n, F)`` ``int64``, ``K`` = silent.

    Parameters
    ----------
    spikes : np.ndarray
        Integer spikes per timestep, e.g. one layer of ``sim.network.Trace.spikes``.
    time_bins : int
        ``K`` of the readout.
    conversion : Conversion
        ``RATE``: ``((T - c) K) // T`` with ``c`` the spike count; ``FIRST``: ``(t K) // T``
        with ``t`` the first spiking timestep. Both give ``K`` for a neuron that never fired
        and bins in ``0..K-1`` otherwise.

    Raises
    ------
    ValueError
        On a non-3-D array, values other than 0/1 or ``time_bins < 1``.
    """
    s = np.asarray(spikes)
    if s.ndim != 3:
        raise ValueError(f"spikes must have shape (T, n, F), not {s.shape}")
    if s.size and (s.min() < 0 or s.max() > 1):
        raise ValueError("spikes must be 0 or 1")
    if not isinstance(time_bins, int) or time_bins < 1:
        raise ValueError(f"time_bins must be an integer >= 1, not {time_bins!r}")
    if not isinstance(conversion, Conversion):
        raise TypeError(f"conversion must be a Conversion, not {conversion!r}")
    T = s.shape[0]
    fired = s.any(axis=0)
    if conversion is Conversion.RATE:
        c = s.sum(axis=0, dtype=np.int64)
        b = ((T - c) * time_bins) // T
    else:
        b = (s.argmax(axis=0).astype(np.int64) * time_bins) // T
    return np.where(fired, b, time_bins).astype(np.int64)


def bins_to_times(bins: np.ndarray, *, time_bins: int) -> np.ndarray:
    """Float reference spike times of integer bins: ``bin / K`` (``T_MAX`` for ``bin = K``)."""
    b = np.asarray(bins)
    return np.where(b >= time_bins, ncg_reference.T_MAX, b / time_bins).astype(np.float32)


def _recipe(spec: FrontEndSpec, dataset: str, seed: int):
    from .recipes import recipe_for

    rec = recipe_for(dataset)
    kw: dict[str, object] = {"hidden": spec.hidden, "seed": seed}
    if spec.timesteps is not None:
        kw["timesteps"] = spec.timesteps
    if spec.epochs is not None:
        kw["epochs"] = spec.epochs
    return dataclasses.replace(rec, **kw)


def frontend_cache_path(spec: FrontEndSpec | None, *, dataset: str, seed: int,
                        cache_dir: str | Path | None) -> Path | None:
    """Return where :func:`train_frontend` caches ``spec`` under ``cache_dir`` (None without a
    front end or a cache folder).

    A cache file that is unreadable or holds another recipe is retrained and replaced; a path
    that exists but is not a regular file (a directory, a link to a device) is refused.

    Raises
    ------
    ValueError
        If the cache path exists and is not a regular file.
    """
    if spec is None or cache_dir is None:
        return None
    path = Path(cache_dir) / f"frontend-{dataset}-{spec.name}-seed{seed}.safetensors"
    if (path.exists() or path.is_symlink()) and not path.is_file():
        raise ValueError(f"{path} is not a regular file; expected the cached front end "
                         f"{spec.name} (a .safetensors checkpoint) or nothing there")
    return path


def train_frontend(spec: FrontEndSpec, *, dataset: str, seed: int = 0,
                   cache_dir: str | Path | None = None,
                   progress: Callable[[str], None] | None = None):
    """Train (or load from ``cache_dir``) the frozen front end; return the ``SpikingMLP``.

    Training uses the training part of :func:`spikesmith.datasets.split_80_20` only; the
    per-epoch accuracy that :func:`spikesmith.model.train.train` reports is measured on its first
    500 training images, so no test image is ever seen. Deterministic for ``seed``.

    Raises
    ------
    ValueError
        If the cache path exists and is not a regular file (:func:`frontend_cache_path`).
    """
    from .model import CheckpointError, load_checkpoint, read_checkpoint_extra, save_checkpoint
    from .recipes import train_recipe

    say = progress or (lambda _msg: None)
    rec = _recipe(spec, dataset, seed)
    key = {"frontend": spec.name, "dataset": dataset, "recipe": rec.to_dict()}
    path = frontend_cache_path(spec, dataset=dataset, seed=seed, cache_dir=cache_dir)
    if path is not None and path.exists():
        try:
            if read_checkpoint_extra(path).get("key") == key:
                say(f"front end {spec.name}: cached {path}")
                return load_checkpoint(path)
            say(f"front end {spec.name}: cache {path} holds another recipe, retraining")
        except CheckpointError as exc:
            say(f"front end {spec.name}: cache unreadable, retraining ({exc})")
    x_tr, y_tr, _, _ = split_80_20(dataset)
    base = load_dataset(dataset)
    train_only = dataclasses.replace(base, x_train=x_tr, y_train=y_tr,
                                     x_test=x_tr[:500], y_test=y_tr[:500])
    say(f"front end {spec.name}: training {rec.epochs} epochs on {len(y_tr)} training images")
    net, res = train_recipe(rec, train_only, progress=False)
    say(f"front end {spec.name}: train accuracy {res.train_accuracy[-1]:.4f}")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, net, extra={"key": key})
    return net


@dataclass(frozen=True, eq=False)
class InputEvents:
    """Readout inputs of the 80/20 split, as integer bins and as float reference times.

    Attributes
    ----------
    name : str
        ``"pixels"`` or the front end's name.
    time_bins : int
        ``K``.
    bins_train, bins_test : np.ndarray
        ``int64 (n, F)`` bins, ``K`` = silent.
    times_train, times_test : np.ndarray
        ``float32 (n, F)`` times in ``[0, 1)``, ``T_MAX`` = silent.
    y_train, y_test : np.ndarray
        Labels.
    frontend_test_accuracy : float or None
        The front end's own integer-mode test accuracy (its output layer), None for pixels.
    """

    name: str
    time_bins: int
    bins_train: np.ndarray
    bins_test: np.ndarray
    times_train: np.ndarray
    times_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    frontend_test_accuracy: float | None = None

    @property
    def n_features(self) -> int:
        """Readout inputs per sample."""
        return int(self.bins_train.shape[1])


def load_input(*, dataset: str, input: str = PIXELS, time_bins: int, seed: int = 0,
               cache_dir: str | Path | None = None,
               progress: Callable[[str], None] | None = None) -> InputEvents:
    """Return the readout's input events for ``dataset`` and input kind ``input``.

    Pixels: :func:`spikesmith.sim.ncg.latency_bins` and
    :func:`spikesmith.sim.ncg_reference.latency_times`. A front end: trained on the training
    split (:func:`train_frontend`), frozen, its last hidden layer's integer spikes converted by
    :func:`spikes_to_bins`; the float reference gets :func:`bins_to_times` of the same bins.

    Raises
    ------
    ValueError
        On an unknown dataset or input name.
    """
    spec = parse_input(input)
    x_tr, y_tr, x_te, y_te = split_80_20(dataset)
    if spec is None:
        return InputEvents(
            name=PIXELS, time_bins=time_bins,
            bins_train=ncg.latency_bins(x_tr, time_bins=time_bins),
            bins_test=ncg.latency_bins(x_te, time_bins=time_bins),
            times_train=ncg_reference.latency_times(x_tr),
            times_test=ncg_reference.latency_times(x_te), y_train=y_tr, y_test=y_te,
        )
    net = train_frontend(spec, dataset=dataset, seed=seed, cache_dir=cache_dir,
                         progress=progress)
    tr = net.evaluate_hardware(x_tr, record_membranes=False)
    te = net.evaluate_hardware(x_te, record_membranes=False)
    b_tr = spikes_to_bins(tr.spikes[-2], time_bins=time_bins, conversion=spec.conversion)
    b_te = spikes_to_bins(te.spikes[-2], time_bins=time_bins, conversion=spec.conversion)
    return InputEvents(
        name=spec.name, time_bins=time_bins, bins_train=b_tr, bins_test=b_te,
        times_train=bins_to_times(b_tr, time_bins=time_bins),
        times_test=bins_to_times(b_te, time_bins=time_bins), y_train=y_tr, y_test=y_te,
        frontend_test_accuracy=float(np.mean(te.predictions == y_te)),
    )
