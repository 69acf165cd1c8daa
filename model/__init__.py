"""PyTorch training layer: quantisation-aware spiking networks with a hardware-exact mode.

The public names are re-exported here; see ``network`` (``SpikingMLP``), ``layers``,
``surrogate``, ``quant``, ``train`` and ``checkpoint``. Per-dataset recipes live in the app
layer (``spikesmith.recipes``): this layer names no dataset.
"""

from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint_extra, save_checkpoint
from .layers import LIFNeuron, QuantDense
from .network import FloatRun, SpikingMLP
from .surrogate import Surrogate, SurrogateKind, atan, fast_sigmoid, sigmoid
from .train import TrainResult, evaluate, hardware_accuracy, train

__all__ = [
    "CheckpointError",
    "FloatRun",
    "LIFNeuron",
    "QuantDense",
    "SpikingMLP",
    "Surrogate",
    "SurrogateKind",
    "TrainResult",
    "atan",
    "evaluate",
    "fast_sigmoid",
    "hardware_accuracy",
    "load_checkpoint",
    "read_checkpoint_extra",
    "save_checkpoint",
    "sigmoid",
    "train",
]
