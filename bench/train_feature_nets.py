"""Regenerate the domain feature networks zoo ships in zoo/weights/ (MNIST and Fashion-MNIST).

    python bench/train_feature_nets.py                  # both, one after the other (about 4 minutes each on 2 cores)
    python bench/train_feature_nets.py fashion-mnist    # one

Each network is trained exactly as a first `zoo evaluate` would train it (zoo.metrics.features.
domain_features: the same decoded data, recipe, cache key and card), in a scratch cache with the
shipped copies hidden, then copied with its card into zoo/weights/ under the cache's file names.
Training is deterministic for a torch version and thread count (both recorded in the card); the
script says whether the new file's sha256 equals the one it replaces.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

MAX_BYTES = 2 << 20  # what the repository accepts per shipped file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["mnist", "fashion-mnist"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["ZOO_CACHE_DIR"] = scratch  # before zoo reads it: nothing of the user's cache is reused
        from zoo.metrics import networks
        from zoo.metrics.features import domain_features

        shipped = networks.SHIPPED
        networks.SHIPPED = Path(scratch) / "hidden"  # train, rather than load the copy this script replaces
        for dataset in args.datasets:
            net = domain_features(dataset)
            card_file = net.weights.with_suffix(".json")
            size = net.weights.stat().st_size
            if size > MAX_BYTES:
                raise SystemExit(f"{net.weights.name} is {size / 1e6:.2f} MB, over the {MAX_BYTES / 1e6:.1f} MB a shipped file may take; not copied")
            previous = {p.name: json.loads(p.read_text())["weights_sha256"] for p in shipped.glob(f"{dataset}-*.json")}
            for old in shipped.glob(f"{dataset}-*"):
                old.unlink()
            shipped.mkdir(exist_ok=True)
            shutil.copyfile(net.weights, shipped / net.weights.name)
            shutil.copyfile(card_file, shipped / card_file.name)
            same = "same sha256 as the copy it replaces" if previous.get(card_file.name) == net.card["weights_sha256"] else \
                "new sha256" + (" (the previous copy differed)" if previous else "")
            print(f"{dataset}: {net.weights.name} {size / 1e6:.2f} MB, test accuracy {net.card['test_accuracy']:.4f}, "
                  f"trained in {net.card['train_seconds']} s on {net.card['torch_threads']} threads (torch {net.card['torch']}); {same}")


if __name__ == "__main__":
    main()
