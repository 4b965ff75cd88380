#!/usr/bin/env bash
# The wheels bench/gpu_check.sh installs on a GPU machine that lacks them (it has no network):
# the test runner and the few small packages the training, sampling and serving-artifact code
# import besides torch. Built here, for CPython 3.12 on x86-64, into ./gpu-wheels (ignored by
# git); the check installs only those whose module it cannot import.
#
#   bash bench/gpu_wheels.sh [PYTHON_VERSION]      # default 3.12
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:-3.12}
OUT=gpu-wheels
rm -rf "$OUT" && mkdir -p "$OUT"
PIP=(.venv/bin/pip download --quiet --disable-pip-version-check --no-deps --dest "$OUT"
     --only-binary=:all: --python-version "$VERSION" --platform manylinux2014_x86_64
     --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any)
# pure Python: pytest and what it needs
"${PIP[@]}" pytest pluggy iniconfig packaging
# small compiled ones with wide ABI tags, only installed where missing
"${PIP[@]}" "safetensors>=0.4" "pillow>=10" "numpy>=1.26,<3"
ls -l "$OUT"
du -sh "$OUT"
