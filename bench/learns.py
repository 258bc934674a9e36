"""Exit non-zero unless a run's training loss fell: mean of the last third of its logged loss values
(`loss`, else the discriminator's `loss_d`) below the mean of the first third."""
import json
import sys
from pathlib import Path

records = [json.loads(line) for line in (Path(sys.argv[1]) / "metrics.jsonl").read_text().splitlines()]
logs = [r for r in records if "eval" not in r]
key = "loss" if "loss" in logs[0] else "loss_d"
values = [r[key] for r in logs if key in r]
k = max(1, len(values) // 3)
first, last = sum(values[:k]) / k, sum(values[-k:]) / k
print(f"{sys.argv[1]}: {key} {first:.4f} -> {last:.4f}")
sys.exit(0 if last < first else 1)
