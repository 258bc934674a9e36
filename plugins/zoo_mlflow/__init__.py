"""MLflow logging: `zoo train --logger mlflow` records each run as an MLflow run (params, metrics with
steps, samples and the final checkpoint as artifacts), by default in a SQLite store beside the run
folder (`mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`), or wherever `MLFLOW_TRACKING_URI` points.

Uses only zoo's public hooks and registers a cheap "module:Class" reference, so `zoo list` never imports mlflow.
"""
from __future__ import annotations

from zoo.hookspecs import hookimpl


@hookimpl
def register_loggers(register) -> None:
    register("mlflow", "zoo_mlflow.logger:MLflowLogger")
