"""Sampling throughput of the shared GPT (`zoo.nn.gpt`, the text family's and the VQ-VAE prior's): key/value cache vs recomputing the context every step.

    .venv/bin/python bench/text_sampling.py                     # contexts 64 and 256, gpt-shakespeare's shape
    .venv/bin/python bench/text_sampling.py --threads 1 --shape 6,6,384 --device cuda

Recomputing is nanoGPT's loop: each new token runs the model over the last `block_size` tokens. Cached
feeds one token per step (the cache restarts on the last half window when it fills). Weights are random,
since speed does not depend on them; each cell is the best of --repeats runs, in generated tokens per second.
"""
from __future__ import annotations

import argparse
import time

import torch

from zoo import device as dev
from zoo.nn.gpt import GPT


def throughput(model: torch.nn.Module, batch: int, tokens: int, use_cache: bool, repeats: int, device: torch.device) -> float:
    ids = torch.zeros(batch, 1, dtype=torch.long, device=device)
    best = float("inf")
    for _ in range(repeats):
        gen = torch.Generator(device).manual_seed(0)
        dev.synchronize(device)
        start = time.perf_counter()
        model.generate(ids, tokens, gen, use_cache=use_cache)
        dev.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return batch * tokens / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", type=int, nargs="+", default=[64, 256], help="block sizes to measure")
    parser.add_argument("--shape", default="4,4,128", help="n_layer,n_head,n_embd (default: gpt-shakespeare's)")
    parser.add_argument("--tokens", type=int, default=500, help="new tokens per sample (zoo sample's default)")
    parser.add_argument("--batch", type=int, default=1, help="samples generated together")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_layer, n_head, n_embd = map(int, args.shape.split(","))
    print(f"GPT {n_layer}x{n_head}x{n_embd}, vocab 65, batch {args.batch}, {args.tokens} new tokens, {device}, {torch.get_num_threads()} threads")
    print("| context | cached tokens/s | recomputed tokens/s | speed-up |")
    print("|---:|---:|---:|---:|")
    for block_size in args.contexts:
        torch.manual_seed(0)
        model = GPT(65, block_size, n_layer, n_head, n_embd).to(device).eval()
        cached = throughput(model, args.batch, args.tokens, True, args.repeats, device)
        recomputed = throughput(model, args.batch, args.tokens, False, args.repeats, device)
        print(f"| {block_size} | {cached:,.0f} | {recomputed:,.0f} | {cached / recomputed:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
