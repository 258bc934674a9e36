#!/usr/bin/env bash
# Issue 14 ("Audio that works"): the changed audio presets at their full default budgets, one at a time,
# each followed by `zoo evaluate RUN --json`. Run from anywhere on an otherwise idle machine:
#   bash bench/audio_anchors.sh [PRESET...]   # default: all three; results under /tmp/audio-anchors (OUT=... to move them)
# The first evaluation trains the v2 digit classifier (~2.5 min, one thread) and the judge (~10 s), once.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/audio-anchors}
mkdir -p "$OUT"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}

presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(cspecgan-digits wavenet-digits wavegan-digits)
OUT="$OUT" bash bench/preset_anchors.sh "${presets[@]}"

# Point 1's spread check: the share of the most frequent classifier label (and judge label) over 500 WaveGAN clips
# (target: no digit above 25%), and per-digit accuracy of the two conditional models (50 clips per digit).
.venv/bin/python - "$OUT" "${presets[@]}" <<'PY' | tee "$OUT/spread.txt"
import sys, torch, zoo
from zoo.data import load_dataset
from zoo_audio.fsdd import AudioDataConfig
from zoo_audio.classifier import cached_classifier, predict
from zoo_audio.judge import cached_judge, judge_labels
out = sys.argv[1]
cfg = AudioDataConfig(dataset="fsdd", clip_samples=8192)
train, test = load_dataset(cfg, "train"), load_dataset(cfg, "test")
clf, _ = cached_classifier("fsdd", train, test)
judge, _ = cached_judge("fsdd", train, test)
for preset in sys.argv[2:]:
    s = zoo.load(f"{out}/{preset}").sample(500, torch.Generator().manual_seed(0))
    heard, judged = predict(clf, s.waves)[1].argmax(1), judge_labels(judge, s.waves)
    print(preset, "classifier label shares", [round(v, 3) for v in (torch.bincount(heard, minlength=10) / 500).tolist()])
    print(preset, "judge label shares     ", [round(v, 3) for v in (torch.bincount(judged, minlength=10) / 500).tolist()])
    if s.labels is not None:
        print(preset, "per digit (classifier)", [round((heard[s.labels == k] == k).float().mean().item(), 2) for k in range(10)])
        print(preset, "per digit (judge)     ", [round((judged[s.labels == k] == k).float().mean().item(), 2) for k in range(10)])
PY

# Point 2's speed requirement: cached generation must stay >= 10x the uncached rate (one JSON line).
if [[ " ${presets[*]} " == *" wavenet-digits "* ]]; then
  .venv/bin/python bench/wavenet_generation.py --run "$OUT/wavenet-digits" | tee "$OUT/wavenet_generation.json"
fi
