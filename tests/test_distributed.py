"""Data parallelism through torchrun with gloo on CPU: the same weights as one process, rank 0 writes alone."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from zoo.checkpoint import latest
from zoo.contract import StepContext

SCRIPT = Path(__file__).with_name("ddp_train.py")


def launch(preset: str, out: Path, steps: int, procs: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if procs == 1:
        cmd = [sys.executable, str(SCRIPT)]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", str(SCRIPT)]
    result = subprocess.run(cmd + [preset, str(out), str(steps), *extra], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # Every rank joined gloo's threads before exit; a thread left to interpreter exit can abort a finished rank.
    left = re.findall(r"gloo threads left: (\d+)", result.stdout)
    if sys.platform == "linux":
        assert left == ["0"] * procs, result.stdout
    return result


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    launch("tiny-mnist", tmp_path / "one", 6, 1)
    launch("tiny-mnist", tmp_path / "two", 6, 2)
    a = load_file(latest(tmp_path / "one") / "model.safetensors")
    b = load_file(latest(tmp_path / "two") / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    logs_one = [json.loads(l) for l in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    logs_two = [json.loads(l) for l in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [round(r["loss"], 4) for r in logs_one] == [round(r["loss"], 4) for r in logs_two]  # all-reduced logs


def test_gradient_accumulation_under_torchrun_matches_one_process_with_the_whole_batch(tmp_path):
    launch("tiny-mnist", tmp_path / "one", 4, 1)
    launch("tiny-mnist", tmp_path / "two", 4, 2, "accum")  # 2 ranks × 2 micro-batches of 4
    a = load_file(latest(tmp_path / "one") / "model.safetensors")
    b = load_file(latest(tmp_path / "two") / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_two_process_gan_run_completes_and_only_rank_zero_writes(tmp_path):
    launch("gan-mnist-quick", tmp_path / "gan", 4, 2)
    run = tmp_path / "gan"
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gan"]
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 4  # one writer, not two
    assert list((run / "checkpoints").glob("step_*")) == [run / "checkpoints" / "step_0000004"]


def test_distributed_checkpoint_resumes_in_one_process(tmp_path):
    import zoo

    launch("gan-mnist-quick", tmp_path / "gan", 3, 2)
    zoo.train(resume=tmp_path / "gan", steps=5, device="cpu", quiet=True)
    assert json.loads((tmp_path / "gan" / "summary.json").read_text())["step"] == 5


def test_single_process_checkpoint_continues_under_torchrun(tmp_path):
    launch("tiny-mnist", tmp_path / "straight", 6, 1)
    launch("tiny-mnist", tmp_path / "switch", 3, 1)
    launch("tiny-mnist", tmp_path / "switch", 6, 2, "resume")
    a = load_file(latest(tmp_path / "straight") / "model.safetensors")
    b = load_file(latest(tmp_path / "switch") / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_sync_batchnorm_off_cuda_is_a_usage_error():
    import pytest
    from torch import nn

    from zoo.distributed import World
    from zoo.errors import UsageError

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    with pytest.raises(UsageError, match="sync_batchnorm needs CUDA"):
        World(rank=0, size=2).prepare(model, torch.device("cpu"), sync_batchnorm=True)


def _quantizer_worker(rank: int, world: int, store: str, out: str) -> None:
    import torch.distributed as torch_dist
    from zoo_vae.vqvae import VectorQuantizer

    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    z_e = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1))  # the global batch
    results = {}
    for restart_below in (0.0, 1e9):  # never restart / restart every code
        torch.manual_seed(0)
        vq = VectorQuantizer(6, 3, decay=0.5, restart_below=restart_below)
        part = z_e[rank::world]
        vq.update(part, vq(part)[1], StepContext({}, torch.device("cpu"), "fp32", None))
        gathered = [torch.empty_like(vq.embed) for _ in range(world)]
        torch_dist.all_gather(gathered, vq.embed)
        results[restart_below] = gathered
    if rank == 0:
        torch.save(results, out)
    torch_dist.destroy_process_group()


def test_vq_codebook_statistics_are_shared_across_ranks(tmp_path):
    import torch.multiprocessing as mp
    from zoo_vae.vqvae import VectorQuantizer

    out = tmp_path / "embeds.pt"
    mp.spawn(_quantizer_worker, args=(2, str(tmp_path / "store"), str(out)), nprocs=2)  # a file store: no port to race for
    results = torch.load(out, weights_only=True)
    torch.manual_seed(0)
    single = VectorQuantizer(6, 3, decay=0.5, restart_below=0.0)
    z_e = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1))
    single.update(z_e, single(z_e)[1], StepContext({}, torch.device("cpu"), "fp32", None))
    for embed in results[0.0]:  # the EMA step on two half-batches equals one on the whole batch
        torch.testing.assert_close(embed, single.embed, rtol=1e-5, atol=1e-6)
    rank0, rank1 = results[1e9]  # every code restarted: both ranks took rank 0's picks
    torch.testing.assert_close(rank0, rank1, rtol=0, atol=0)


def test_training_again_after_the_group_ended_is_a_usage_error(monkeypatch):
    import pytest

    import zoo
    from zoo import distributed
    from zoo.errors import UsageError

    monkeypatch.setattr(distributed, "world", lambda: distributed.World(rank=0, size=2))  # torchrun, group destroyed
    with pytest.raises(UsageError, match="launch torchrun again"):
        zoo.train("gan-mnist-quick", steps=1)
