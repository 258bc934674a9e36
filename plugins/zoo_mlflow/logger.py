"""The MLflow logger: one instance per run, made by zoo when the run switches it on."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.hookspecs import hookimpl

STORE = "mlflow.db"  # the default SQLite store, beside the run folder, so a folder of runs shares one
LINK = "mlflow.json"  # in the run folder: which MLflow run it is, so a resume, `zoo evaluate` or `zoo sample` adds to it
MAX_PARAM = 6000  # MLflow's longest param value
BATCH = 100  # params per log_batch call (MLflow's limit)
ENDED = {"finished": "FINISHED", "stopped": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


class MLflowLogger:
    """Sends one run's config, scalars, evaluations, samples and final checkpoint to an MLflow run."""

    def __init__(self) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError as err:
            raise ZooError("the mlflow logger needs the mlflow package", hint="pip install 'genzoo[mlflow]'") from err
        self._make_client = MlflowClient
        self._client: Any = None
        self._run_id: str | None = None
        self._checkpoint: Path | None = None
        self._pending: list[Any] = []  # metrics logged in the background while training, waited for at its end
        self._training = False  # between on_run_start and on_run_end; `zoo evaluate` and `zoo sample` log synchronously

    def client(self, run: Any) -> tuple[Any, str]:
        """(client, MLflow run id), opened on first use: the run folder's MLflow run when it has one, else a new one."""
        if self._client is None:
            link = Path(run.path) / LINK
            known = json.loads(link.read_text()) if link.is_file() else {}
            uri = os.environ.get("MLFLOW_TRACKING_URI") or known.get("tracking_uri") or f"sqlite:///{Path(run.path).resolve().parent / STORE}"
            self._client = self._make_client(tracking_uri=uri)
            self._run_id = known.get("run_id") if known.get("tracking_uri") == uri else None
            if self._run_id is None:
                self._run_id = self._start(run, uri)
                link.write_text(json.dumps({"tracking_uri": uri, "run_id": self._run_id}))
        return self._client, self._run_id

    def _start(self, run: Any, uri: str) -> str:
        from mlflow.entities import Param

        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or run.config.preset
        experiment = self._client.get_experiment_by_name(name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:  # artifacts beside a SQLite store; a server decides for itself
            where = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri() if uri.startswith("sqlite:///") else None
            experiment_id = self._client.create_experiment(name, artifact_location=where)
        run_id = self._client.create_run(experiment_id, run_name=Path(run.path).name, tags={"zoo.run": str(Path(run.path).resolve()), "zoo.preset": run.config.preset}).info.run_id
        params = [Param(k, v) for k, v in config_params(run.config.to_dict()).items()]
        for start in range(0, len(params), BATCH):
            self._client.log_batch(run_id, params=params[start : start + BATCH])
        return run_id

    def _metrics(self, run: Any, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        if not values:  # a record of evaluations only: those arrive through on_evaluation
            return
        client, run_id = self.client(run)
        now = int(time.time() * 1000)
        done = client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in values.items()], synchronous=not self._training)
        if self._training:  # a background thread writes them: a logged step costs the trainer ~1 ms instead of a database write
            self._pending.append(done)

    @hookimpl
    def on_run_start(self, run: Any) -> None:
        self._training = True
        client, run_id = self.client(run)
        client.update_run(run_id, status="RUNNING")

    @hookimpl
    def on_log(self, run: Any, step: int, logs: dict[str, float]) -> None:
        self._metrics(run, step, {k: v for k, v in logs.items() if k != "step" and not k.startswith("eval/")})  # evaluations come through on_evaluation

    @hookimpl
    def on_evaluation(self, run: Any, step: int, values: dict[str, float], protocols: dict[str, dict[str, Any]]) -> None:
        self._metrics(run, step, {f"eval/{k}": v for k, v in values.items()})
        client, run_id = self.client(run)
        client.log_dict(run_id, protocols, f"eval/protocol_step_{step:07d}.json")

    @hookimpl
    def on_samples(self, run: Any, step: int, samples: Any, paths: list[Any]) -> None:
        client, run_id = self.client(run)
        for path in paths:  # the grid, the clips or the texts zoo just wrote
            client.log_artifact(run_id, str(path), artifact_path=f"samples/step_{step:07d}")

    @hookimpl
    def on_checkpoint(self, run: Any, step: int, path: Any) -> None:
        self._checkpoint = Path(path)

    @hookimpl
    def on_run_end(self, run: Any, summary: dict[str, Any]) -> None:
        client, run_id = self.client(run)
        self._training = False
        for done in self._pending:
            done.wait()
        self._pending = []
        if self._checkpoint is not None and self._checkpoint.is_dir():  # the final checkpoint only: earlier ones are rotated away
            client.log_artifacts(run_id, str(self._checkpoint), artifact_path="checkpoint")
        client.set_terminated(run_id, status=ENDED.get(summary.get("status", ""), "FINISHED"))


def config_params(config: dict[str, Any]) -> dict[str, str]:
    """A run config as MLflow params: {"model.ngf": "32", "train.lr": "0.0005", "preset": ...}."""
    out = {}
    for key, value in config.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for field, item in items:
            text = item if isinstance(item, str) else json.dumps(item, default=str)
            out[f"{key}.{field}" if field else key] = text[:MAX_PARAM]
    return out
