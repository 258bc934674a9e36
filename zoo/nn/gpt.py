"""GPT blocks for any family: GPT-2 in Hugging Face's exact layout, with a tied head, a cached decoding
pass, and autoregressive sampling.

`GPT2` is GPT-2 written out in plain PyTorch (F.scaled_dot_product_attention, F.gelu) with the
parameter names, shapes and initialisation of transformers' `GPT2Model`: held as `transformer` with its
output head tied to the token embedding, a module's weights carry the names `GPT2LMHeadModel` expects,
so a text checkpoint (plus `hf_config`'s config.json) loads with `AutoModelForCausalLM.from_pretrained`
and gives the same logits (tested), and a seed draws the same initial weights as `GPT2Model(config)`.
Owning the forward instead of calling HF's saves its per-call work (masks, cache objects, output
classes), which costs more than the arithmetic on a model this small, and the second it takes to
import transformers' modelling code and resolve its config class: this module never imports transformers
(`gpt2_config` does, for tests and tools that build HF's model).
The GELU is the exact (erf) one by default, as nanoGPT's: on CPU torch's tanh form (GPT-2's original
approximation, `gelu="tanh"`) takes 3-6× as long, about a tenth of a small model's training step.

`GPT` is a standalone causal language model over token ids (the VQ-VAE's prior over its code grid);
the text family holds a `GPT2` itself (its checkpoints must be HF folders) and uses the functions.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterator, Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.errors import UsageError

if TYPE_CHECKING:
    from transformers import GPT2Config

Cache = list[tuple[Tensor, Tensor]]  # per layer: keys and values, each N×H×S×D
Gelu = Literal["exact", "tanh"]
INIT_STD = 0.02  # GPT2Config.initializer_range
HF_ACTIVATION: dict[str, Gelu] = {"gelu": "exact", "gelu_pytorch_tanh": "tanh", "gelu_new": "tanh"}  # config.json's names


def hf_config(
    vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float, eos: int | None = None, gelu: Gelu = "exact",
) -> dict[str, Any]:
    """config.json of a `GPT2` of these sizes for `GPT2LMHeadModel.from_pretrained`: the fields that differ
    from GPT2Config's defaults (the same GELU, the head tied to the token embedding). A plain dict, since
    resolving `transformers.GPT2Config` scans every model transformers ships (half a second)."""
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocab_size, "n_positions": block_size,
        "n_embd": n_embd, "n_layer": n_layer, "n_head": n_head, "resid_pdrop": dropout, "embd_pdrop": dropout, "attn_pdrop": 0.0,
        "activation_function": "gelu" if gelu == "exact" else "gelu_pytorch_tanh",  # HF's names for F.gelu's two forms
        "bos_token_id": eos, "eos_token_id": eos, "tie_word_embeddings": True,
    }


def gpt2_config(
    vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float, eos: int | None = None, gelu: Gelu = "exact",
) -> GPT2Config:
    """`hf_config` as a transformers `GPT2Config` (sdpa attention), to build HF's own model of the same shape."""
    from transformers import GPT2Config

    fields = {k: v for k, v in hf_config(vocab_size, n_layer, n_head, n_embd, block_size, dropout, eos, gelu).items() if k != "model_type"}
    return GPT2Config(**fields, attn_implementation="sdpa")


def check_shape(n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float, section: str = "model", gelu: str = "exact") -> None:
    """UsageError unless the sizes make a GPT (`section` names the config keys in the message)."""
    for name, value in (("n_layer", n_layer), ("n_head", n_head), ("n_embd", n_embd), ("block_size", block_size)):
        if value < 1:
            raise UsageError(f"{section}.{name} must be a positive integer, got {value}")
    if n_embd % n_head:
        raise UsageError(f"{section}.n_embd={n_embd} must be divisible by {section}.n_head={n_head}")
    if not 0 <= dropout < 1:
        raise UsageError(f"{section}.dropout must be in [0, 1), got {dropout}")
    if gelu not in ("exact", "tanh"):
        raise UsageError(f"{section}.gelu must be exact or tanh, got {gelu!r}")


