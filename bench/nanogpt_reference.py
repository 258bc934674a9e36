"""An independent reference for `gpt-shakespeare`: nanoGPT's model and training loop, written out in
plain PyTorch (bias-free GPT, AdamW with weight decay 0.1 on matrices, warm-up + cosine 1e-3 -> 1e-4,
clip 1.0, random windows), on the same 90/10 split, scored two ways: nanoGPT's estimate (20 random
validation batches of 12 windows) and zoo's protocol (every non-overlapping 64-token window of the
validation split).

    .venv/bin/python bench/nanogpt_reference.py --seeds 1337,0

It tells whether a gap between zoo's number and nanoGPT's published 1.88 is the model or the measurement.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

N_LAYER, N_HEAD, N_EMBD, BLOCK, BATCH, ITERS = 4, 4, 128, 64, 12, 2000
LR, MIN_LR, WARMUP, WEIGHT_DECAY, BETAS, CLIP = 1e-3, 1e-4, 100, 0.1, (0.9, 0.99), 1.0


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(N_EMBD, bias=False), nn.LayerNorm(N_EMBD, bias=False)
        self.c_attn, self.attn_proj = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False), nn.Linear(N_EMBD, N_EMBD, bias=False)
        self.c_fc, self.mlp_proj = nn.Linear(N_EMBD, 4 * N_EMBD, bias=False), nn.Linear(4 * N_EMBD, N_EMBD, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2) for t in (q, k, v))  # B×H×T×D
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, N_EMBD), nn.Embedding(BLOCK, N_EMBD)
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.ln_f = nn.LayerNorm(N_EMBD, bias=False)
        for name, p in self.named_parameters():
            if p.ndim == 2:
                std = 0.02 / math.sqrt(2 * N_LAYER) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.T  # head tied to the token embedding
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def lr_at(it: int) -> float:
    if it < WARMUP:
        return LR * (it + 1) / (WARMUP + 1)
    ratio = (it - WARMUP) / (ITERS - WARMUP)
    return MIN_LR + 0.5 * (1 + math.cos(math.pi * ratio)) * (LR - MIN_LR)


def windows(data: torch.Tensor, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = data[starts[:, None] + torch.arange(BLOCK + 1)]
    return w[:, :-1], w[:, 1:]


def run(text: str, seed: int) -> dict[str, float]:
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
    cut = int(len(data) * 0.9)
    train, val = data[:cut], data[cut:]
    torch.manual_seed(seed)
    model = GPT(len(chars))
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}], lr=LR, betas=BETAS)
    started = time.perf_counter()
    for it in range(ITERS):
        for group in opt.param_groups:
            group["lr"] = lr_at(it)
        loss = model(*windows(train, torch.randint(len(train) - BLOCK, (BATCH,))))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
    seconds = time.perf_counter() - started
    model.eval()
    with torch.no_grad():
        estimate = sum(model(*windows(val, torch.randint(len(val) - BLOCK, (BATCH,)))).item() for _ in range(20)) / 20
        starts = torch.arange(0, len(val) - BLOCK, BLOCK)
        full = sum(model(*windows(val, s)).item() * len(s) for s in starts.split(256)) / len(starts)
    return {"seed": seed, "train_s": seconds, "val_estimate_20_batches": estimate, "val_full_split": full}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1337,0")
    parser.add_argument("--text", default=str(Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare" / "input.txt"))
    args = parser.parse_args()
    text = Path(args.text).read_text(encoding="utf-8")
    print("| seed | training s | val loss, nanoGPT's 20-batch estimate | val loss, whole split |")
    print("|---|---|---|---|")
    for seed in map(int, args.seeds.split(",")):
        r = run(text, seed)
        print(f"| {seed} | {r['train_s']:.0f} | {r['val_estimate_20_batches']:.4f} | {r['val_full_split']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
