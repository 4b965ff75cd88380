#!/usr/bin/env bash
# Create .venv, install the project with its dev tools, add Debian's Fashion-MNIST when
# possible, and fetch + verify MNIST into $DCGAN_DATA_DIR (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
echo "installing dcgan-service and its dependencies into .venv (torch 2.14.1 is large: minutes the first time)"
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's dataset-fashion-mnist"
    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }
  else
    echo "note: Fashion-MNIST is not installed; as root run: apt-get install dataset-fashion-mnist"
  fi
fi

.venv/bin/dcgan data
