"""PyTorch training layer: quantisation-aware spiking networks with a hardware-exact mode.

The public names are re-exported here; see ``network`` (``SpikingMLP``), ``convnet``
(``SpikingConvNet`` from a spec string of ``arch``), ``layers``, ``conv``, ``fold``
(BatchNorm folding), ``surrogate``, ``quant``, ``train`` and ``checkpoint``. Per-dataset
recipes live in the app layer (``spikesmith.recipes``): this layer names no dataset.
"""

from .arch import PRESETS, ArchSpec, parse_arch, resolve_arch
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint_extra, save_checkpoint
from .conv import Flatten, QuantConv2d, SpikePool
from .convnet import SpikingConvNet
from .fold import fold_batchnorm
from .layers import LIFNeuron, QuantDense
from .network import FloatRun, SpikingMLP
from .surrogate import Surrogate, SurrogateKind, atan, fast_sigmoid, sigmoid
from .train import TrainResult, evaluate, hardware_accuracy, train

__all__ = [
    "PRESETS",
    "ArchSpec",
    "CheckpointError",
    "Flatten",
    "FloatRun",
    "LIFNeuron",
    "QuantConv2d",
    "QuantDense",
    "SpikePool",
    "SpikingConvNet",
    "SpikingMLP",
    "Surrogate",
    "SurrogateKind",
    "TrainResult",
    "atan",
    "evaluate",
    "fast_sigmoid",
    "fold_batchnorm",
    "hardware_accuracy",
    "load_checkpoint",
    "parse_arch",
    "read_checkpoint_extra",
    "resolve_arch",
    "save_checkpoint",
    "sigmoid",
    "train",
]
