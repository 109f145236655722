#!/usr/bin/env bash
# Create benchmarks/.venv-peers with the peer tools the benchmarks compare against (MLflow).
# Peers live in their own venv so their pins never fight nb-mlops' own (DESIGN.md §6).
# Usage: bash benchmarks/setup_peers.sh   (idempotent; re-run to upgrade)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peers"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "mlflow>=3"
"$venv/bin/python" -c 'import mlflow; print("mlflow", mlflow.__version__, "in", "'"$venv"'")'
