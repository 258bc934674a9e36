"""The digit a conditional audio model is asked to say, checked once for every audio family."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from zoo.errors import UsageError


def requested_labels(n: int, label: Any, num_classes: int, preset_hint: str, device: torch.device) -> Tensor | None:
    """N labels: all `label` when given, else every class in turn (clip i says i % num_classes).

    Unconditional models (num_classes == 0) return None and refuse a label; `preset_hint` names
    the conditional preset to train instead.
    """
    if not num_classes:
        if label is not None:
            raise UsageError(f"this model is unconditional; drop --set label=... (train {preset_hint} to choose the digit)")
        return None
    if label is None:
        return torch.arange(n, device=device) % num_classes
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < num_classes:
        raise UsageError(f"label must be an integer in 0..{num_classes - 1} (the digit to say), got {label!r}")
    return torch.full((n,), label, device=device)
