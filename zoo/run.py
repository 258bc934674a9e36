"""Run directories: resolved config, checkpoints, metrics log, samples and summary, all written atomically.

    RUN/config.yaml               resolved config + the data info the model was built from
    RUN/metrics.jsonl             one JSON record per log line, evaluation included
    RUN/summary.json              latest numbers, wall time, status
    RUN/samples/step_000500.png   periodic previews (provenance in PNG text chunks)
    RUN/checkpoints/step_000500/  model.safetensors (+ assets) and state.pt (optimizers, RNG)
    RUN/checkpoints/latest        name of the newest complete checkpoint
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import UsageError, ZooError
from zoo.presets import RunConfig, from_dict
from zoo.samples import atomic_write_bytes

CONFIG_FILE = "config.yaml"


@dataclass
class Run:
    """A run directory and the config it was made with."""

    path: Path
    config: RunConfig
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, path: str | os.PathLike[str], config: RunConfig, *, overwrite: bool = False) -> "Run":
        """Make a new run directory; an existing run is refused unless `overwrite`."""
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            if not (path / CONFIG_FILE).exists():
                raise UsageError(f"--out {path} exists and is not a zoo run; choose another folder")
            if not overwrite:
                raise UsageError(f"--out {path} already holds a run; pass --resume {path} to continue it or --overwrite to replace it")
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path, config)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> "Run":
        """Read an existing run directory, refusing anything that is not one."""
        path = Path(path)
        config_file = path / CONFIG_FILE
        if not config_file.is_file():
            raise UsageError(f"{path} is not a zoo run directory (no {CONFIG_FILE}); pass the folder `zoo train --out` wrote")
        try:
            raw = yaml.safe_load(config_file.read_text())
        except yaml.YAMLError as err:
            raise ZooError(f"{config_file} is not valid YAML: {err}".splitlines()[0]) from err
        if not isinstance(raw, dict):
            raise ZooError(f"{config_file} is not a run config")
        return cls(path, from_dict(raw), dict(raw.get("info") or {}))

    def save_config(self) -> None:
        data = {**self.config.to_dict(), "info": self.info}
        atomic_write_bytes(self.path / CONFIG_FILE, yaml.safe_dump(data, sort_keys=False).encode())

    @property
    def assets(self) -> Path:
        return self.path / "assets"

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl (a single write, so lines never interleave)."""
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        file = self.path / "metrics.jsonl"
        if not file.exists():
            return []
        records = []
        for line in file.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash; the rest is still good
        return records

    def summary(self) -> dict[str, Any]:
        file = self.path / "summary.json"
        return json.loads(file.read_text()) if file.exists() else {}

    def update_summary(self, values: dict[str, Any]) -> dict[str, Any]:
        summary = {**self.summary(), **values, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_bytes(self.path / "summary.json", json.dumps(summary, indent=2).encode())
        return summary
