#!/usr/bin/env bash
# Create benchmarks/.venv-peers with daff, the row-diff benchmark's peer (bench_rowdiff.py).
# MLflow and DVC are not here: the benchmarks use .venv-mlflow and .venv-dvc, which ./dev setup
# builds for the tests. Peers live in their own venvs so their pins never fight ours (DESIGN.md §6).
# Usage: bash benchmarks/setup_peers.sh   (idempotent; re-run to upgrade)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peers"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet daff
"$venv/bin/python" -c 'import daff; print("daff in", "'"$venv"'")'
