"""Metric functions; metric plugins that use them live in zoo.metrics.plugin.

Names are imported on first use: the plugin manager imports `zoo.metrics.plugin` to build the
catalog, and that must not pull in torch and scipy (`zoo list` stays fast).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_WHERE = {
    "FrechetResult": "frechet",
    "feature_stats": "frechet",
    "frechet_distance": "frechet",
    "frechet_distance_from_stats": "frechet",
    "psnr": "image_quality",
    "ssim": "image_quality",
    "inception_score": "inception_score",
    "kernel_inception_distance": "kid",
    "density_coverage": "manifold",
    "prdc": "manifold",
    "precision_recall": "manifold",
    "bits_per_token": "text",
    "distinct_n": "text",
    "perplexity": "text",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"zoo.metrics.{_WHERE[name]}"), name)
    if not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # a submodule, as `zoo.metrics.kid`
    raise AttributeError(f"module 'zoo.metrics' has no attribute {name!r}")


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule `inception_score` sets it as an attribute of this package, which
        # would shadow the function of the same name; keep the function, as the eager import did.
        if isinstance(value, types.ModuleType) and _WHERE.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
