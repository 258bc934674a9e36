"""What your own data is (`--data PATH`): classes and their counts, split sizes, shape, and what the
preset's step budget means in epochs over it.

Printed when a `--data` run starts and shown by `zoo info PRESET --data PATH`: a budget chosen for
MNIST's 60,000 images is a very different amount of training on 600 of yours, and nothing else says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zoo.data.tensors import TensorData

if TYPE_CHECKING:
    from zoo.presets import RunConfig

SHOWN_CLASSES = 12  # classes named one by one; the rest are counted


@dataclass
class DataSummary:
    path: str
    source: str  # the dataset reading it (image-folder, text-files, ...)
    unit: str  # what `train` and `test` count: images, clips, characters, items
    train: int
    test: int
    shape: str  # "1 channel, 32×32 pixels", "8000 Hz, 8192 samples per clip", "3 files"
    classes: dict[str, list[int]] = field(default_factory=dict)  # name -> [train count, test count]
    steps: int = 0  # the budget
    per_step: int = 0  # items one step reads: batch × grad_accum (× block_size for text)
    per_step_text: str = ""  # how `per_step` is made, e.g. "batch 64"

    @property
    def epochs(self) -> float:
        """Passes over the training split the budget makes."""
        return self.steps * self.per_step / max(self.train, 1)

    def lines(self) -> list[str]:
        out = [f"your data: {self.path} ({self.source})",
               f"  train {self.train:,} {self.unit}, test {self.test:,} {self.unit}; {self.shape}"]
        text = self.unit == "characters"
        if self.classes:
            named = [f"{name} {train}/{test}" for name, (train, test) in list(self.classes.items())[:SHOWN_CLASSES]]
            more = f" and {len(self.classes) - SHOWN_CLASSES} more" if len(self.classes) > SHOWN_CLASSES else ""
            out.append(f"  {len(self.classes)} classes (train/test): " + ", ".join(named) + more)
        elif not text:
            out.append("  no classes (one folder level, or no labels)")
        if not text and self.per_step > self.train:
            out.append(f"  a step's {self.per_step} {self.unit} are more than the training split holds: lower data.batch_size to {self.train} or less")
        out.append(f"  budget: {self.steps:,} steps × {self.per_step_text} = {self.steps * self.per_step:,} {self.unit} "
                   + (f"≈ {self.epochs:,.1f} epochs of the training split (one token per character)" if text else f"= {self.epochs:,.1f} epochs of the training split"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "source": self.source, "train": self.train, "test": self.test, "unit": self.unit, "shape": self.shape,
                "classes": self.classes, "steps": self.steps, "per_step": self.per_step, "epochs": round(self.epochs, 2)}


def describe_data(config: "RunConfig", train: Any | None = None, data_dir: str | None = None) -> DataSummary:
    """The summary of a run's own data, decoding its splits (from the prepared cache after the first time).
    An empty test split is counted as such: training does not need one."""
    from zoo.data import load_dataset
    from zoo.errors import UsageError

    train = load_dataset(config.data, "train", data_dir) if train is None else train
    try:
        test = load_dataset(config.data, "test", data_dir)
    except UsageError:  # no file fell into the held-out split
        test = None
    return summarize_data(config, train, test)


def summarize_data(config: "RunConfig", train: Any, test: Any | None) -> DataSummary:
    """The summary of a run's own data from its decoded train and test splits (None: an empty test split)."""
    info = getattr(train, "info", {}) or {}
    batch = config.data.batch_size * config.train.grad_accum
    per_step_text = f"batch {config.data.batch_size}" + (f" × {config.train.grad_accum} accumulated" if config.train.grad_accum > 1 else "")
    classes: dict[str, list[int]] = {}
    if isinstance(train, TensorData) and "x" in train.fields:
        x = train.fields["x"]
        unit = "images" if x.ndim == 4 else "clips"
        if x.ndim == 5:  # video: N×T×C×H×W
            shape = f"{x.shape[1]} frames of {x.shape[-1]}×{x.shape[-2]} pixels, {x.shape[2]} channel{'s' * (x.shape[2] != 1)} (every frame resized to that)"
        else:
            shape = (f"{x.shape[1]} channel{'s' * (x.shape[1] != 1)}, {x.shape[-1]}×{x.shape[-2]} pixels" if unit == "images"
                     else f"{info.get('sample_rate')} Hz, {info.get('clip_samples')} samples per clip")
        names = info.get("classes") or []
        if names and "y" in train.fields:
            counts = [_counts(split, len(names)) for split in (train, test)]
            classes = {name: [counts[0][i], counts[1][i]] for i, name in enumerate(names)}
        per_step = batch
    elif hasattr(train, "chunks"):  # text: sizes in characters; a step reads batch × block_size tokens
        unit, shape = "characters", f"{(info.get('source') or {}).get('files', 1)} file(s)"
        block = getattr(config.model, "block_size", 1)
        per_step, per_step_text = batch * block, f"{per_step_text} × block_size {block}"
    else:
        unit, shape, per_step = "items", type(train).__name__, batch
    steps = config.train.steps
    if config.train.epochs:  # the trainer's rule: epochs × whole steps per epoch
        steps = config.train.epochs * (len(train) // per_step)
    source = (info.get("source") or {}).get("path") or getattr(config.data, "path", "")
    return DataSummary(str(source), config.data.dataset, unit, len(train), len(test) if test is not None else 0, shape, classes, steps, per_step, per_step_text)


def _counts(split: Any | None, num_classes: int) -> list[int]:
    import torch

    labels = split.fields.get("y") if isinstance(split, TensorData) else None
    if labels is None:
        return [0] * num_classes
    return torch.bincount(torch.as_tensor(labels).long(), minlength=num_classes).tolist()
