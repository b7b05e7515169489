#!/usr/bin/env bash
# Run every benchmark, one at a time; pass --quick to check they run without measuring seriously.
set -euo pipefail
cd "$(dirname "$0")/.."
for bench in plan_scale sweep_efficiency spawn_local spawn_kubernetes submit_local submit_kubernetes status_scale; do
    .venv/bin/python -m "benchmarks.$bench" "$@"
done
