"""TextFamily: next-token language models (GPT-2 style transformer or char-LSTM) trained by zoo's trainer.

The GPT is `zoo.nn.gpt.GPT2` (GPT-2 in Hugging Face's `GPT2Model` layout) held as `self.transformer`, its
output head tied to the token embedding (no separate `lm_head` weight), so the weights the core saves carry
exactly the names `GPT2LMHeadModel` expects: with `save_assets`' config.json and tokenizer, every checkpoint
folder loads with `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained`. The LSTM is
`self.lstm`. A pretrained transformers model (`arch: pretrained`, `zoo_text.pretrained`) is `self.lm`, with
peft's LoRA adapters when `finetune: lora`; its checkpoints then hold the adapters only, since the base
weights come from `model.init_from` on every load.
The run's tokenizer lives in its assets folder (`context.assets`), written by `setup`.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn
from transformers import PreTrainedTokenizerFast

from zoo.capabilities import Condition
from zoo.config import suggest
from zoo.contract import Family, FamilyContext, StepContext
from zoo.data.tensors import TextData
from zoo.device import single_thread
from zoo.errors import UsageError, ZooError
from zoo.metrics.text import bits_per_token, perplexity
from zoo.nn import gpt
from zoo.samples import TextSamples
from zoo_text import conversations as chat
from zoo_text import pretrained
from zoo_text import tokenizer as tok
from zoo_text.data import TokenWindows, token_ids
from zoo_text.lstm import CharLSTM

BUILTIN_TOKENIZERS = ("char", "bpe")
START = "\n"  # an empty prompt starts from a newline, as nanoGPT's sampling does
MAX_EVAL_BATCHES = 200
TEXT_FILES = (".txt", ".abc")  # --prompt FILE: read as the prompt's text
OTHER_FILES = (".mid", ".midi", ".musicxml", ".xml", ".mxl", ".krn", ".wav", ".flac", ".mp3", ".png", ".jpg", ".jpeg", ".npz")  # a prompt naming one is refused


@dataclass
class TextConfig:
    arch: Literal["gpt", "lstm", "pretrained"] = "gpt"  # pretrained: the transformers model model.init_from names
    tokenizer: str = "char"  # char, bpe, or one a plugin registers (folkrnn: ABC's notes, lengths and bar lines; zoo_music)
    n_layer: int = 4
    n_head: int = 4  # gpt only
    n_embd: int = 128  # embedding and hidden width
    block_size: int = 64  # context length in tokens: training windows, and GPT's position table
    dropout: float = 0.0
    gelu: Literal["exact", "tanh"] = "exact"  # gpt only: exact (erf, as nanoGPT) or GPT-2's tanh form (slower on CPU; HF GPT-2 weights use it)
    bpe_vocab_size: int = 1024  # tokenizer=bpe: 256 bytes + end-of-text + learnt merges
    init_from: str | None = None  # gpt: a text checkpoint folder or a Hugging Face GPT-2 folder; pretrained: a hub id, a model folder, a .gguf file or package:NAME/FILE
    max_new_tokens: int = 500  # default sample length (previews, evaluation samples, `zoo sample`); nanoGPT's
    finetune: Literal["lora", "full"] = "lora"  # pretrained only: train LoRA adapters (peft) or every weight
    lora_rank: int = 8
    lora_alpha: float = 16.0  # the adapters' output is scaled by lora_alpha / lora_rank
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: [pretrained.ALL_LINEAR])  # layer names (q_proj, v_proj, ...) or all-linear


def check_config(config: TextConfig) -> None:
    if config.max_new_tokens < 1:
        raise UsageError(f"model.max_new_tokens must be a positive integer, got {config.max_new_tokens}")
    if config.arch == "pretrained":
        if not config.init_from:
            raise UsageError("model.arch=pretrained needs model.init_from: a Hugging Face model id, a model folder, a .gguf file or package:NAME/FILE")
        if config.block_size < 1 or config.lora_rank < 1 or config.lora_alpha <= 0 or not 0 <= config.lora_dropout < 1:
            raise UsageError("model.block_size and model.lora_rank must be positive integers, model.lora_alpha positive and model.lora_dropout in [0, 1)")
    elif config.arch == "gpt":
        gpt.check_shape(config.n_layer, config.n_head, config.n_embd, config.block_size, config.dropout, gelu=config.gelu)
    else:
        gpt.check_shape(config.n_layer, 1, config.n_embd, config.block_size, config.dropout)  # the LSTM has no heads
    if config.arch != "pretrained" and config.tokenizer not in tokenizer_names():
        raise suggest(config.tokenizer, tokenizer_names(), "model.tokenizer")
    if config.tokenizer == "bpe" and config.bpe_vocab_size < 257:
        raise UsageError(f"model.bpe_vocab_size must be at least 257 (256 bytes + end-of-text), got {config.bpe_vocab_size}")


def tokenizer_names() -> list[str]:
    """char, bpe and the tokenizers plugins registered (`register_tokenizers`)."""
    from zoo.registry import get_catalog

    return [*BUILTIN_TOKENIZERS, *get_catalog().tokenizers]


def train_tokenizer(config: TextConfig, train: TextData) -> PreTrainedTokenizerFast:
    """The run's new tokenizer, learnt from the train split; a registered one keeps its name in its config."""
    if config.tokenizer == "char":
        return tok.train_char(train.chunks())
    if config.tokenizer == "bpe":
        return tok.train_bpe(train.chunks(), config.bpe_vocab_size)
    from zoo.registry import get_catalog

    tokenizer = get_catalog().get("tokenizers", config.tokenizer).load()(train.chunks())
    tokenizer.init_kwargs[tok.KIND_KEY] = config.tokenizer
    return tokenizer


