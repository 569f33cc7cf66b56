#!/usr/bin/env bash
# Sets up a fresh machine for mctrack: system packages (RTSP test server), a virtual environment in .venv with
# torch/torchvision and mctrack installed (editable, with test extras). Idempotent and quick on a second run.
#
#   bash .ci/setup.sh
#
# Environment: MCTRACK_VENV (default .venv), PYTHON (default python3, must be >= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${MCTRACK_VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_PINS=(torch==2.14.1 torchvision==0.29.1)

if [[ $(id -u) == 0 ]] || command -v sudo >/dev/null 2>&1; then
  bash .ci/install-system-deps.sh || echo "setup: warning: system packages for the RTSP tests could not be installed" >&2
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi

stamp="$VENV/.mctrack-setup"
want=$(cat pyproject.toml .ci/setup.sh | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup: $VENV is up to date"
  exit 0
fi

# torch first, pinned: an unpinned resolve would pull a multi-GB CUDA build from the index.
"$VENV/bin/python" -m pip install -q "${TORCH_PINS[@]}"
"$VENV/bin/python" -m pip install -q -e ".[test]" "${TORCH_PINS[@]}"
echo "$want" > "$stamp"
echo "setup: done ($("$VENV/bin/python" -c 'import torch, ultralytics, onnxruntime; print("torch", torch.__version__, "ultralytics", ultralytics.__version__, "onnxruntime", onnxruntime.__version__)'))"
