"""The text family: contract per preset, tokenizers, overfitting, Hugging Face round trip, sampling, errors."""
from __future__ import annotations

import inspect
import math
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo import checkpoint
from zoo.capabilities import LogLikelihood, check_conditions
from zoo.contract import FamilyContext
from zoo.errors import UsageError, ZooError
from zoo.nn.gpt import GPT
from zoo.presets import resolve
from zoo.registry import get_catalog

CORPUS = Path(__file__).resolve().parents[1] / "data" / "tinyshakespeare" / "input.txt"
TINY = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models run on one intra-op thread


def text_family():
    return get_catalog().get("models", "text").load()


def context(assets: Path) -> FamilyContext:
    return FamilyContext(assets, resolve("gpt-shakespeare").data)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny char GPT trained for a few steps on Tiny Shakespeare."""
    overrides = {**text_family().tiny, "train.log_every": 1, "train.sample_every": 0, "train.checkpoint_every": 0, "eval.metrics": []}
    run = zoo.train("gpt-shakespeare", steps=3, device="cpu", out=tmp_path_factory.mktemp("text") / "run", overrides=overrides, quiet=True)
    return run.path


# ---- data and tokenizers ---------------------------------------------------------------------------
def test_split_is_nanogpts():
    from zoo_text.data import load_text_split

    text = CORPUS.read_text()
    train, test = (load_text_split(CORPUS.parent, s, None) for s in ("train", "test"))
    assert train.text + test.text == text and len(train.text) == int(0.9 * len(text))


def test_char_tokenizer_round_trip_on_corpus():
    from zoo_text import tokenizer as tok

    text = CORPUS.read_text()
    t = tok.train_char(text)
    assert len(t) == 65
    ids = tok.encode(t, text)
    assert tok.decode(t, ids.tolist()) == text
    assert ids[:50_000].tolist() == t.backend_tokenizer.encode(text[:50_000]).ids  # the fast path is the tokenizer
    assert tok.unknown_pieces(t, "ROMEO: €x¿") == ["¿", "€"]
    with pytest.raises(ZooError, match="€"):
        tok.encode(t, "price: €")


def test_bpe_tokenizer_round_trip():
    from zoo_text import tokenizer as tok

    text = CORPUS.read_text()
    t = tok.train_bpe(text[:200_000], 300)
    assert len(t) == 300
    for sample in (text[500_000:520_000], "héllo € 日本 \n\n  x"):
        ids = tok.encode(t, sample)
        assert len(ids) < len(sample.encode()) or not sample.isascii()
        assert tok.decode(t, ids.tolist()) == sample
    assert tok.unknown_pieces(t, "€") == []


def test_windows_are_gathered_by_index():
    from zoo_text.data import TokenWindows, compact

    data = TokenWindows(compact(torch.arange(100), 65), block_size=8)
    assert data.ids.dtype == torch.uint16 and len(data) == 92
    batch = data.batch(torch.tensor([0, 91]))
    assert batch["x"].tolist() == [list(range(8)), list(range(91, 99))]
    assert batch["y"].tolist() == [list(range(1, 9)), list(range(92, 100))]


# ---- models ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_overfits_a_line_and_reproduces_it_greedily(arch, tmp_path):
    from zoo_text import tokenizer as tok

    Family = text_family()
    text = "To be, or not to be, that is the question:\n"
    t = tok.train_char(text)
    t.save_pretrained(str(tmp_path))
    torch.manual_seed(0)
    model = Family(Family.Config(arch=arch, **{**TINY, "n_embd": 32, "block_size": 64}), {"vocab_size": len(t)}, context(tmp_path))
    ids = tok.encode(t, text)[None]  # one window: every prediction sees the whole prefix, so zero loss is reachable
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model.loss(ids)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.02
    model.eval()
    assert model.sample(1, prompt="T", max_new_tokens=len(text) - 1, temperature=0).texts == [text]
    assert model.sample(1, prompt="T", max_new_tokens=len(text) - 1, top_k=1).texts == [text]


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_cached_generation_equals_recomputing(arch, tmp_path):
    Family = text_family()
    torch.manual_seed(0)
    model = Family(Family.Config(arch=arch, **TINY), {"vocab_size": 32}, context(tmp_path)).eval()
    ids = torch.randint(0, 32, (3, 5))
    new = 11 if arch == "gpt" else 40  # a GPT's recomputing loop slides its window past block_size; the cache restarts
    cached = model.generate(ids, new, temperature=0)
    assert cached.shape == (3, 5 + new) and torch.equal(cached[:, :5], ids)
    assert torch.equal(cached, model.generate(ids, new, temperature=0, use_cache=False))
    sampled = [model.generate(ids, new, torch.Generator().manual_seed(1), use_cache=c) for c in (True, False)]
    assert torch.equal(*sampled)
    assert model.generate(ids, 40).shape == (3, 45)  # past the context window too


@pytest.mark.parametrize("arch", ["gpt", "lstm"])
def test_nll_sums_each_windows_token_nats(arch, tmp_path):
    Family = text_family()
    torch.manual_seed(0)
    model = Family(Family.Config(arch=arch, **TINY), {"vocab_size": 32}, context(tmp_path)).eval()
    assert isinstance(model, LogLikelihood)
    ids = torch.randint(0, 32, (3, 17))
    nll = model.nll({"x": ids[:, :-1], "y": ids[:, 1:]})
    assert nll.shape == (3,) and not nll.requires_grad
    with torch.no_grad():
        torch.testing.assert_close(nll.mean() / 16, model.loss(ids))


def test_conditions_are_the_sample_keywords(tmp_path):
    Family = text_family()
    declared = {c.name for c in Family.conditions}
    assert declared == set(inspect.signature(Family.sample).parameters) - {"self", "n", "generator"}
    assert check_conditions(Family.conditions, {"temperature": 0, "stream": print}) == {"temperature": 0.0, "stream": print}
    with pytest.raises(UsageError, match="unknown condition 'label'"):
        check_conditions(Family.conditions, {"label": 1})
    model = Family(Family.Config(arch="gpt", **TINY), {"vocab_size": 32}, context(tmp_path / "empty"))
    with pytest.raises(ZooError, match="no tokenizer.json"):  # the tokenizer comes from context.assets
        model.sample(1)


def test_shared_gpt_is_the_text_familys_network(tmp_path):
    """zoo.nn.gpt.GPT (the VQ-VAE's prior) holds the same GPT2 under the same names as the text GPT:
    the same weights give the same logits, and it trains, scores and generates on token ids alone."""
    Family = text_family()
    torch.manual_seed(0)
    text_model = Family(Family.Config(arch="gpt", **TINY), {"vocab_size": 32}, context(tmp_path)).eval()
    prior = GPT(32, TINY["block_size"], TINY["n_layer"], TINY["n_head"], TINY["n_embd"]).eval()
    prior.load_state_dict(text_model.state_dict())
    ids = torch.randint(0, 32, (4, 17))
    with torch.no_grad():
        assert torch.equal(prior(ids[:, :16]), text_model(ids[:, :16]))
    loss = prior.loss(ids)
    assert loss.ndim == 0 and abs(loss.item() - math.log(32)) < 0.5
    loss.backward()
    torch.testing.assert_close(prior.nll(ids).mean().detach() / 16, loss.detach())
    out = prior.generate(ids[:, :1], 16, generator=torch.Generator().manual_seed(0), temperature=1.0, top_k=5, top_p=0.9)
    assert out.shape == (4, 17) and out.dtype == torch.long and int(out.max()) < 32
    assert torch.equal(prior.generate(ids[:, :3], 20, temperature=0), text_model.generate(ids[:, :3], 20, temperature=0))
    with pytest.raises(UsageError, match="n_head"):
        GPT(32, 16, 1, 3, 16)


@pytest.mark.parametrize("gelu", ["exact", "tanh"])
def test_gpt2_is_transformers_gpt2(gelu):
    """zoo's GPT-2 is HF's, written out: a seed draws GPT2Model's initial weights under the same names, and
    a training forward (dropout on, same draws) gives the same logits and gradients, bit for bit."""
    from transformers import GPT2LMHeadModel, GPT2Model

    from zoo.nn import gpt

    sizes = (40, 2, 2, 16, 16, 0.2)  # vocabulary, layers, heads, width, context, dropout
    config = gpt.gpt2_config(*sizes, gelu=gelu)
    torch.manual_seed(0)
    hf = GPT2Model(config)
    torch.manual_seed(0)
    ours = gpt.GPT2(*sizes, gelu=gelu)
    theirs, mine = hf.state_dict(), ours.state_dict()
    assert theirs.keys() == mine.keys() and all(torch.equal(theirs[k], mine[k]) for k in theirs)
    lm = GPT2LMHeadModel(config)
    lm.transformer.load_state_dict(mine)
    ids = torch.randint(0, 40, (3, 16))
    torch.manual_seed(1)
    expected = lm.train()(ids).logits
    torch.manual_seed(1)
    got = gpt.logits(ours.train(), ids)
    assert torch.equal(expected, got)
    expected.square().mean().backward()
    got.square().mean().backward()
    grads = dict(lm.transformer.named_parameters())
    assert all(torch.equal(grads[k].grad, p.grad) for k, p in ours.named_parameters())


# ---- a trained run -------------------------------------------------------------------------------------
def test_checkpoint_loads_with_transformers(run_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = checkpoint.latest(run_dir)
    hf = AutoModelForCausalLM.from_pretrained(str(folder)).eval()
    hf_tok = AutoTokenizer.from_pretrained(str(folder))
    model = zoo.load(run_dir)
    ids = torch.tensor([hf_tok("ROMEO:\nWhat, ho!")["input_ids"]])
    assert hf_tok.decode(ids[0]) == "ROMEO:\nWhat, ho!"
    with torch.no_grad():
        assert torch.equal(hf(ids).logits, model(ids))
    prompt = ids[:, :6]
    greedy = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False)
    assert torch.equal(greedy, model.generate(prompt, 10, temperature=0))  # HF's generation config and loop agree with ours


def test_sampling_is_reproducible_and_streams(run_dir):
    a = zoo.sample(run_dir, 2, seed=3, prompt="ROMEO:")
    assert a.texts == zoo.sample(run_dir, 2, seed=3, prompt="ROMEO:").texts
    assert a.texts != zoo.sample(run_dir, 2, seed=4, prompt="ROMEO:").texts
    assert all(t.startswith("ROMEO:") and len(t) == len("ROMEO:") + 24 for t in a.texts)
    pieces: list[str] = []
    streamed = zoo.sample(run_dir, 1, seed=3, prompt="ROMEO:", stream=pieces.append)
    assert "".join(pieces) == streamed.texts[0] == zoo.sample(run_dir, 1, seed=3, prompt="ROMEO:").texts[0] and len(pieces) == 25


def test_evaluation_numbers(run_dir):
    m = zoo.evaluate(run_dir, device="cpu", metrics=[])
    assert 0 < m["val_loss"] < 5 and math.isclose(m["perplexity"], math.exp(m["val_loss"]))
    assert math.isclose(m["bits_per_char"], m["val_loss"] / math.log(2)) and m["bits_per_byte"] == m["bits_per_char"]


def test_bad_sampling_input(run_dir):
    assert len(zoo.sample(run_dir, 1, prompt="", max_new_tokens=7).texts[0]) == 7  # empty prompt: starts from a newline
    with pytest.raises(UsageError, match="'€'"):
        zoo.sample(run_dir, 1, prompt="Price: 5€")
    for bad in (0, -3):
        with pytest.raises(UsageError, match="max-new-tokens"):
            zoo.sample(run_dir, 1, max_new_tokens=bad)
    with pytest.raises(UsageError, match="temperature"):
        zoo.sample(run_dir, 1, temperature=-1.0)
    with pytest.raises(UsageError, match="top-p"):
        zoo.sample(run_dir, 1, top_p=0.0)
    with pytest.raises(UsageError, match="-n 1"):
        zoo.sample(run_dir, 2, stream=print)


def test_cli_sample(run_dir):
    from zoo.cli import cli

    result = CliRunner().invoke(cli, ["sample", str(run_dir), "-n", "1", "--prompt", "ROMEO:", "--max-new-tokens", "5"])
    assert result.exit_code == 0 and result.output.startswith("ROMEO:") and len(result.output) == len("ROMEO:") + 5 + 1
    result = CliRunner().invoke(cli, ["sample", str(run_dir), "-n", "1", "--max-new-tokens", "0"])
    assert result.exit_code == 2 and "max-new-tokens" in result.output


def test_fine_tuning_starts_from_init_from(run_dir, tmp_path):
    from safetensors.torch import load_file

    source = checkpoint.latest(run_dir)
    overrides = {**text_family().tiny, "train.lr": 0.0, "train.sample_every": 0, "train.checkpoint_every": 0, "eval.metrics": [], "model.init_from": str(source)}
    run = zoo.train("gpt-shakespeare", steps=1, device="cpu", out=tmp_path / "tuned", overrides=overrides, quiet=True)
    before, after = load_file(str(source / "model.safetensors")), load_file(str(checkpoint.latest(run.path) / "model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)

    with pytest.raises(ZooError, match="not a folder"):
        zoo.train("gpt-shakespeare", steps=1, device="cpu", out=tmp_path / "a", overrides={**overrides, "model.init_from": str(tmp_path / "nope")}, quiet=True)
    with pytest.raises(ZooError, match="n_embd 16 .run: 32."):
        zoo.train("gpt-shakespeare", steps=1, device="cpu", out=tmp_path / "b", overrides={**overrides, "model.n_embd": 32}, quiet=True)
    with pytest.raises(ZooError, match="gelu exact .run: tanh.*--set model.gelu=exact"):
        zoo.train("gpt-shakespeare", steps=1, device="cpu", out=tmp_path / "g", overrides={**overrides, "model.gelu": "tanh"}, quiet=True)
    bare = tmp_path / "bare"  # weights and config, no tokenizer: the run trains its own, with another vocabulary
    bare.mkdir()
    for name in ("model.safetensors", "config.json"):
        shutil.copy(source / name, bare / name)
    with pytest.raises(ZooError, match="vocabulary"):
        zoo.train("gpt-shakespeare", steps=1, device="cpu", out=tmp_path / "c", overrides={**overrides, "model.init_from": str(bare), "model.tokenizer": "bpe"}, quiet=True)


def test_characters_the_training_split_lacks_are_left_out_of_a_held_out_split_with_a_warning():
    from zoo.data.tensors import TextData
    from zoo_text import tokenizer as tok
    from zoo_text.data import token_ids

    t = tok.train_char("abc ")
    with pytest.warns(UserWarning, match=r"left 2 character\(s\) of the test split out \('d'\)"):
        ids = token_ids(TextData("ab dd c", {"split": "test"}), t, len(t))
    assert tok.decode(t, ids.tolist()) == "ab  c"
