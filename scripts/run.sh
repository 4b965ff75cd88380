#!/usr/bin/env bash
# Quick start: train a short run on MNIST and write a grid of generated digits.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${DCGAN_RUNS_DIR:-runs}/quickstart
if [ -d "$RUN_DIR/checkpoints" ]; then
  .venv/bin/dcgan train --out "$RUN_DIR" --iterations 300 --batch-size 64 --checkpoint-every 50 --resume
else
  .venv/bin/dcgan train --out "$RUN_DIR" --iterations 300 --batch-size 64 --checkpoint-every 50
fi
.venv/bin/dcgan sample "$RUN_DIR" --out "$RUN_DIR/samples.png"
echo "open $RUN_DIR/samples.png"
