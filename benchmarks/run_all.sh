#!/usr/bin/env bash
# Run every benchmark; pass --quick to check they run without measuring seriously.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in plan_scale spawn_local spawn_kubernetes submit_local; do
    .venv/bin/python -m "benchmarks.$bench" "$@"
done
