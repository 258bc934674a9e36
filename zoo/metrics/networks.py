"""Cached feature networks: trained once, stored in the cache folder, hash-checked on every load.

Metrics that need a learned feature space (the image domain networks, the audio digit classifier)
get their network from `cached_network`:

    <cache>/features/<key>.safetensors   the weights
    <cache>/features/<key>.json          its card: what the caller describes (data checksum, recipe,
                                         test accuracy), training time, torch version, weights sha256

`key` must change whenever the data or the recipe does (callers hash both into it), so a network is
never reused for data it was not trained on. A weights file whose sha256 does not match its card is
an error naming both files: scores are only comparable when the network is, so a damaged or swapped
file must never be used silently.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, TypeVar

import torch
from torch import nn

from zoo.data.spec import cache_dir, file_digest
from zoo.errors import ZooError

Net = TypeVar("Net", bound=nn.Module)


@dataclass
class CachedNetwork(Generic[Net]):
    net: Net  # in eval mode, on the device asked for
    card: dict[str, Any]  # the JSON beside the weights
    weights: Path


def network_paths(key: str) -> tuple[Path, Path]:
    """(weights, card) of the cached network `key`."""
    folder = cache_dir() / "features"
    return folder / f"{key}.safetensors", folder / f"{key}.json"


def cached_network(
    key: str,
    build: Callable[[], Net],
    train: Callable[[], Net],
    describe: Callable[[Net], dict[str, Any]] = lambda net: {},
    *,
    title: str = "feature network",
    device: torch.device | str = "cpu",
    quiet: bool = False,
) -> CachedNetwork[Net]:
    """The network cached under `key`: loaded into `build()` after its hash is checked, or made by
    `train()` and cached with `describe(net)` (test accuracy, recipe) in its card."""
    from safetensors.torch import load_file, save_file

    from zoo.samples import atomic_write_bytes

    weights, card_file = network_paths(key)
    if weights.is_file() and card_file.is_file():
        card = json.loads(card_file.read_text())
        if file_digest(weights) != card.get("weights_sha256"):
            raise ZooError(f"{title} {weights} does not match the sha256 in {card_file.name}", hint="delete both files to retrain it")
        net = build()
        try:
            net.load_state_dict(load_file(str(weights)))  # strict: every weight, nothing else
        except RuntimeError as err:
            raise ZooError(f"{title} {weights} does not fit its network: {str(err).splitlines()[0][:160]}", hint="delete both files to retrain it") from err
        return CachedNetwork(net.eval().to(device), card, weights)

    if not quiet:
        print(f"training the {title} (once; cached in {weights.parent})", file=sys.stderr, flush=True)
    started = time.perf_counter()
    net = train().eval()
    seconds = time.perf_counter() - started
    card = {
        **describe(net),
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    weights.parent.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".{weights.name}.{os.getpid()}.tmp")
    save_file({k: v.detach().cpu().clone() for k, v in net.state_dict().items()}, str(tmp))  # clones: compact, untied storage
    card["weights_sha256"] = file_digest(tmp)
    os.replace(tmp, weights)
    atomic_write_bytes(card_file, json.dumps(card, indent=2).encode())
    if not quiet:
        accuracy = f"test accuracy {card['test_accuracy']:.4f}, " if "test_accuracy" in card else ""
        print(f"{title}: {accuracy}trained in {seconds:.0f} s", file=sys.stderr, flush=True)
    return CachedNetwork(net.to(device), card, weights)
