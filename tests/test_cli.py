"""The CLI end to end, and every bad input: one line, the right exit code, no traceback, nothing lost."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from zoo.cli import cli
from zoo.hookspecs import hookimpl
from zoo.data.spec import DatasetSpec

TINY = ["--set", "model.nz=8", "--set", "model.ngf=4", "--set", "model.ndf=4", "--set", "data.batch_size=8", "--set", "train.log_every=1", "--quiet"]


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_user_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}"
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: ") and len([l for l in lines if l.startswith("Error")]) == 1
    for needle in needles:
        assert needle in result.output, result.output


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    result = invoke("train", "gan-mnist-quick", "--steps", 3, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    return out


def test_help_and_list():
    assert invoke("--help").exit_code == 0
    result = invoke("list", "--json")
    names = {row["name"] for row in json.loads(result.output)}
    assert {"gan-mnist", "gan-mnist-quick", "cgan-mnist", "wgan-gp-mnist", "gan-fashion"} <= names
    result = invoke("list", "--family", "gan")
    assert "gan-mnist" in result.output


def test_info_resolves_config_and_counts_parameters():
    result = invoke("info", "gan-mnist", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"]["ngf"] == 64 and data["data"]["image_size"] == 32
    assert data["parameters"]["g"] > 1_000_000 and data["data_found_at"].endswith("raw")


def test_train_writes_a_complete_run(run_dir):
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["ngf"] == 4 and config["zoo_config_version"] == 1
    assert (run_dir / "checkpoints" / "latest").read_text() == "step_0000003"
    assert (run_dir / "checkpoints" / "step_0000003" / "model.safetensors").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "finished"
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 3
    assert list((run_dir / "samples").glob("*.png"))


@pytest.mark.parametrize("suffix", ["grid.png", "raw.npz", "folder"])
def test_sample_outputs(run_dir, tmp_path, suffix):
    out = tmp_path / suffix
    result = invoke("sample", run_dir, "-n", 5, "--seed", 3, "--out", out)
    assert result.exit_code == 0, result.output
    if suffix.endswith(".png"):
        from PIL import Image

        image = Image.open(out)
        assert image.text["zoo:seed"] == "3" and image.text["zoo:checkpoint_step"] == "3"
    elif suffix.endswith(".npz"):
        import numpy as np

        assert np.load(out)["images"].shape == (5, 1, 32, 32)
    else:
        assert len(list(out.glob("*.png"))) == 5 and (out / "samples.json").is_file()


def test_unknown_preset_suggests_close_names():
    assert_user_error(invoke("train", "gan-mnst"), 2, "unknown preset 'gan-mnst'", "gan-mnist")


def test_unknown_override_key_lists_valid_keys():
    assert_user_error(invoke("train", "gan-mnist", "--set", "model.ngff=3"), 2, "model.ngff", "did you mean model.ngf", "model.ndf")


def test_mistyped_override_value():
    assert_user_error(invoke("train", "gan-mnist", "--set", "model.ngf=abc"), 2, "model.ngf", "not int")
    assert_user_error(invoke("train", "gan-mnist", "--set", "model.loss=wgan"), 2, "nonsaturating")
    assert_user_error(invoke("train", "gan-mnist", "--set", "ngf"), 2, "KEY=VALUE")


def test_cuda_without_cuda():
    assert_user_error(invoke("train", "gan-mnist", "--device", "cuda"), 2, "no CUDA")


@pytest.mark.parametrize("steps", ["0", "-5"])
def test_nonpositive_steps(steps):
    assert_user_error(invoke("train", "gan-mnist", "--steps", steps), 2, "--steps must be a positive integer")


def test_missing_dataset_lists_paths_searched(tmp_path, monkeypatch):
    from zoo import plugins

    class Nowhere:
        @hookimpl
        def register_datasets(self, register):
            register("nowhere", DatasetSpec("nowhere", "image", "missing", {"a.gz": ""}, "zoo.data.idx:load_idx_images", subdirs=["nowhere"]))

        @hookimpl
        def register_presets(self, register):
            register("gan-nowhere", {"family": "gan", "data": {"dataset": "nowhere"}})

    plugins.reset()
    plugins.get_plugin_manager().register(Nowhere(), name="nowhere")
    try:
        result = invoke("train", "gan-nowhere", "--out", tmp_path / "r", "--data-dir", tmp_path)
        assert_user_error(result, 1, "dataset 'nowhere' not found", str(tmp_path / "nowhere"), "a.gz")
        assert not (tmp_path / "r" / "checkpoints").exists()
    finally:
        plugins.reset()


def test_out_pointing_at_existing_run_is_refused(run_dir):
    before = (run_dir / "metrics.jsonl").read_text()
    assert_user_error(invoke("train", "gan-mnist-quick", "--out", run_dir, *TINY), 2, "already holds a run", "--resume", "--overwrite")
    assert (run_dir / "metrics.jsonl").read_text() == before


def test_sample_on_a_folder_that_is_not_a_run(tmp_path):
    assert_user_error(invoke("sample", tmp_path, "--out", tmp_path / "x.png"), 2, "not a zoo run directory")


def test_sample_with_bad_condition(run_dir, tmp_path):
    assert_user_error(invoke("sample", run_dir, "--set", "label=3", "--out", tmp_path / "x.png"), 2, "unconditional")
    assert_user_error(invoke("sample", run_dir, "--set", "colour=3", "--out", tmp_path / "x.png"), 2, "unknown condition 'colour'")


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, tmp_path / "copy"))


def test_truncated_checkpoint(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    weights = run / "checkpoints" / "step_0000003" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    assert_user_error(invoke("sample", run, "--out", tmp_path / "x.png"), 1, "truncated or corrupted")


def test_corrupted_training_state(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    (run / "checkpoints" / "step_0000003" / "state.pt").write_bytes(b"not a checkpoint")
    assert_user_error(invoke("train", "--resume", run, "--steps", 6, "--quiet"), 1, "state.pt", "truncated or corrupted")


def test_config_from_a_newer_version(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["zoo_config_version"] = 99
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert_user_error(invoke("sample", run, "--out", tmp_path / "x.png"), 1, "config version 99 is newer", "upgrade genzoo")


def test_resume_needs_more_steps(run_dir):
    assert_user_error(invoke("train", "--resume", run_dir, "--quiet"), 2, "already trained 3 steps")


def test_override_values_are_yaml_scalars_including_bare_exponents():
    from zoo.config import parse_override

    assert parse_override("train.lr=1e-4") == ("train.lr", 1e-4)
    assert parse_override("train.betas=[0.5, 0.9]") == ("train.betas", [0.5, 0.9])
    assert parse_override("model.conditional=true") == ("model.conditional", True)