def build_network(config: TextConfig, vocab_size: int) -> nn.Module:
    """The GPT-2 (`GPT2Model`'s layout, tied head) or the char-LSTM, sized by `config`."""
    if config.arch == "gpt":
        return gpt.GPT2(vocab_size, config.n_layer, config.n_head, config.n_embd, config.block_size, config.dropout, config.gelu)
    return CharLSTM(vocab_size, config.n_embd, config.n_layer, config.dropout)


class Pieces:
    """Incremental decoding for streaming: emits text only once it is whole UTF-8 (a byte-level BPE
    token may hold half a character), so the pieces joined equal the decoded sequence."""

    def __init__(self, tokenizer: PreTrainedTokenizerFast) -> None:
        self.tokenizer, self.pending = tokenizer, []

    def push(self, token: int) -> str:
        self.pending.append(token)
        text = tok.decode(self.tokenizer, self.pending)
        if text.endswith("\ufffd"):
            return ""  # wait for the rest of the character
        self.pending = []
        return text

    def flush(self) -> str:
        text, self.pending = tok.decode(self.tokenizer, self.pending), []
        return text


class TextFamily(Family):
    Config = TextConfig
    modality = "text"
    conditions: ClassVar[tuple[Condition, ...]] = (
        Condition("prompt", str, "", "text each sample continues (it starts every sample); a .txt or .abc file name: its text"),
        Condition("max_new_tokens", int, None, "tokens to generate (default: model.max_new_tokens)"),
        Condition("temperature", float, 1.0, "softmax temperature; 0 is greedy"),
        Condition("top_k", int, None, "sample among the k most likely tokens"),
        Condition("top_p", float, None, "sample among the most likely tokens holding this much probability (nucleus)"),
        Condition("stream", object, None, "a callable receiving each new piece of text (n == 1 only)"),
        Condition("constrain", str, None, "a decoding constraint a plugin registers (character models), e.g. metre: ABC bars that keep their metre"),
    )
    tiny: ClassVar[dict[str, Any]] = {
        "model.n_layer": 1, "model.n_head": 2, "model.n_embd": 16, "model.block_size": 16, "model.bpe_vocab_size": 300,
        "model.max_new_tokens": 24, "data.batch_size": 8, "train.num_preview": 2,
    }

    def __init__(self, config: TextConfig, info: dict[str, Any], context: FamilyContext) -> None:
        super().__init__(config, info, context)
        check_config(config)
        if config.arch == "pretrained":
            self.lm = pretrained.load_model(pretrained.resolve(config.init_from))
            if config.finetune == "lora":
                self.lm = pretrained.with_lora(self.lm, config.lora_rank, config.lora_alpha, config.lora_dropout, config.lora_targets)
                self.register_state_dict_post_hook(drop_frozen)  # checkpoints hold the adapters; init_from holds the rest
                self.register_load_state_dict_post_hook(allow_frozen_missing)
        elif config.arch == "gpt":
            self.transformer = build_network(config, info["vocab_size"])
        else:
            self.lstm = build_network(config, info["vocab_size"])
        self._tokenizer: PreTrainedTokenizerFast | None = None

    # ---- setup: tokenizer and fine-tuning source ---------------------------------------------
    @classmethod
    def setup(cls, config: TextConfig, train: TextData, assets: Path) -> dict[str, Any]:
        """Train the tokenizer on the train split (or adopt init_from's) and save it into `assets`."""
        check_config(config)
        if config.arch == "pretrained":
            return setup_pretrained(config, train, assets)
        if chat.is_conversations(train):
            check_chat_data(config, None)
        init = Path(config.init_from) if config.init_from else None
        if init is not None and not init.is_dir():
            raise ZooError(f"model.init_from={init} is not a folder", hint="pass a text run's checkpoint folder (RUN/checkpoints/step_N) or a Hugging Face GPT-2 folder")
        if init is not None and (init / "tokenizer.json").is_file():
            tokenizer = tok.load(init)  # fine-tuning keeps the model's own tokenizer
            kind = tok.kind(tokenizer)
            if kind != config.tokenizer:
                raise ZooError(f"model.init_from={init} has a {kind} tokenizer but model.tokenizer={config.tokenizer}", hint=f"pass --set model.tokenizer={kind}")
            unknown = sorted({c for piece in train.chunks() for c in tok.unknown_pieces(tokenizer, piece)})
            if unknown:
                raise ZooError(f"model.init_from={init}'s tokenizer cannot encode the training text: no tokens for {', '.join(map(repr, unknown[:10]))}", hint="fine-tune on text made of its tokens")
        else:
            tokenizer = train_tokenizer(config, train)
        tokenizer.save_pretrained(str(assets))
        info = {"vocab_size": len(tokenizer), "tokenizer": config.tokenizer}
        if init is not None:  # fail now on a mismatch, not after the data is tokenized
            load_pretrained(build_network(config, info["vocab_size"]), init, config, info["vocab_size"])
        return info

    # ---- data -----------------------------------------------------------------------------------
    @property
    def tokenizer(self) -> PreTrainedTokenizerFast:
        """The run's tokenizer, read once from its assets folder (where `setup` saved it)."""
        if self._tokenizer is None:
            folder = Path(self.context.assets)
            if not (folder / "tokenizer.json").is_file():
                raise ZooError(f"the text model's assets folder {folder} has no tokenizer.json", hint="load the model from its run (zoo.load RUN), which keeps the tokenizer with it")
            self._tokenizer = tok.load(folder)
        return self._tokenizer

    def prepare(self, data: TextData | chat.Conversations) -> TokenWindows | chat.ChatBatches:
        """Token windows over the split. A split with a cache key (your own files) is tokenized once, piece
        by piece, into a memory-mapped token file keyed by the split and the tokenizer. Conversations (JSONL)
        become one padded row each, the loss on the assistant's turns (`zoo_text.conversations`)."""
        conversations = chat.from_text(data)
        if conversations is not None:
            check_chat_data(self.config, self.tokenizer)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
            return chat.batches(conversations, self.tokenizer, self.config.block_size, pad or 0)
        ids = token_ids(data, self.tokenizer, self.info["vocab_size"])
        if len(ids) <= self.config.block_size:
            raise UsageError(f"the {data.info.get('split', 'text')} split has {len(ids)} tokens, not more than model.block_size={self.config.block_size}; lower model.block_size")
        return TokenWindows(ids, self.config.block_size, {**data.info, "tokens": len(ids)})

    # ---- model ----------------------------------------------------------------------------------
    @property
    def window(self) -> int | None:
        """Positions the model reads (gpt.Autoregressive): the GPT's block_size, a pretrained model's context
        window (its max_position_embeddings); the LSTM's is unbounded."""
        return {"gpt": self.config.block_size, "pretrained": self.info.get("context")}.get(self.config.arch)

    def network(self) -> nn.Module:
        return getattr(self, {"gpt": "transformer", "lstm": "lstm", "pretrained": "lm"}[self.config.arch])

    def forward(self, ids: Tensor) -> Tensor:
        """Logits N×T×V for ids N×T read from the start (T <= block_size for the GPT)."""
        if self.config.arch == "lstm":
            return self.lstm(ids)[0]
        if self.config.arch == "pretrained":
            return pretrained.logits(self.lm, ids)
        if ids.shape[1] > self.config.block_size:
            raise ValueError(f"{ids.shape[1]} positions exceed the GPT's context of block_size={self.config.block_size}")
        return gpt.logits(self.transformer, ids)

    def decode(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Logits N×T×V continuing `state`, and the new state (GPT: per-layer keys and values; LSTM: (h, c))."""
        if self.config.arch == "lstm":
            return self.lstm(ids, state)
        if self.config.arch == "pretrained":
            return pretrained.decode(self.lm, ids, state)
        return gpt.decode(self.transformer, ids, state)

    def loss(self, ids: Tensor) -> Tensor:
        """Mean next-token cross-entropy (nats) of ids[:, 1:] given ids[:, :-1]; ids N×T, T-1 <= block_size."""
        return F.cross_entropy(self(ids[:, :-1]).flatten(0, 1).float(), ids[:, 1:].flatten())

    @torch.no_grad()
    def nll(self, batch: dict[str, Tensor]) -> Tensor:
        """Negative log-likelihood of each window's next tokens `y` given its inputs `x` (N×T each), summed
        over the window: N nats (capabilities.LogLikelihood)."""
        logits = self(batch["x"]).float()  # N×T×V
        return F.cross_entropy(logits.transpose(1, 2), batch["y"], reduction="none").sum(1)

    def train_step(self, batch: dict[str, Tensor], ctx: StepContext) -> dict[str, Tensor]:
        if ctx.step == 0 and self.config.init_from and self.config.arch != "pretrained":  # a fresh fine-tuning run starts from init_from's weights (a pretrained model has them from the start)
            load_pretrained(self.network(), Path(self.config.init_from), self.config, self.info["vocab_size"])
        loss = F.cross_entropy(self(batch["x"]).flatten(0, 1).float(), batch["y"].flatten())
        ctx.update("model", loss)
        return {"loss": loss.detach()}

    # ---- generation -----------------------------------------------------------------------------
    def generate(
        self, ids: Tensor, max_new_tokens: int, generator: torch.Generator | None = None, temperature: float = 1.0,
        top_k: int | None = None, top_p: float | None = None, use_cache: bool = True,
    ) -> Tensor:
        """Continue ids N×T0 (T0 >= 1) with `max_new_tokens` sampled tokens -> N×(T0 + max_new_tokens)."""
        return gpt.generate(self, ids, max_new_tokens, generator, temperature, top_k, top_p, use_cache)

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, prompt: str = "", max_new_tokens: int | None = None,
        temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None, stream: Callable[[str], Any] | None = None,
        constrain: str | None = None,
    ) -> TextSamples:
        """`n` continuations of `prompt` (each text starts with the prompt); `stream(piece)` receives the
        prompt, then each new piece of text as it is generated (n == 1 only). `max_new_tokens` defaults
        to model.max_new_tokens. `constrain` names a registered decoding constraint (`constrained`); what
        it cost goes into the samples' meta."""
        tokenizer = self.tokenizer
        max_new_tokens = self.config.max_new_tokens if max_new_tokens is None else max_new_tokens
        if max_new_tokens <= 0:
            raise UsageError(f"--max-new-tokens must be a positive integer, got {max_new_tokens!r}")
        gpt.check_sampling(temperature, top_k, top_p)
        prompt = prompt_text(prompt)
        unknown = tok.unknown_pieces(tokenizer, prompt)
        if unknown:
            raise UsageError(f"--prompt has {tok.noun(tokenizer)} outside this model's vocabulary: {', '.join(map(repr, unknown))}; remove or replace them")
        if stream is not None and not callable(stream):
            raise UsageError(f"stream must be a callable receiving text, got {stream!r}")
        if stream is not None and n != 1:
            raise UsageError(f"streaming prints one sample; use -n 1 (got -n {n})")
        if prompt or not tok.unknown_pieces(tokenizer, START):
            ids = tok.encode(tokenizer, prompt or START)
        else:
            ids = torch.zeros(1, dtype=torch.long)  # a vocabulary without newlines starts from its first token
        self.check_prompt(ids)
        if stream is not None and prompt:
            stream(prompt)
        steered = self.constrained(constrain, n)
        rows = self.continue_ids(ids.to(self.device).expand(n, -1), max_new_tokens, generator, temperature, top_k, top_p, stream, model=steered)
        texts = [prompt + tok.decode(tokenizer, row) for row in rows]
        meta = {"prompt": prompt, "max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k, "top_p": top_p}
        if steered is not None:
            steps = max(1, steered.calls * n)
            meta["constraint"] = {"name": constrain, "samples": n, "steps": steered.calls * n, "masked_share": steered.masked_mass / steps,
                                  "nats_per_token": steered.nats / steps, "nats_per_sample": steered.nats / n}
        return TextSamples(texts, meta=meta)

    def constrained(self, name: str | None, n: int) -> gpt.Steered | None:
        """This model steered by the decoding constraint a plugin registered as `name` (None: none)."""
        if name is None:
            return None
        from zoo.registry import get_catalog

        if not tok.is_char(self.tokenizer):
            raise UsageError(f"constrain={name} reads characters; this model's tokenizer is {self.config.tokenizer} (train with model.tokenizer=char)")
        factory = get_catalog().get("constraints", name).load()
        vocab = [tok.decode(self.tokenizer, [i]) for i in range(self.info["vocab_size"])]
        return gpt.Steered(self, factory(vocab, n))

    def continue_ids(
        self, ids: Tensor, max_new_tokens: int, generator: torch.Generator | None, temperature: float, top_k: int | None,
        top_p: float | None, stream: Callable[[str], Any] | None = None, stop: frozenset[int] = frozenset(), model: gpt.Autoregressive | None = None,
    ) -> list[list[int]]:
        """The new tokens after ids N×T0, row 0's streamed as text to `stream`; a row ends before its first
        `stop` token, and generation once every row has one. A pretrained model decodes on one CPU thread:
        a token's small matrix products gain little from a second thread and lose much when the cores are
        shared (SmolLM2-135M: 6 against 2 tokens/s on 2 busy cores). `model`: what draws the tokens, when
        not this model itself (a constrained view of it, gpt.Steered)."""
        pieces, new = Pieces(self.tokenizer), []
        ended, stops = torch.zeros(len(ids), dtype=torch.bool), torch.tensor(sorted(stop), dtype=torch.long)
        with single_thread(self.device) if self.config.arch == "pretrained" else contextlib.nullcontext():
            for token in gpt.steps(model or self, ids, max_new_tokens, generator, temperature, top_k, top_p):
                new.append(token)
                if stop:
                    ended |= torch.isin(token[:, 0].cpu(), stops)
                    if ended.all():
                        break
                piece = pieces.push(int(token[0])) if stream is not None and not ended[0] else ""
                if piece:
                    stream(piece)
        rest = pieces.flush()
        if stream is not None and rest:
            stream(rest)
        rows = torch.cat(new, 1).tolist() if new else [[] for _ in range(len(ids))]
        return [next((row[:i] for i, t in enumerate(row) if t in stop), row) for row in rows]

    def check_prompt(self, ids: Tensor) -> None:
        """A pretrained model's prompt must fit its context window (a GPT's slides over its own, by design)."""
        if self.config.arch == "pretrained" and ids.shape[-1] >= self.window:
            raise UsageError(f"the prompt is {ids.shape[-1]} tokens; this model reads at most {self.window} (its context window): shorten it")

    # ---- chat (capabilities.Chats) --------------------------------------------------------------
    def chat_prompt(self, messages: list[dict[str, str]]) -> Tensor:
        """The conversation rendered with the model's chat template, ending with the assistant's cue (ids, 1-D)."""
        if not chat.has_template(self.tokenizer):
            raise UsageError("this model has no chat template (a base model, or one trained from scratch), so it cannot tell turns apart; "
                             "continue text with `zoo sample RUN --prompt ...` instead")
        return torch.tensor(chat.prompt_ids(self.tokenizer, chat.check_messages(messages, "the conversation")))

    @torch.no_grad()
    def reply(
        self, messages: list[dict[str, str]], generator: torch.Generator | None = None, stream: Callable[[str], Any] | None = None,
        max_new_tokens: int | None = None, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
    ) -> str:
        """The assistant's next turn after `messages` ([{role, content}]), ending at the model's end-of-turn token
        or after `max_new_tokens` (default model.max_new_tokens); `stream(piece)` receives it as it is generated."""
        ids = self.chat_prompt(messages).to(self.device)[None]
        self.check_prompt(ids)
        gpt.check_sampling(temperature, top_k, top_p)
        stop = pretrained.stop_ids(self.tokenizer, self.lm) if self.config.arch == "pretrained" else {self.tokenizer.eos_token_id}
        rows = self.continue_ids(ids, max_new_tokens or self.config.max_new_tokens, generator, temperature, top_k, top_p, stream, frozenset(stop))
        return tok.decode(self.tokenizer, rows[0])

    # ---- evaluation and export ------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, ctx: Any) -> dict[str, float]:
        """Validation loss (mean next-token nats) over the test split cut into non-overlapping windows:
        deterministic, and the same expectation as nanoGPT's random-window estimate_loss. Bits per
        character and per UTF-8 byte divide the total nats by the characters/bytes those tokens decode to.
        Conversations score the assistant's tokens only, a whole conversation each."""
        test = ctx.split(self)
        if isinstance(test, chat.ChatBatches):
            nats = sum(self.nll(test.batch(idx)).sum().item() for idx in torch.arange(len(test), device=ctx.device).split(ctx.batch_size))
            return scores(nats, int(test.counts[:, 1:].sum()), int(test.chars.sum()), int(test.nbytes.sum()))
        T = self.config.block_size
        starts = torch.arange(0, len(test), T, device=ctx.device)[: MAX_EVAL_BATCHES * ctx.batch_size]
        nats = 0.0
        for i in range(0, len(starts), ctx.batch_size):
            nats += self.nll(test.batch(starts[i : i + ctx.batch_size])).sum().item()
        tokens = len(starts) * T
        text = tok.decode(self.tokenizer, test.ids[1 : tokens + 1].tolist())  # exactly the predicted tokens
        return scores(nats, tokens, len(text), len(text.encode("utf-8")))

    def throughput_unit(self) -> tuple[str, float]:
        return "tokens", float(self.config.block_size)

    def save_assets(self, folder: Path) -> None:
        """Tokenizer files; for the GPT a Hugging Face config.json + generation_config.json; for LoRA the
        adapters in peft's format (adapter_config.json, adapter_model.safetensors)."""
        self.tokenizer.save_pretrained(str(folder))
        if self.config.arch == "pretrained" and self.config.finetune == "lora":
            pretrained.save_adapter(self.lm, folder, str(self.config.init_from))
        if self.config.arch == "gpt":
            from transformers import GenerationConfig

            c, eos = self.config, self.tokenizer.eos_token_id
            config = gpt.hf_config(self.info["vocab_size"], c.n_layer, c.n_head, c.n_embd, c.block_size, c.dropout, eos, c.gelu)
            (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
            GenerationConfig(  # zoo's defaults: plain sampling (top_k=0 turns HF's top-50 off), the preset's length
                do_sample=True, max_new_tokens=c.max_new_tokens, top_k=0, bos_token_id=eos, eos_token_id=eos, pad_token_id=eos,
            ).save_pretrained(str(folder))

    def export_merged(self, folder: Path) -> None:
        """A standalone transformers folder (LoRA adapters merged into the weights, safetensors, tokenizer, chat
        template) that `AutoModelForCausalLM.from_pretrained(folder)` loads (capabilities.ExportsMerged)."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.config.arch == "lstm":
            raise UsageError("an LSTM run has no transformers model to export; its checkpoints load with zoo.load only")
        if self.config.arch == "pretrained":
            (pretrained.merged(self.lm) if self.config.finetune == "lora" else self.lm).save_pretrained(str(folder))
            self.tokenizer.save_pretrained(str(folder))
            return
        from safetensors.torch import save_model

        save_model(self, str(folder / "model.safetensors"))  # the GPT's weights carry GPT2LMHeadModel's names
        self.save_assets(folder)


def prompt_text(prompt: str) -> str:
    """The prompt's text: the text itself, or what a named .txt or .abc file holds; a named file of
    another format (a score, a clip, an image) is a usage error, since a text model reads text only."""
    path = Path(prompt) if prompt and "\n" not in prompt and len(prompt) < 1024 else None
    if path is not None and path.suffix.lower() in TEXT_FILES and path.is_file():
        return path.read_text(encoding="utf-8")
    if path is not None and path.suffix.lower() in OTHER_FILES:
        raise UsageError(f"--prompt {path.name}: this text model continues text (the text itself, or a .txt or .abc file), not a {path.suffix} file; "
                         "continue scores with a chorale run (gpt-chorales, lstm-chorales)")
    return prompt


def scores(nats: float, tokens: int, chars: int, nbytes: int) -> dict[str, float]:
    """Validation figures from total nats over `tokens` predicted tokens that decode to `chars` characters (`nbytes` bytes)."""
    mean = nats / tokens
    return {"val_loss": mean, "perplexity": perplexity(mean), "bits_per_char": bits_per_token(nats / chars),
            "bits_per_byte": bits_per_token(nats / nbytes)}


def setup_pretrained(config: TextConfig, train: Any, assets: Path) -> dict[str, Any]:
    """Adopt `init_from`'s tokenizer and chat template, and check the model, its context and the LoRA targets
    before any data is tokenized (the weights load when the model is built)."""
    source = pretrained.resolve(str(config.init_from))
    hf = pretrained.load_config(source)
    context = pretrained.context_window(hf)
    if config.block_size > context:
        raise UsageError(f"model.block_size={config.block_size} is longer than {config.init_from}'s context window of {context} tokens; lower it")
    if config.finetune == "lora":
        pretrained.check_targets(pretrained.skeleton(hf), config.lora_targets)
    tokenizer = pretrained.load_tokenizer(source)
    if chat.is_conversations(train):
        check_chat_data(config, tokenizer)
    tokenizer.save_pretrained(str(assets))
    return {"vocab_size": len(tokenizer), "tokenizer": "pretrained", "context": context}


def check_chat_data(config: TextConfig, tokenizer: Any) -> None:
    """Conversations need a model that renders them: a pretrained one with a chat template."""
    if config.arch != "pretrained":
        raise UsageError("conversation data (JSONL) needs a pretrained chat model: pick a preset with model.arch=pretrained (zoo list --family text)")
    if not chat.has_template(tokenizer):
        raise UsageError(f"model.init_from={config.init_from} has no chat template to render conversations with; train it on plain text, or start from an instruct model")


def drop_frozen(module: nn.Module, state: dict[str, Tensor], prefix: str, local_metadata: Any) -> None:
    """state_dict post-hook of a LoRA model: keep the trainable tensors (the adapters) only."""
    keep = {prefix + name for name, p in module.named_parameters() if p.requires_grad}
    for key in [k for k in state if k not in keep]:
        del state[key]


def allow_frozen_missing(module: nn.Module, incompatible: Any) -> None:
    """load_state_dict post-hook of a LoRA model: the frozen base weights (and buffers) come from init_from,
    not from the checkpoint, so they are not missing from it."""
    frozen = {n for n, p in module.named_parameters(remove_duplicate=False) if not p.requires_grad} | {n for n, _ in module.named_buffers()}
    incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if k not in frozen]


def load_pretrained(network: nn.Module, folder: Path, config: TextConfig, vocab_size: int) -> None:
    """Copy weights into `network` (the GPT2 or CharLSTM) from a text checkpoint folder or a Hugging
    Face GPT-2 folder (`model.safetensors`)."""
    file = folder / "model.safetensors"
    if not file.is_file():
        raise ZooError(f"model.init_from={folder} has no model.safetensors", hint="pass a text run's checkpoint folder (RUN/checkpoints/step_N) or a Hugging Face GPT-2 folder saved with safetensors")
    if config.arch == "gpt":
        check_hf_config(folder, config, vocab_size)
    try:
        weights = load_file(str(file))
    except (SafetensorError, OSError) as err:
        raise ZooError(f"model.init_from: {file} is unreadable ({err})") from err
    prefix = "transformer." if config.arch == "gpt" else "lstm."
    skip = ("lm_head.weight", ".attn.bias", ".attn.masked_bias")  # tied head; old GPT-2 mask buffers
    weights = {k.removeprefix(prefix): v for k, v in weights.items() if not k.endswith(skip)}
    try:
        missing, unexpected = network.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # shape mismatches; the first detail line names the tensor
        detail = ([line.strip() for line in str(err).splitlines()[1:] if line.strip()] or [str(err)])[0]
        raise ZooError(f"model.init_from={folder} does not fit this model: {detail}", hint="match model.* to the folder's architecture") from err
    if missing or unexpected:
        raise ZooError(f"model.init_from={folder} is not a {config.arch} text model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")


def check_hf_config(folder: Path, config: TextConfig, vocab_size: int) -> None:
    """init_from's config.json must be a tied GPT-2 of this run's shape and vocabulary."""
    file = folder / "config.json"
    try:
        hf = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ZooError(f"model.init_from={folder} has no readable config.json ({err.__class__.__name__})", hint="pass a text run's checkpoint folder or a Hugging Face GPT-2 folder") from err
    if hf.get("model_type") != "gpt2":
        raise ZooError(f"model.init_from={folder} holds a {hf.get('model_type')!r} model; the text family fine-tunes GPT-2 (model_type gpt2) models")
    if not hf.get("tie_word_embeddings", True):
        raise ZooError(f"model.init_from={folder} has an untied output head; the text family's GPT ties it to the token embedding")
    if hf.get("vocab_size") != vocab_size:
        raise ZooError(
            f"model.init_from={folder} has a {hf.get('vocab_size')}-token vocabulary but the run's tokenizer has {vocab_size}",
            hint="put the model's own tokenizer.json in the folder so the run uses it",
        )
    activation = hf.get("activation_function", "gelu_new")  # GPT2Config's default
    if activation not in gpt.HF_ACTIVATION:
        raise ZooError(f"model.init_from={folder} uses activation {activation!r}; the text family's GPT has a GELU (gelu, gelu_new or gelu_pytorch_tanh)")
    ours = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd, "block_size": config.block_size, "gelu": config.gelu}
    theirs = {"n_layer": hf.get("n_layer"), "n_head": hf.get("n_head"), "n_embd": hf.get("n_embd"), "block_size": hf.get("n_positions"),
              "gelu": gpt.HF_ACTIVATION[activation]}
    wrong = [k for k in ours if ours[k] != theirs[k]]
    if wrong:
        sets = " ".join(f"--set model.{k}={theirs[k]}" for k in wrong)
        raise ZooError(f"model.init_from={folder} has a different architecture: {', '.join(f'{k} {theirs[k]} (run: {ours[k]})' for k in wrong)}", hint=f"pass {sets}")
