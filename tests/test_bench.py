"""`zoo bench`: trainer vs bare loop on the same model, and time-to-quality stopping at the first hit."""
from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from zoo.bench import bench
from zoo.cli import cli


def quality(value: float, **extra) -> dict:
    return {"eval.quality": {"key": "test_nll_per_pixel", "value": value, "every": 2, "higher_is_better": False, **extra}, "train.steps": 40}


def test_bench_row_measures_both_loops(tiny_plugin):
    row = bench("tiny-mnist", steps=3, repeats=2)
    assert row["unit"] == "images" and row["batch_size"] == 16
    assert row["train_per_s"] > 0 and row["bare_per_s"] > 0 and row["sample_items_per_s"] > 0
    assert row["zoo_vs_bare"] == pytest.approx(row["train_per_s"] / row["bare_per_s"], rel=1e-3)


def test_text_throughput_is_in_tokens():
    row = bench("gpt-shakespeare", steps=2, repeats=1, overrides={"model.n_layer": 1, "model.n_embd": 16, "model.n_head": 2, "model.block_size": 16})
    assert row["unit"] == "tokens"


def test_time_to_quality_stops_at_the_first_evaluation_that_reaches_the_target(tiny_plugin):
    met_at_once = bench("tiny-mnist", steps=2, repeats=1, overrides=quality(100.0), time_to_quality=True)
    assert met_at_once["quality_reached"] and met_at_once["steps_to_quality"] == 2
    never = bench("tiny-mnist", steps=2, repeats=1, overrides=quality(-100.0), time_to_quality=True)
    assert not never["quality_reached"] and never["steps_to_quality"] is None and math.isfinite(never["quality_value"])
    between = bench("tiny-mnist", steps=2, repeats=1, overrides=quality(0.0), time_to_quality=True)  # ~step 20
    assert between["quality_reached"] and between["quality_value"] <= 0.0
    assert 2 < between["steps_to_quality"] <= 40 and between["steps_to_quality"] % 2 == 0
    assert between["train_s_to_quality"] <= between["wall_s_with_evals"]


def test_cli_bench_json_and_missing_quality_target(tiny_plugin):
    result = CliRunner().invoke(cli, ["bench", "tiny-mnist", "--steps", "2", "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["preset"] == "tiny-mnist"
    result = CliRunner().invoke(cli, ["bench", "tiny-mnist", "--steps", "2", "--repeats", "1", "--time-to-quality"])
    assert result.exit_code == 2 and "eval.quality is not set" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["bench", "tiny-mnist", "--steps", "2", "--repeats", "1", "--time-to-quality", "--set", "eval.quality={key: x}"])
    assert result.exit_code == 2 and "needs key and value" in result.output


def test_every_preset_quality_target_parses():
    from zoo.bench import quality_target
    from zoo.presets import resolve
    from zoo.registry import get_catalog

    targets = [quality_target(resolve(name)) for name in get_catalog().presets if resolve(name).eval.quality]
    assert len(targets) >= 4 and all(t.every > 0 for t in targets)
