"""Resolve a named preset plus overrides into a typed `RunConfig`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo.config import CONFIG_VERSION, DataConfig, EvalConfig, TrainConfig, apply_overrides, build, to_dict
from zoo.errors import UsageError, ZooError
from zoo.registry import get_catalog

TOP_LEVEL = ("family", "description", "seed", "model", "data", "train", "eval")


@dataclass
class RunConfig:
    """Everything that defines a run; saved as the run's config.yaml and read back on load/resume."""

    preset: str
    family: str
    model: Any
    data: DataConfig
    train: TrainConfig
    eval: EvalConfig
    seed: int = 0
    description: str = ""

    @property
    def data_source(self) -> str:
        """What the run trains on, for tables and headings: the registered dataset's name, or the path of your own data."""
        return str(getattr(self.data, "path", "") or self.data.dataset)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"zoo_config_version": CONFIG_VERSION, "preset": self.preset, "family": self.family}
        out.update(seed=self.seed, description=self.description)
        out.update({section: to_dict(getattr(self, section)) for section in ("model", "data", "train", "eval")})
        return out


def resolve(name: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The preset `name` with dotted-key overrides, checked against the family's and dataset's configs."""
    raw = get_catalog().preset(name)
    return from_dict({"preset": name, **raw}, overrides or {})


def from_dict(raw: dict[str, Any], overrides: dict[str, Any] | None = None) -> RunConfig:
    """Build a RunConfig from preset-shaped data (a preset, or a run's saved config.yaml)."""
    version = raw.get("zoo_config_version", CONFIG_VERSION)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise ZooError(
            f"config version {version} is newer than this zoo understands ({CONFIG_VERSION})",
            hint="upgrade genzoo to load this run",
        )
    name = raw.get("preset", "?")
    unknown = sorted(set(raw) - set(TOP_LEVEL) - {"preset", "zoo_config_version", "info"})
    if unknown:
        raise ZooError(f"preset {name!r} has unknown top-level keys {unknown}; valid: {', '.join(TOP_LEVEL)}")
    sections = apply_overrides({k: raw.get(k) or {} for k in ("model", "data", "train", "eval")}, overrides or {})
    catalog = get_catalog()
    family_name = raw.get("family")
    if not family_name:
        raise ZooError(f"preset {name!r} names no family")
    family = catalog.get("models", family_name).load()
    dataset = sections["data"].get("dataset")
    if not dataset:
        raise ZooError(f"preset {name!r} names no data.dataset")
    data_cls = catalog.get("datasets", dataset).load().config
    train = build(TrainConfig, sections["train"], "train")
    return RunConfig(
        preset=name,
        family=family_name,
        model=build(family.Config, sections["model"], "model"),
        data=build(data_cls, sections["data"], "data"),
        train=train,
        eval=build(EvalConfig, sections["eval"], "eval"),
        seed=int(raw.get("seed", 0)),
        description=str(raw.get("description", "")),
    )
