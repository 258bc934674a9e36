"""The GPT: Hugging Face's GPT-2 (`GPT2Model`, sdpa attention) with the output head tied to the token
embedding, plus a lean key/value-cached decoding pass over the same modules.

Training and full-context scoring run HF's own forward. Generation runs `decode`, nanoGPT-style plain
tensor code over the very same submodules: one new token per step attends to the cached keys and values,
without the per-call mask building and cache bookkeeping of HF's forward, which cost more than the
arithmetic on a small model. Tests check that both passes give the same tokens.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import GPT2Config, GPT2Model

Cache = list[tuple[Tensor, Tensor]]  # per layer: keys and values, each N×H×S×D


def gpt2_config(vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float, eos: int | None = None) -> GPT2Config:
    """A GPT-2 config for `GPT2LMHeadModel.from_pretrained`: sdpa attention, head tied to the token embedding."""
    return GPT2Config(
        vocab_size=vocab_size, n_positions=block_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
        activation_function="gelu_pytorch_tanh",  # GPT-2's tanh GELU as one fused op (the values of gelu_new)
        bos_token_id=eos, eos_token_id=eos, tie_word_embeddings=True, architectures=["GPT2LMHeadModel"], attn_implementation="sdpa",
    )


def logits(gpt: GPT2Model, ids: Tensor) -> Tensor:
    """ids N×T -> logits N×T×V through HF's forward (training, evaluation, uncached sampling)."""
    return gpt(ids).last_hidden_state @ gpt.wte.weight.T


def decode(gpt: GPT2Model, ids: Tensor, cache: Cache | None) -> tuple[Tensor, Cache]:
    """Logits N×T×V for ids N×T following the `cache`d positions, and the grown cache.

    Either a prefill (no cache: causal attention over ids) or one step (T == 1: the token attends to
    every cached position, so it needs no mask).
    """
    N, T = ids.shape
    past = cache[0][0].shape[2] if cache is not None else 0
    H, C = gpt.config.n_head, gpt.config.n_embd
    if cache is not None and T != 1:
        raise ValueError(f"a cached decode step takes one token per sequence, got {T}")
    positions = torch.arange(past, past + T, device=ids.device)
    x = gpt.drop(gpt.wte(ids) + gpt.wpe(positions))  # N×T×C
    grown: Cache = []
    for i, block in enumerate(gpt.h):
        attn = block.attn
        q, k, v = attn.c_attn(block.ln_1(x)).split(C, dim=2)
        q, k, v = (z.view(N, T, H, C // H).transpose(1, 2) for z in (q, k, v))  # N×H×T×D
        if cache is not None:
            k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)  # N×H×(past+1)×D
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.attn_dropout.p if gpt.training else 0.0, is_causal=cache is None)
        x = x + attn.resid_dropout(attn.c_proj(y.transpose(1, 2).reshape(N, T, C)))
        x = x + block.mlp(block.ln_2(x))
        grown.append((k, v))
    return gpt.ln_f(x) @ gpt.wte.weight.T, grown
