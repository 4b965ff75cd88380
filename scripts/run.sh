#!/usr/bin/env bash
# Start the API and a worker (embedded broker unless REDIS_URL is set); submit a quick-start
# training job when no model exists yet. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/dcgan up "$@"
