#!/usr/bin/env bash
# Issue 22 (image-to-image translation): the translation presets at their full default budgets, one at a
# time, each followed by `zoo evaluate RUN --json` (the translation metric: PSNR/SSIM beside the classical
# baselines, consistency, output FID, label kept, target share). Run on an otherwise idle machine:
#   bash bench/translation_anchors.sh [PRESET...]   # default: all five; results under /tmp/translation-anchors (OUT=...)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/translation-anchors}
mkdir -p "$OUT"

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(sr4-fashion-l1 denoise-fashion edges2fashion printed2mnist sr4-fashion)
for preset in "${presets[@]}"; do
  echo "== $preset  start $(date -u +%FT%TZ)  load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/times.txt"
  start=$(date +%s)
  .venv/bin/zoo train "$preset" --out "$OUT/$preset" --overwrite --quiet > "$OUT/$preset.train.log" 2>&1
  echo "   train rc=$? $(( $(date +%s) - start )) s  load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/times.txt"
  start=$(date +%s)
  .venv/bin/zoo evaluate "$OUT/$preset" --json > "$OUT/$preset.eval.json" 2> "$OUT/$preset.eval.err"
  echo "   evaluate rc=$? $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
  .venv/bin/zoo sample "$OUT/$preset" -n 24 --seed 0 --out "$OUT/$preset-sheet.png" > /dev/null 2>&1
  cat "$OUT/$preset.eval.json"
done
