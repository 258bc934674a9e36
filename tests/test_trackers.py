"""The MLflow and W&B logger plugins: what a tiny run logs is read back with each tracker's own client
(MLflow's search_runs and client; W&B's offline run file through its protobuf records), and a tracker
that fails or is not installed is one line."""
from __future__ import annotations

import glob
import json
import struct
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

import zoo
from zoo.cli import cli

CADENCE = {"train.eval_every": 2, "train.sample_every": 2, "train.checkpoint_every": 2}  # 4 steps: logs, evaluations, previews at 2 and 4


# ---- MLflow -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mlflow_runs(tiny, tmp_path_factory):
    """Two runs in one SQLite store (made once: MLflow's schema takes seconds): the first where the store
    defaults to (beside the run folder), the second sent there by MLFLOW_TRACKING_URI from elsewhere."""
    pytest.importorskip("mlflow")
    root = tmp_path_factory.mktemp("mlflow")
    first = zoo.train("tiny-mnist", out=root / "run", device="cpu", quiet=True, overrides=CADENCE, loggers=["mlflow"])
    zoo.evaluate(first.path, metrics=[], device="cpu")  # `zoo evaluate` adds to the same MLflow run
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        second = zoo.train("tiny-mnist", out=root / "elsewhere" / "run2", device="cpu", quiet=True, steps=2, loggers=["mlflow"])
    return root, first.path, second.path


def test_mlflow_run_is_read_back_with_mlflow(mlflow_runs):
    import mlflow
    from mlflow.tracking import MlflowClient

    root, first, second = mlflow_runs
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["tiny-mnist"], order_by=["start_time"])
    assert list(runs["tags.mlflow.runName"]) == ["run", "run2"] and list(runs["status"]) == ["FINISHED", "FINISHED"]
    assert runs["params.train.lr"][0] == "0.05" and runs["params.model.init_log_std"][0] == "0.0" and runs["params.preset"][0] == "tiny-mnist"
    client = MlflowClient(uri)
    run_id = runs["run_id"][0]
    assert [(m.step, round(m.value, 6)) for m in client.get_metric_history(run_id, "loss")] == [
        (r["step"], r["loss"]) for r in zoo.run.Run.open(first).read_metrics() if "loss" in r]
    assert [m.step for m in client.get_metric_history(run_id, "eval/test_nll_per_pixel")] == [2, 4, 4]  # two in training, one from zoo evaluate
    artifacts = {a.path for folder in ("samples/step_0000002", "samples/step_0000004", "checkpoint", "eval") for a in client.list_artifacts(run_id, folder)}
    assert {"samples/step_0000002/step_0000002.png", "samples/step_0000004/step_0000004.png", "checkpoint/model.safetensors"} <= artifacts
    assert not (root / "elsewhere" / "mlflow.db").exists()  # MLFLOW_TRACKING_URI was honoured


def test_mlflow_unreachable_is_disabled_with_one_warning_and_training_goes_on(tiny, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = zoo.train("tiny-mnist", out=tmp_path / "run", device="cpu", quiet=True, steps=2, loggers=["mlflow"])
    assert run.summary()["status"] == "finished"
    disabled = [str(w.message) for w in caught if "disabled" in str(w.message)]
    assert len(disabled) == 1 and disabled[0].startswith("zoo plugin 'logger:mlflow' disabled: its on_run_start raised")


@pytest.mark.parametrize("name, module", [("mlflow", "mlflow.tracking"), ("wandb", "wandb")])
def test_a_missing_tracker_names_its_extra(tiny, tmp_path, monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    result = CliRunner().invoke(cli, ["train", "tiny-mnist", "--logger", name, "--steps", "2", "--quiet", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert result.output == f"Error: the {name} logger needs the {name} package (pip install 'genzoo[{name}]')\n"
    assert not (tmp_path / "run").exists()


# ---- W&B ----------------------------------------------------------------------------------------
def wandb_records(run_dir: Path) -> list:
    """The records of a run folder's offline W&B runs, parsed with W&B's own protobuf messages from its
    run files (the LevelDB log format wandb writes: 32 KiB blocks of chunks with 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2

    records = []
    for file in sorted(glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))):
        data, pos, chunk = Path(file).read_bytes(), 7, b""
        assert data[:4] == b":W&B"
        while pos + 7 <= len(data):
            left = 32768 - pos % 32768
            _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
            if left < 7 or kind == 0:  # the rest of a block is padding
                pos += left
                continue
            chunk += data[pos + 7 : pos + 7 + length]
            pos += 7 + length
            if kind in (1, 4):  # a full record, or the last chunk of one
                records.append(wandb_internal_pb2.Record.FromString(chunk))
                chunk = b""
    return records


def test_wandb_offline_run_is_read_back(tiny, tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # no key anywhere: offline by default
    run = zoo.train("tiny-mnist", out=tmp_path / "run", device="cpu", quiet=True, overrides=CADENCE, loggers=["wandb"])
    wandb.teardown()  # W&B's service writes the run file out when it stops (at exit, for a user)
    records = wandb_records(run.path)
    started = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert len(started) == 1 and started[0].project == "zoo" and started[0].display_name == "run"
    config = {item.key: json.loads(item.value_json) for item in started[0].config.update}
    assert config["preset"] == "tiny-mnist" and config["train"]["lr"] == 0.05 and config["model"] == {"init_log_std": 0.0}
    rows = [{i.key or "/".join(i.nested_key): i.value_json for i in r.history.item} for r in records if r.WhichOneof("record_type") == "history"]
    assert [(r["trainer/step"], "train/loss" in r, "eval/nll" in r, "samples/_type" in r) for r in rows] == [
        ("2", True, False, False), ("2", False, False, True), ("2", False, True, False),
        ("4", True, False, False), ("4", False, False, True), ("4", False, True, False)]
    exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
    assert exits == [0]
