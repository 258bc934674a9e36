"""Benchmark: FID + KID + precision/recall on 10,000 MNIST images, feature network cached.

The first 10,000 train images stand in for generated ones (no trained model needed) and are scored
against the 10,000 test images, through the same code path as `zoo evaluate` (`zoo evaluate --real`).
The feature network is trained (and cached) before the clock starts.

    python bench/metrics_bench.py [--num-samples 10000] [--threads N] [--dataset mnist]
"""
from __future__ import annotations

import argparse
import time

import torch

from zoo.metrics.baselines import real_baselines
from zoo.metrics.features import domain_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--num-samples", type=int, default=10000)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    net = domain_features(args.dataset)  # outside the timing: trains once if the cache is empty
    print(f"feature network {net.name} {net.checksum}: test accuracy {net.card['test_accuracy']:.4f}")

    started = time.perf_counter()
    results = real_baselines(args.dataset, ["fid", "kid", "precision_recall"], args.num_samples)
    total = time.perf_counter() - started

    for name, result in results.items():
        values = ", ".join(f"{k}={v:.4g}" for k, v in result.values.items())
        print(f"{name:<18} {result.protocol['seconds']:6.1f} s   {values}")
    print(f"total {total:.1f} s for FID + KID + precision/recall on {args.num_samples} vs {results['fid'].protocol['num_real']} images "
          f"({torch.get_num_threads()} threads; includes decoding the data and extracting features, which fid's time carries)")


if __name__ == "__main__":
    main()
