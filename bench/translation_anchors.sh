#!/usr/bin/env bash
# Issue 22 (image-to-image translation): the translation presets at their full default budgets, one at a
# time, each followed by `zoo evaluate RUN --json` (the translation metric: PSNR/SSIM beside the classical
# baselines, consistency, output FID, label kept, target share) and a source | output | target sheet.
# Run on an otherwise idle machine:
#   bash bench/translation_anchors.sh [PRESET...]   # default: all five; results under /tmp/translation-anchors (OUT=...)
set -uo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(sr4-fashion-l1 denoise-fashion edges2fashion printed2mnist sr4-fashion)
OUT=${OUT:-/tmp/translation-anchors} bash bench/preset_anchors.sh "${presets[@]}"
