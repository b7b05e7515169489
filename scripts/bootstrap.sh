#!/usr/bin/env bash
# Install everything Mofang needs into ./.venv and build the JupyterLab extension.
# Idempotent and quick when nothing changed; used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Mofang needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if ! command -v npm >/dev/null; then
    echo "Mofang's JupyterLab extension is built with Node.js 20+ and npm; install them first." >&2
    exit 1
fi

# Debian packages: Chromium for the browser tests, Open MPI for MPI jobs (mpirun,
# and mpicc to build mpi4py). Installed where we may; otherwise those tests skip.
missing=()
command -v chromium >/dev/null || [ -x "${MOFANG_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v mpirun >/dev/null || missing+=(openmpi-bin)
command -v mpicc >/dev/null || missing+=(libopenmpi-dev)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "==> installing Debian packages: ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "note: missing ${missing[*]}; the tests that need them will be skipped" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PYTHON" -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
fi

stamp=.venv/.mofang-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ labextension/package-lock.json -nt "$stamp" ]; then
    echo "==> installing mofang and its dependencies into .venv (first run takes a few minutes)"
    # The build hook runs `npm install` and `npm run build:prod` in labextension/
    # when the prebuilt extension is missing.
    .venv/bin/pip install --quiet --editable ".[dev]"
    touch "$stamp"
fi

# (Re)build the extension when its sources changed since the last build.
built=mofang_lab/labextension/static/style.js
if [ ! -f "$built" ] || [ -n "$(find labextension/src labextension/style labextension/package.json -newer "$built" -print -quit)" ]; then
    echo "==> building the JupyterLab extension"
    (cd labextension && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && PATH="$PWD/../.venv/bin:$PATH" npm run build:prod)
fi
if [ ! -e .venv/share/jupyter/labextensions/mofang-lab/package.json ]; then
    .venv/bin/jupyter labextension develop --overwrite . >/dev/null
fi
