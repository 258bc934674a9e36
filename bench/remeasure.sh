#!/usr/bin/env bash
# Full-budget re-measurement: train each preset (seed 0), then `zoo evaluate` (--check where it has anchors); one at a time.
# Usage: bash bench/remeasure.sh PRESET... (results and logs under /tmp/anchors, a line per preset in /tmp/anchors/summary.txt)
cd "$(dirname "$0")/.."
mkdir -p /tmp/anchors
for p in "$@"; do
  out=/tmp/anchors/$p
  rm -rf "$out"
  start=$(date +%s)
  .venv/bin/zoo train "$p" --out "$out" --quiet > /tmp/anchors/$p.train.log 2>&1
  mid=$(date +%s)
  check=$(.venv/bin/zoo info "$p" --json | python3 -c "import json,sys; print('--check' if json.load(sys.stdin).get('eval',{}).get('anchors') else '')")
  .venv/bin/zoo evaluate "$out" $check --json > /tmp/anchors/$p.eval.json 2> /tmp/anchors/$p.eval.err
  rc=$?
  end=$(date +%s)
  echo "$p train_wall=$((mid-start))s eval_wall=$((end-mid))s check_rc=$rc $(grep -o 'train_seconds[^,]*' $out/summary.json | head -1) $(tail -1 /tmp/anchors/$p.eval.err)" >> /tmp/anchors/summary.txt
done
