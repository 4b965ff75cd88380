#!/usr/bin/env bash
# Compile the lock files from pyproject.toml: every package pinned with its hashes, for every
# platform (markers), Python 3.11 and newer.
#   requirements-dev.lock  the dependencies and the dev, bench, flower and tracking
#                          extras (make setup, CI)
#   requirements.lock      the dependencies and the flower and tracking extras (the image), the same
#                          versions as requirements-dev.lock
# Run after editing the dependencies in pyproject.toml (`make lock`); `make lock UPGRADE=1`
# also moves every package to its newest allowed release.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=${UV:-.venv/bin/uv}
upgrade=()
[ -n "${UPGRADE:-}" ] && upgrade=(--upgrade)
compile() {
  "$UV" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "make lock" "$@"
}
compile pyproject.toml --extra dev --extra bench --extra flower --extra tracking "${upgrade[@]}" -o requirements-dev.lock
compile pyproject.toml --extra flower --extra tracking -c requirements-dev.lock -o requirements.lock
echo "wrote requirements-dev.lock ($(grep -c '==' requirements-dev.lock) packages) and" \
     "requirements.lock ($(grep -c '==' requirements.lock) packages)"
