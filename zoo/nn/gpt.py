"""GPT blocks for any family: Hugging Face's GPT-2 with a tied head, a lean cached decoding pass, and
autoregressive sampling.

The network is transformers' `GPT2Model` (sdpa attention) held as `transformer`, its output head tied to
the token embedding, so a module's weights carry the names `GPT2LMHeadModel` expects and a text
checkpoint loads with `AutoModelForCausalLM.from_pretrained`. Training and full-context scoring run HF's
own forward. Generation runs `decode`, nanoGPT-style plain tensor code over the very same submodules:
one new token per step attends to the cached keys and values, without the per-call mask building and
cache bookkeeping of HF's forward, which cost more than the arithmetic on a small model.

`GPT` is a standalone causal language model over token ids (the VQ-VAE's prior over its code grid);
the text family holds a `GPT2Model` itself (its checkpoints must be HF folders) and uses the functions.
"""
from __future__ import annotations

from typing import Any, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import GPT2Config, GPT2Model

from zoo.errors import UsageError

Cache = list[tuple[Tensor, Tensor]]  # per layer: keys and values, each N×H×S×D


def gpt2_config(vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float, eos: int | None = None) -> GPT2Config:
    """A GPT-2 config for `GPT2LMHeadModel.from_pretrained`: sdpa attention, head tied to the token embedding."""
    return GPT2Config(
        vocab_size=vocab_size, n_positions=block_size, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
        activation_function="gelu_pytorch_tanh",  # GPT-2's tanh GELU as one fused op (the values of gelu_new)
        bos_token_id=eos, eos_token_id=eos, tie_word_embeddings=True, architectures=["GPT2LMHeadModel"], attn_implementation="sdpa",
    )


def check_shape(n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float, section: str = "model") -> None:
    """UsageError unless the sizes make a GPT (`section` names the config keys in the message)."""
    for name, value in (("n_layer", n_layer), ("n_head", n_head), ("n_embd", n_embd), ("block_size", block_size)):
        if value < 1:
            raise UsageError(f"{section}.{name} must be a positive integer, got {value}")
    if n_embd % n_head:
        raise UsageError(f"{section}.n_embd={n_embd} must be divisible by {section}.n_head={n_head}")
    if not 0 <= dropout < 1:
        raise UsageError(f"{section}.dropout must be in [0, 1), got {dropout}")


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


# ---- sampling ------------------------------------------------------------------------------------
class Autoregressive(Protocol):
    """What `generate` drives: a full pass, a stateful one-token pass, and how many positions it reads."""

    window: int | None  # positions the model can attend to (a GPT's block_size); None: unbounded (recurrent)

    def __call__(self, ids: Tensor) -> Tensor: ...  # ids N×T -> logits N×T×V

    def decode(self, ids: Tensor, state: Any) -> tuple[Tensor, Any]: ...  # logits N×T×V continuing `state`, new state


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Ranges of the sampling knobs (their types are checked where they come in)."""
    if temperature < 0:
        raise UsageError(f"--temperature must be a number >= 0 (0 is greedy), got {temperature!r}")
    if top_k is not None and top_k < 1:
        raise UsageError(f"--top-k must be a positive integer, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UsageError(f"--top-p must be in (0, 1], got {top_p!r}")


def pick_next(logits: Tensor, generator: torch.Generator | None, temperature: float, top_k: int | None, top_p: float | None) -> Tensor:
    """One token per row of `logits` N×V -> N×1: greedy at temperature 0, else sampled after top-k/top-p."""
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        ordered, order = logits.sort(-1, descending=True)
        probs = ordered.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p  # the mass before this token already reaches top_p
        logits = logits.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)


def steps(
    model: Autoregressive, ids: Tensor, max_new_tokens: int, generator: torch.Generator | None = None, temperature: float = 1.0,
    top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
) -> Iterator[Tensor]:
    """Yield the next N×1 tokens one at a time after ids N×T0.

    Cached, each step feeds only the newest token (GPT: key/value cache; LSTM: hidden state). Absolute
    positions cannot slide, so when a windowed model's cache fills its window it restarts on the last
    half window. Uncached, each step recomputes the last `window` tokens (nanoGPT's loop), or the whole
    sequence for an unbounded model: the reference the cached path is checked against.
    """
    window = model.window
    context, state = ids, None
    feed = context[:, -window:] if window else context
    cached = 0  # positions the state holds
    for _ in range(max_new_tokens):
        if use_cache:
            out, state = model.decode(feed, state)
            cached += feed.shape[1]
        else:
            out = model(context[:, -window:] if window else context)
        token = pick_next(out[:, -1], generator, temperature, top_k, top_p)
        yield token
        context, feed = torch.cat([context, token], 1), token
        if use_cache and window and cached >= window:
            state, feed, cached = None, context[:, -max(1, window // 2):], 0


@torch.no_grad()
def generate(
    model: Autoregressive, ids: Tensor, max_new_tokens: int, generator: torch.Generator | None = None, temperature: float = 1.0,
    top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
) -> Tensor:
    """Continue ids N×T0 (T0 >= 1) with `max_new_tokens` sampled tokens -> N×(T0 + max_new_tokens)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise UsageError(f"max_new_tokens must be a non-negative integer, got {max_new_tokens!r}")
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise UsageError(f"generate needs token ids N×T0 with T0 >= 1, got shape {tuple(ids.shape)}")
    check_sampling(temperature, top_k, top_p)
    return torch.cat([ids, *steps(model, ids, max_new_tokens, generator, temperature, top_k, top_p, use_cache)], 1)


class GPT(nn.Module):
    """A causal language model over token ids 0..vocab_size-1 with a context of `block_size` positions."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, dropout: float = 0.0) -> None:
        super().__init__()
        check_shape(n_layer, n_head, n_embd, block_size, dropout)
        self.transformer = GPT2Model(gpt2_config(vocab_size, n_layer, n_head, n_embd, block_size, dropout))
        self.window = block_size

    def forward(self, ids: Tensor) -> Tensor:
        """Logits N×T×V for ids N×T (T <= block_size)."""
        if ids.shape[1] > self.window:
            raise ValueError(f"{ids.shape[1]} positions exceed the GPT's context of block_size={self.window}")
        return logits(self.transformer, ids)

    def decode(self, ids: Tensor, state: Cache | None = None) -> tuple[Tensor, Cache]:
        return decode(self.transformer, ids, state)

    def nll(self, ids: Tensor) -> Tensor:
        """Next-token negative log-likelihood of ids[:, 1:] given ids[:, :-1], summed per sequence: N×T -> N nats."""
        out = self(ids[:, :-1]).float()  # N×(T-1)×V
        return F.cross_entropy(out.transpose(1, 2), ids[:, 1:], reduction="none").sum(1)

    def loss(self, ids: Tensor) -> Tensor:
        """Mean next-token cross-entropy (nats) of ids[:, 1:] given ids[:, :-1]; ids N×T, T-1 <= block_size."""
        return F.cross_entropy(self(ids[:, :-1]).flatten(0, 1).float(), ids[:, 1:].flatten())

    def generate(
        self, ids: Tensor, max_new_tokens: int, generator: torch.Generator | None = None, temperature: float = 1.0,
        top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
    ) -> Tensor:
        """Continue ids N×T0 with `max_new_tokens` sampled tokens -> N×(T0 + max_new_tokens) (see `generate`)."""
        return generate(self, ids, max_new_tokens, generator, temperature, top_k, top_p, use_cache)
