#!/usr/bin/env bash
# Create .venv, install the locked dependencies and dev tools (requirements-dev.lock) and the
# project, add Debian's Fashion-MNIST when possible, and fetch + verify MNIST into
# $DCGAN_DATA_DIR (default ./data).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# exactly the packages of the lock (the dependencies, the dev, bench and flower extras), checked
# against their hashes; then the project itself, editable, built with the lock's setuptools.
# Skipped when the lock and pyproject.toml are those the venv was last installed from.
installed=$(cat requirements-dev.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.installed-from 2>/dev/null)" != "$installed" ]; then
  echo "installing dcgan-service and its dependencies into .venv (torch 2.14.1 is large: minutes the first time)"
  .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r requirements-dev.lock
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$installed" > .venv/.installed-from
fi

# Debian packages: Fashion-MNIST, and Chromium for the dashboard's browser tests
PACKAGES="dataset-fashion-mnist chromium chromium-driver"
missing=""
for package in $PACKAGES; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages:$missing"
    # shellcheck disable=SC2086
    apt-get install -y -q $missing >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
  else
    echo "note: missing Debian packages:$missing (as root: apt-get install$missing)"
  fi
fi

.venv/bin/dcgan data
# the evaluation classifier (cached in the data directory; about two minutes the first time)
.venv/bin/dcgan classifier --dataset mnist
