#!/usr/bin/env bash
# Every check of the project, in the order that fails fastest: formatting, lint,
# types, import layers, the front end (lint, unit tests, build), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
bin=.venv/bin

echo "==> ruff format --check"; $bin/ruff format --check .
echo "==> ruff check"; $bin/ruff check .
echo "==> mypy --strict"; $bin/mypy
echo "==> lint-imports"; $bin/lint-imports
echo "==> front end: lint, unit tests, build"
(
    cd labextension
    [ -d node_modules ] || npm ci --no-audit --no-fund
    npm run --silent lint
    npx jest --ci
    PATH="$PWD/../.venv/bin:$PATH" npm run --silent build:prod
)
$bin/jupyter labextension develop --overwrite . >/dev/null
echo "==> the prebuilt extension is installed and enabled"
extensions=$($bin/jupyter labextension list 2>&1)
if ! grep -E "mofang-lab .*enabled.*OK" <<<"$extensions" >/dev/null; then
    echo "$extensions" >&2
    echo "mofang-lab is not installed and enabled in .venv" >&2
    exit 1
fi
echo "==> pytest"
$bin/python -m pytest "$@"
