#!/usr/bin/env bash
# GPU check: trains each quick preset on the accelerator with bf16 and torch.compile, checks that it
# learns (its loss falls), then prints the throughput table. Under 8 minutes on one GPU.
#   bash bench/gpu-check.sh                      # on a GPU machine
#   bash bench/gpu-check.sh --device cpu --no-compile --steps 30   # the same checks on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda COMPILE=--compile STEPS=300 PRECISION=bf16
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --precision) PRECISION=$2; shift 2 ;;
    --no-compile) COMPILE=; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x .venv/bin/zoo ] || { python3 -m venv .venv && .venv/bin/pip install -q -e .; }
ZOO=.venv/bin/zoo
$ZOO env
PRESETS="gan-mnist-quick vae-mnist gpt-shakespeare wavenet-digits"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for preset in $PRESETS; do
  start=$SECONDS
  $ZOO train "$preset" --device "$DEVICE" --precision "$PRECISION" $COMPILE --steps "$STEPS" \
    --set train.log_every=10 --set train.sample_every=0 --set train.eval_every=0 --out "$OUT/$preset" --quiet
  .venv/bin/python bench/learns.py "$OUT/$preset"
  echo "$preset: trained $STEPS steps in $((SECONDS - start)) s"
done
$ZOO bench $PRESETS --device "$DEVICE" --precision "$PRECISION" --steps 20 --repeats 3
