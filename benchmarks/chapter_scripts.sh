#!/bin/bash
# Run the two training chapters' percent scripts (book/NN_topic.py) as plain Python, with a profile
# and overrides, on a machine that has torch but no Jupyter (papermill and myst_nb absent):
#
#   benchmarks/chapter_scripts.sh paper '{"pretrained": False, "epochs": 2, "lr": 0.01}'
#
# Glued values are printed. Datasets come from $SGMA_DATA_ROOT (default ./data), runs go to
# $SGMA_RUNS_ROOT (default ./runs). For the book, use `make train-paper`, which runs papermill.
set -euo pipefail
PROFILE=${1:?profile: smoke, cpu or paper}
OVERRIDES=${2:-"{}"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$ROOT/benchmarks/glue_stub:$ROOT MPLBACKEND=Agg
export SGMA_DATA_ROOT=${SGMA_DATA_ROOT:-$ROOT/data}
tmp=$(mktemp -d)
for ch in 02_baseline 04_sgma_training; do
  sed -e "s/^profile = \"cpu\".*/profile = \"$PROFILE\"/" -e "s/^overrides = {}.*/overrides = $OVERRIDES/" \
    "$ROOT/book/$ch.py" > "$tmp/$ch.py"
  grep -q "^profile = \"$PROFILE\"" "$tmp/$ch.py" || { echo "error: no parameters cell found in book/$ch.py"; exit 1; }
  t0=$(date +%s)
  if ! python3 "$tmp/$ch.py" > "$tmp/$ch.out" 2>&1; then tail -40 "$tmp/$ch.out"; echo "error: $ch failed"; exit 1; fi
  echo "== $ch: $(( $(date +%s) - t0 )) s"
  grep -v "^\[glue\] \(profile\|device\)" "$tmp/$ch.out" | grep "glue\|%\|T1\|±" || true
done
rm -rf "$tmp"
