"""FSDP (`train.parallel: fsdp`) under torchrun with two gloo CPU ranks: full fine-tuning of a tiny Llama gives the
same weights as one process; its sharded checkpoints resume exactly and merge into one transformers folder."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from test_pretrained import make_tiny_llama
from zoo import distributed as dist
from zoo.checkpoint import latest
from zoo.cli import cli

SCRIPT = Path(__file__).with_name("fsdp_train.py")


def launch(model: Path, out: Path, steps: int, procs: int, *flags: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable] if procs == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
    result = subprocess.run(cmd + [str(SCRIPT), str(model), str(out), str(steps), *flags], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def whole(run: Path, step: int | None = None) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    folder = latest(run) if step is None else run / "checkpoints" / f"step_{step:07d}"
    return dist.merged_weights(folder) if dist.shard_files(folder, "model") else load_file(folder / "model.safetensors")


def tied_as_embedding(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tied head is stored once, under either of its names: call it the embedding."""
    return {k.replace("lm.lm_head.weight", "lm.model.embed_tokens.weight"): v for k, v in weights.items()}


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], **tolerance) -> None:
    a, b = tied_as_embedding(a), tied_as_embedding(b)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], **tolerance)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fsdp")
    model = make_tiny_llama(root / "tiny")
    launch(model, root / "one", 4, 1)
    launch(model, root / "two", 4, 2, "fsdp")
    launch(model, root / "part", 2, 2, "fsdp")
    shutil.copytree(root / "part", root / "alone")
    launch(model, root / "part", 4, 2, "fsdp", "resume")
    launch(model, root / "alone", 4, 1, "resume")
    return {"model": model, **{name: root / name for name in ("one", "two", "part", "alone")}}


def test_two_sharded_ranks_match_one_process(runs):
    folder = latest(runs["two"])
    assert [f.name for f in dist.shard_files(folder, "model")] == ["model-00000-of-00002.safetensors", "model-00001-of-00002.safetensors"]
    assert len(dist.shard_files(folder, "optimizers")) == 2 and not (folder / "model.safetensors").exists()
    assert_close(whole(runs["one"]), whole(runs["two"]), rtol=1e-4, atol=1e-5)


def test_sharded_checkpoint_resumes_exactly(runs):
    assert_close(whole(runs["two"]), whole(runs["part"]), rtol=0, atol=0)  # 2 + resume 2 under FSDP == 4 straight
    assert_close(whole(runs["two"]), whole(runs["alone"]), rtol=1e-4, atol=1e-5)  # and it resumes in one process


def test_sharded_checkpoint_merges_into_a_transformers_folder(runs, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    result = CliRunner().invoke(cli, ["export", str(runs["two"]), "--merged", str(out)])
    assert result.exit_code == 0, result.output
    merged = AutoModelForCausalLM.from_pretrained(out).state_dict()
    for name, tensor in whole(runs["two"]).items():
        assert torch.equal(merged[name.removeprefix("lm.")], tensor), name
