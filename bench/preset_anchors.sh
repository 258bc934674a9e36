#!/usr/bin/env bash
# The shared loop of the anchor scripts: each preset at its full default budget, one at a time, then
# `zoo evaluate RUN --json` and a sample sheet; wall times and the load average go to OUT/times.txt.
#   OUT=/tmp/anchors bash bench/preset_anchors.sh PRESET...
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the results folder}
mkdir -p "$OUT"
for preset in "$@"; do
  echo "== $preset  start $(date -u +%FT%TZ)  load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/times.txt"
  start=$(date +%s)
  .venv/bin/zoo train "$preset" --out "$OUT/$preset" --overwrite --quiet > "$OUT/$preset.train.log" 2>&1
  echo "   train rc=$? $(( $(date +%s) - start )) s  load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/times.txt"
  start=$(date +%s)
  .venv/bin/zoo evaluate "$OUT/$preset" --json > "$OUT/$preset.eval.json" 2> "$OUT/$preset.eval.err"
  echo "   evaluate rc=$? $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
  .venv/bin/zoo sample "$OUT/$preset" -n 24 --seed 0 --out "$OUT/$preset-samples.png" > /dev/null 2>&1
  cat "$OUT/$preset.eval.json"
done
