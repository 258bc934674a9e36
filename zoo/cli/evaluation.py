"""`zoo evaluate`: a run's metrics, real-vs-real baselines (--real), and anchor checks (--check)."""
from __future__ import annotations

import json
from typing import Any

import click

from zoo.cli.options import parse_sets
from zoo.errors import UsageError, ZooError


@click.command()
@click.argument("run_dir", type=click.Path(), required=False)
@click.option("--real", "real", metavar="DATASET", help="Real-vs-real baselines instead of a run: train split (as generated) vs test split.")
@click.option("--image-size", type=int, help="With --real: decode both splits at this size, e.g. a run's data.image_size (default: native).")
@click.option("--metrics", help="Comma-separated metric names (default: the preset's eval.metrics; \"\" for the family's own numbers only).")
@click.option("--num-samples", type=int, help="Generated samples for sample-based metrics (--real: train images, default 10000).")
@click.option("--seed", type=int, help="Evaluation seed (default: the preset's eval.seed).")
@click.option("--features", type=click.Choice(["domain", "inception"]), help="Image feature network: the dataset's own CNN (default) or Inception-v3 (needs --set features.weights=PATH).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="A metric option (features.weights=PATH, inpainting.mask=left) or a sample condition the model declares (steps=20, sampler=heun).")
@click.option("--check", is_flag=True, help="Exit 1, naming each metric, when the run misses its preset's eval.anchors (a run on other data or another budget is reported as not comparable, exit 0).")
@click.option("--device", default="auto", show_default=True)
@click.option("--weights", type=click.Choice(["ema", "raw"]), default="ema", show_default=True, help="Score the trainer's EMA of the weights (when the run kept one) or the raw weights.")
@click.option("--data-dir", type=click.Path(), help="Look for the dataset here first.")
@click.option("--json", "as_json", is_flag=True)
def evaluate(
    run_dir: str | None, real: str | None, image_size: int | None, metrics: str | None, num_samples: int | None, seed: int | None,
    features: str | None, sets: tuple[str, ...], check: bool, device: str, weights: str, data_dir: str | None, as_json: bool,
) -> None:
    """Evaluate the latest checkpoint of RUN_DIR; results go to its metrics.jsonl and summary.json.

    \b
    zoo evaluate RUN                                   the preset's metrics
    zoo evaluate RUN --metrics fid,kid --num-samples 5000
    zoo evaluate RUN --check                           exit 1 when a metric misses its anchor
    zoo evaluate --real mnist                          real-vs-real floors (train vs test)
    """
    from zoo.metrics.features import check_options

    if run_dir and real:
        raise UsageError("pass either RUN_DIR or --real DATASET, not both")
    if not run_dir and not real:
        raise UsageError("name a run directory to evaluate, or pass --real DATASET for real-vs-real baselines")
    if num_samples is not None and num_samples <= 0:
        raise UsageError(f"--num-samples must be a positive integer, got {num_samples}")
    names = [m.strip() for m in metrics.split(",") if m.strip()] if metrics is not None else None
    options: dict[str, Any] = parse_sets(sets)
    if features:
        options["features"] = features
    if real:
        check_options(options)
        if check:
            raise UsageError("--check needs a RUN_DIR: anchors belong to a run's preset")
        show_baselines(real, names, num_samples or 10000, 0 if seed is None else seed, device, data_dir, options, as_json, image_size)
        return
    if image_size is not None:
        raise UsageError("--image-size is for --real baselines; a run is evaluated at its own data.image_size")

    from zoo.api import evaluate as evaluate_run
    from zoo.metrics.anchors import check_anchors, not_comparable, run_anchors
    from zoo.run import Run

    run = Run.open(run_dir)
    anchors = []
    if check:
        if not run.config.eval.anchors:
            raise UsageError(f"--check: preset {run.config.preset!r} declares no eval.anchors, so there is nothing to check")
        anchors = run_anchors(run.config, names)
    values = evaluate_run(run_dir, metrics=names, num_samples=num_samples, seed=seed, device=device, data_dir=data_dir, options=options, weights=weights)  # type: ignore[arg-type]
    click.echo(json.dumps(values, indent=2) if as_json else format_values(values))
    if check:
        reason = not_comparable(run.config, run.summary().get("eval_step"))
        if reason:  # the anchors were measured on the preset's data and budget: a "miss" here would say nothing
            shown = "; ".join(a.describe(values.get(a.key)) for a in anchors)
            click.echo(f"quality anchors not checked: not comparable ({reason}); the preset's anchors: {shown}", err=True)
            return
        misses = check_anchors(anchors, values)
        if misses:
            raise ZooError(f"{run_dir} misses {len(misses)} of {len(anchors)} quality anchors: " + "; ".join(misses))
        click.echo(f"all {len(anchors)} quality anchors met", err=True)


def show_baselines(
    dataset: str, names: list[str] | None, n: int, seed: int, device: str, data_dir: str | None, options: dict[str, Any], as_json: bool, image_size: int | None,
) -> None:
    from zoo import device as dev
    from zoo.evaluation import flatten
    from zoo.metrics.baselines import real_baselines

    results = real_baselines(dataset, names, n, seed, dev.resolve_device(device), data_dir, options, image_size)
    if as_json:
        click.echo(json.dumps({"dataset": dataset, "values": flatten(results), "protocol": {k: r.protocol for k, r in results.items()}}, indent=2))
        return
    proto = next(iter(results.values())).protocol
    accuracy = proto.get("feature_test_accuracy")
    described = f"{proto.get('features')} {proto.get('feature_checksum')}" + (f", test accuracy {accuracy:.4f}" if accuracy is not None else "")
    size = f" at {proto['reference_size']}x{proto['reference_size']}" if "reference_size" in proto else ""
    click.echo(f"real-vs-real: {dataset} train[:{n}] as generated vs {dataset} test{size} ({described})")
    click.echo(format_values(flatten(results)))


def format_values(values: dict[str, float]) -> str:
    return "\n".join(f"{key:<24} {value:.6g}" for key, value in values.items())