# ---- the network, in transformers' GPT2Model layout ------------------------------------------------
class Conv1D(nn.Module):
    """GPT-2's linear layer (transformers' `Conv1D`): the weight is stored in×out, as HF checkpoints hold it."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(*x.shape[:-1], -1)  # ...×in -> ...×out


class Attention(nn.Module):
    """Causal self-attention. `dropout` drops its output, not the attention weights: a dropout inside
    F.scaled_dot_product_attention sends CPU training to the unfused kernel, 1.5× as slow (4 layers of
    128, batch 32 × 128 tokens, 2 threads: 0.213 against 0.142 s per step), for a regulariser that the
    residual and embedding dropouts already give."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head = n_head
        self.c_attn, self.c_proj = Conv1D(n_embd, 3 * n_embd), Conv1D(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x N×T×C -> N×T×C and this layer's keys and values (the cache's, grown by T).

        Without a cache the T positions attend causally; with one, T == 1 and the token attends to every
        cached position, so it needs no mask.
        """
        N, T, C = x.shape
        D = C // self.n_head
        q, k, v = (z.view(N, T, self.n_head, D).transpose(1, 2) for z in self.c_attn(x).split(C, dim=2))  # N×H×T×D
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)  # N×H×(past+1)×D
        y = F.scaled_dot_product_attention(  # HF's explicit scale: the same bits as its forward
            q, k, v, is_causal=cache is None and T > 1, scale=D**-0.5,
        )
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).reshape(N, T, C))), (k, v)


class MLP(nn.Module):
    def __init__(self, n_embd: int, dropout: float, gelu: Gelu) -> None:
        super().__init__()
        self.c_fc, self.c_proj = Conv1D(n_embd, 4 * n_embd), Conv1D(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)
        self.approximate = "none" if gelu == "exact" else "tanh"

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float, gelu: Gelu) -> None:
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(n_embd), Attention(n_embd, n_head, dropout)
        self.ln_2, self.mlp = nn.LayerNorm(n_embd), MLP(n_embd, dropout, gelu)

    def forward(self, x: Tensor, cache: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        a, kv = self.attn(self.ln_1(x), cache)
        x = a + x
        return self.mlp(self.ln_2(x)) + x, kv


class GPT2(nn.Module):
    """GPT-2's trunk (token and position embeddings, pre-norm blocks, final norm) under `GPT2Model`'s names."""

    def __init__(
        self, vocab_size: int, n_layer: int, n_head: int, n_embd: int, block_size: int, dropout: float = 0.0, gelu: Gelu = "exact",
    ) -> None:
        super().__init__()
        check_shape(n_layer, n_head, n_embd, block_size, dropout, gelu=gelu)
        self.n_layer = n_layer
        self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList(Block(n_embd, n_head, dropout, gelu) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.init_like_transformers()

    @torch.no_grad()
    def init_like_transformers(self) -> None:
        """GPT-2's initialisation, drawn in the order `GPT2Model(config)` draws it (its modules' own
        defaults, then its `_init_weights` pass, which re-draws each residual projection at
        0.02/sqrt(2 n_layer)), so that a seed gives exactly HF's initial weights (tested)."""
        for block in self.h:  # after the embeddings' own N(0, 1) draws, made when they were built
            for conv in (block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj):
                conv.weight.normal_(std=INIT_STD)  # transformers' Conv1D default
        self.wte.weight.normal_(std=INIT_STD)
        self.wpe.weight.normal_(std=INIT_STD)
        for block in self.h:
            for first, proj in ((block.attn.c_attn, block.attn.c_proj), (block.mlp.c_fc, block.mlp.c_proj)):
                first.weight.normal_(std=INIT_STD)
                proj.weight.normal_(std=INIT_STD)
                proj.weight.normal_(std=INIT_STD / math.sqrt(2 * self.n_layer))

    def forward(self, ids: Tensor, cache: Cache | None = None) -> tuple[Tensor, Cache]:
        """Final hidden states N×T×C for ids N×T following the `cache`d positions, and the grown cache:
        a full causal pass (no cache), or one step (T == 1 after the cached positions)."""
        past = cache[0][0].shape[2] if cache is not None else 0
        if cache is not None and ids.shape[1] != 1:
            raise ValueError(f"a cached decode step takes one token per sequence, got {ids.shape[1]}")
        x = self.drop(self.wte(ids) + self.wpe(torch.arange(past, past + ids.shape[1], device=ids.device)))  # N×T×C
        grown: Cache = []
        for i, block in enumerate(self.h):
            x, kv = block(x, cache[i] if cache is not None else None)
            grown.append(kv)
        return self.ln_f(x), grown


def logits(gpt: GPT2, ids: Tensor) -> Tensor:
    """ids N×T -> logits N×T×V (training, evaluation, uncached sampling): the head is the token embedding."""
    return gpt(ids)[0] @ gpt.wte.weight.T


def decode(gpt: GPT2, ids: Tensor, cache: Cache | None) -> tuple[Tensor, Cache]:
    """Logits N×T×V for ids N×T following the `cache`d positions, and the grown cache: a prefill (no
    cache: causal attention over ids) or one step (T == 1)."""
    hidden, grown = gpt(ids, cache)
    return hidden @ gpt.wte.weight.T, grown


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


class Rule(Protocol):
    """Which tokens may come next, per row: `observe` sees the prompt, then each new token (N×k ids);
    `allowed` answers N×V bool for the next position."""

    def observe(self, ids: Tensor) -> None: ...

    def allowed(self, device: torch.device) -> Tensor: ...


class Steered:
    """A model seen through `steps` with the tokens a `rule` forbids at -inf (constrained decoding), and
    what that costs under the model's own distribution (temperature 1): `masked_mass` sums, over rows
    and steps, the probability the rule took away (the chance an unconstrained draw would have broken
    it), `nats` sums -log of the probability left (the log-likelihood the constraint gives up)."""

    def __init__(self, model: Autoregressive, rule: Rule) -> None:
        self.model, self.rule, self.window = model, rule, model.window
        self.calls, self.masked_mass, self.nats = 0, 0.0, 0.0

    def __call__(self, ids: Tensor) -> Tensor:
        return self.steer(ids, self.model(ids))

    def decode(self, ids: Tensor, state: Any) -> tuple[Tensor, Any]:
        logits, state = self.model.decode(ids, state)
        return self.steer(ids, logits), state

    def steer(self, ids: Tensor, logits: Tensor) -> Tensor:
        """`steps` asks once per new token; the first time it hands the prompt, later the newest token
        last (a cache restart hands a window ending with it)."""
        self.rule.observe(ids if self.calls == 0 else ids[:, -1:])
        self.calls += 1
        allowed = self.rule.allowed(logits.device)  # N×V
        left = (logits[:, -1].float().softmax(-1) * allowed).sum(-1).clamp_min(1e-30)  # N
        self.masked_mass += float((1 - left).clamp_min(0).sum())
        self.nats += float(-left.log().sum())
        logits = logits.clone()
        logits[:, -1] = logits[:, -1].masked_fill(~allowed, float("-inf"))
        return logits


class GPT(nn.Module):
    """A causal language model over token ids 0..vocab_size-1 with a context of `block_size` positions."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.transformer = GPT2(vocab_size, n_layer, n_head, n_embd, block_size, dropout)
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
