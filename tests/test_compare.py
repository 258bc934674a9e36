"""`zoo compare`: runs side by side, refusing to put scores with different protocols in one column."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zoo.api import record_evaluation
from zoo.cli import cli
from zoo.evaluation import MetricResult
from zoo.presets import resolve
from zoo.run import Run


def fake_run(path: Path, fid: float, num_generated: int = 2000, checksum: str = "abc123") -> Path:
    """A run directory whose evaluation was recorded the way `zoo evaluate` records it."""
    run = Run.create(path, resolve("tiny-mnist"))
    run.save_config()
    proto: dict[str, Any] = {"features": "domain:mnist", "feature_checksum": checksum, "reference": "mnist:test", "num_real": 10000, "num_generated": num_generated, "seed": 0}
    results = {
        "tiny": MetricResult({"test_nll_per_pixel": 0.5}, {"split": "test", "seed": 0, "seconds": 0.1, "values": ["test_nll_per_pixel"]}),
        "fid": MetricResult({"fid": fid}, {**proto, "metric": "fid", "version": "1", "seconds": fid, "values": ["fid"]}),
        "kid": MetricResult({"kid": fid / 1000, "kid_std": 0.0}, {**proto, "metric": "kid", "version": "1", "seconds": 1.0, "values": ["kid", "kid_std"]}),
    }
    record_evaluation(run, 100, results)
    return path


def compare(*args: Any) -> Any:
    return CliRunner().invoke(cli, ["compare", *map(str, args)])


def test_markdown_table_of_matching_protocols(tmp_path, tiny_plugin) -> None:
    a, b = fake_run(tmp_path / "a", 12.5), fake_run(tmp_path / "b", 30.25)
    result = compare(a, b, "--markdown")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "| run | preset | data | steps | eval step | test_nll_per_pixel | fid | kid | kid_std |"
    assert lines[1] == "|---|---|---|---:|---:|---:|---:|---:|---:|"
    assert lines[2] == f"| {a} | tiny-mnist | mnist | - | 100 | 0.5 | 12.5 | 0.0125 | 0 |"  # no training logged: steps "-"
    assert lines[3].startswith(f"| {b} | tiny-mnist | mnist | - | 100 | 0.5 | 30.25 |")


def test_refuses_mixed_protocols_naming_metric_and_fields(tmp_path, tiny_plugin) -> None:
    a, b = fake_run(tmp_path / "a", 12.5), fake_run(tmp_path / "b", 30.0, num_generated=500, checksum="def456")
    result = compare(a, b)
    assert result.exit_code == 2
    assert "cannot put 'fid' in one column: its protocols differ in feature_checksum, num_generated" in result.output
    assert "--mixed-protocols" in result.output

    result = compare(a, b, "--mixed-protocols", "--markdown")
    assert result.exit_code == 0, result.output
    assert "| fid* | kid* | kid_std* |" in result.output and "test_nll_per_pixel |" in result.output
    assert "* fid: protocols differ in feature_checksum, num_generated" in result.output


def test_json_carries_protocols(tmp_path, tiny_plugin) -> None:
    a = fake_run(tmp_path / "a", 12.5)
    result = compare(a, "--json")
    out = json.loads(result.output)
    assert out["columns"] == ["test_nll_per_pixel", "fid", "kid", "kid_std"]
    assert out["runs"][0]["eval"]["fid"] == 12.5 and out["runs"][0]["protocol"]["kid_std"]["metric"] == "kid"
    assert out["mixed_protocols"] == {}


def test_plain_table_and_unevaluated_runs(tmp_path, tiny_plugin) -> None:
    a = fake_run(tmp_path / "a", 12.5)
    result = compare(a)
    assert result.exit_code == 0 and result.output.splitlines()[0].split() == ["run", "preset", "data", "steps", "eval", "step", "test_nll_per_pixel", "fid", "kid", "kid_std"]
    Run.create(tmp_path / "new", resolve("tiny-mnist")).save_config()
    result = compare(a, tmp_path / "new")  # an unevaluated run is a row of dashes with a note, not an error
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[2].split() == [str(tmp_path / "new"), "tiny-mnist", "mnist"] + ["-"] * 6
    assert f"{tmp_path / 'new'} has no evaluation yet" in result.output and f"zoo evaluate {tmp_path / 'new'}" in result.output
    result = compare(tmp_path / "missing")
    assert result.exit_code == 2 and "is not a zoo run directory" in result.output


@pytest.mark.parametrize("seconds", [1.0, 99.0])
def test_timings_do_not_count_as_protocol(tmp_path, tiny_plugin, seconds) -> None:
    a, b = fake_run(tmp_path / "a", 12.5), fake_run(tmp_path / "b", seconds)  # fid's "seconds" differ too
    assert compare(a, b).exit_code == 0
