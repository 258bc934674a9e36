#!/usr/bin/env bash
# Issue 26 (audio): the vocoder, voice conversion and the spectrogram presets rendered through the vocoder,
# each in one slot of the shared CPU lock, results under OUT (default /tmp/audio26):
#   flock /tmp/zoo-cpu.lock bash bench/vocoder_anchors.sh vocoder      # train + copy synthesis (LSD, MCD, accuracies, RTF)
#   flock /tmp/zoo-cpu.lock bash bench/vocoder_anchors.sh vc           # train + conversion through OUT/vocoder-digits
#   flock /tmp/zoo-cpu.lock bash bench/vocoder_anchors.sh cspecgan     # train + digit accuracy with and without the vocoder
#   flock /tmp/zoo-cpu.lock bash bench/vocoder_anchors.sh flow         # the same for flow-digits, at guidance 3 (its default) and 5
# The first evaluation trains the 8,192-sample digit classifier (~2.5 min), the judge and the speaker classifier, once.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/audio26}
mkdir -p "$OUT"
stamp() { echo "$1 $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/times.txt"; }
train() {  # PRESET: trained at its default budget, wall time to times.txt
  stamp "== $1 start"; local start=$(date +%s)
  .venv/bin/zoo train "$1" --out "$OUT/$1" --overwrite --quiet > "$OUT/$1.train.log" 2>&1
  echo "   $1 train rc=$? $(( $(date +%s) - start )) s" >> "$OUT/times.txt"
}
evaluate() {  # RUN TAG [--set ...]
  local run=$1 tag=$2 start=$(date +%s); shift 2
  .venv/bin/zoo evaluate "$OUT/$run" --json "$@" > "$OUT/$run.eval-$tag.json" 2> "$OUT/$run.eval-$tag.err"
  echo "   $run evaluate ($tag) rc=$? $(( $(date +%s) - start )) s" >> "$OUT/times.txt"
}
case "${1:?vocoder, vc, cspecgan or flow}" in
  vocoder)
    train vocoder-digits && evaluate vocoder-digits default ;;
  vc)
    train vc-digits && evaluate vc-digits vocoder --set vocoder="$OUT/vocoder-digits" ;;
  cspecgan)
    train cspecgan-digits
    evaluate cspecgan-digits vocoder --set vocoder="$OUT/vocoder-digits" --set truncation=1.0
    evaluate cspecgan-digits griffin-lim --set truncation=1.0
    evaluate cspecgan-digits vocoder-untruncated --set vocoder="$OUT/vocoder-digits" --set truncation=.inf
    evaluate cspecgan-digits griffin-lim-untruncated --set truncation=.inf ;;
  flow)
    train flow-digits
    evaluate flow-digits vocoder --set vocoder="$OUT/vocoder-digits"
    evaluate flow-digits griffin-lim
    evaluate flow-digits vocoder-guidance5 --set vocoder="$OUT/vocoder-digits" --set guidance=5 ;;
esac
