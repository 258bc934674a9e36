"""Exit non-zero unless a run's training loss fell: mean of the last three logged values of its loss
(`loss`, else the discriminator's `loss_d`) below the mean of the first three."""
import json
import sys
from pathlib import Path

records = [json.loads(line) for line in (Path(sys.argv[1]) / "metrics.jsonl").read_text().splitlines()]
logs = [r for r in records if "eval" not in r]
key = "loss" if "loss" in logs[0] else "loss_d"
values = [r[key] for r in logs if key in r]
first, last = sum(values[:3]) / len(values[:3]), sum(values[-3:]) / len(values[-3:])
print(f"{sys.argv[1]}: {key} {first:.4f} -> {last:.4f}")
sys.exit(0 if last < first else 1)
