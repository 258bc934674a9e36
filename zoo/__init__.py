"""zoo: a plugin-based generative model zoo for PyTorch.

    import zoo
    run = zoo.train("gan-mnist-quick")
    model = zoo.load(run.path)
    images = model.sample(16)
    zoo.evaluate(run.path)
    outputs = zoo.translate("runs/sr", ["small.png"])  # runs of a translating family

Attributes are imported on first use, so `import zoo` (and `zoo --help`) stays fast.
"""
from __future__ import annotations

from typing import Any

__all__ = ["train", "load", "sample", "evaluate", "translate", "translate_files", "ZooError", "UsageError"]


def __getattr__(name: str) -> Any:
    if name in ("train", "load", "sample", "evaluate", "translate", "translate_files"):
        from zoo import api

        return getattr(api, name)
    if name in ("ZooError", "UsageError"):
        from zoo import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
