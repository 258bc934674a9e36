"""The Python API, mirroring the CLI: train, load, sample, evaluate."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor

from zoo import checkpoint
from zoo import device as dev
from zoo import distributed as dist
from zoo.capabilities import TranslatesFiles, check_conditions
from zoo.config import SECTIONS
from zoo.contract import Family, FamilyContext
from zoo.errors import Skipped, UsageError, ZooError
from zoo.evaluation import EvalContext, MetricResult, evaluate_model, flatten
from zoo.plugins import call_hook, check_loggers, loggers_for
from zoo.presets import RunConfig, resolve
from zoo.progress import Progress
from zoo.registry import get_catalog
from zoo.run import CONFIG_FILE, Run
from zoo.restoration import MASK, inpainting_sheet
from zoo.translation import IMAGE_SUFFIXES, check_translates, collect, read_sources, translation_sheet, write_images
from zoo.samples import PREVIEW_SUFFIX, ImageSamples, Samples

PathLike = str | os.PathLike[str]


def train(
    name: str | None = None,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    seed: int | None = None,
    out: PathLike | None = None,
    data_dir: PathLike | None = None,
    data: PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    resume: PathLike | None = None,
    overwrite: bool = False,
    quiet: bool = False,
    compile: bool = False,
    loggers: list[str] | None = None,
    **sections: dict[str, Any],
) -> Run:
    """Train preset `name` (or continue `resume`). Overrides: `overrides={"train.lr": 1e-4}` or `train={"lr": 1e-4}`.
    `loggers` (e.g. `["tensorboard"]`) are added to the run's `train.loggers`.
    `data=PATH` trains on your own files (a folder of images or clips, a text corpus) instead of the preset's dataset."""
    flat = dict(overrides or {})
    for section, values in sections.items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise UsageError(f"unknown argument {section!r}; config sections are {', '.join(SECTIONS)} (each a dict)")
        flat.update({f"{section}.{k}": v for k, v in values.items()})
    if steps is not None:
        flat["train.steps"] = steps
    if epochs is not None:
        flat["train.epochs"] = epochs
    for key in ("train.steps", "train.epochs"):
        if key in flat and (not isinstance(flat[key], int) or flat[key] <= 0):
            raise UsageError(f"--{key.split('.')[1]} must be a positive integer, got {flat[key]!r}")
    dist.check_group_open()
    torch_device = dev.resolve_device(_rank_device(device))
    new: _NewRun | None = None  # a new run's folder, removed again if training fails before its first step
    if data is not None:
        if resume is not None:
            raise UsageError("--data and --resume: a resumed run reads the data it was started on (its data.path); drop --data")
        if name is None:
            raise UsageError("name a preset to train on --data (see `zoo list`)")
        flat.update(_own_data(name, data, flat))
    if resume is not None:
        run = Run.open(resume)
        if name is not None and name != run.config.preset:
            raise UsageError(f"--resume {resume} is a {run.config.preset!r} run, not {name!r}")
        config = _with_overrides(run.config, flat)
        _add_loggers(config, loggers)
        precision = dev.resolve_precision(config.train.precision if precision == "auto" else precision, torch_device)
        run.config = config
    else:
        if name is None:
            raise UsageError("name a preset to train (see `zoo list`) or pass --resume RUN_DIR")
        config = resolve(name, flat)
        if seed is not None:
            config.seed = seed
        _add_loggers(config, loggers)
        precision = dev.resolve_precision(config.train.precision if precision == "auto" else precision, torch_device)
        if data is not None:  # decode (and cache) before the run folder exists, so bad files leave no run behind
            from zoo.data.describe import describe_data

            summary = describe_data(config)  # what the data is and what the budget means for it
            if not quiet and dist.world().is_main:
                print("\n".join(summary.lines()), file=sys.stderr, flush=True)
        out = Path(out) if out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        new = _NewRun(out, config, overwrite) if dist.world().is_main else None
        run = new.run if new else Run(Path(out), config)
    with new or contextlib.nullcontext():
        run = _fit(run, torch_device, precision, data_dir, quiet, resume is not None, compile)
    dist.shutdown()
    return run


class _NewRun:
    """A new run's folder, made so that a failure before its first step leaves nothing behind (the next
    attempt is then not refused as "already holds a run"): exactly what was created is removed (the folder
    when it is new, else what was put into it), and a run that `--overwrite` replaces is only set aside,
    then put back; it is deleted once the new run has trained a step."""

    def __init__(self, out: Path, config: RunConfig, overwrite: bool) -> None:
        self.out = out
        self.replaced: Path | None = None
        if overwrite and (out / CONFIG_FILE).is_file():  # Run.create refuses anything else, as before
            self.replaced = out.with_name(f".{out.name}.replaced-{os.getpid()}")
            os.replace(out, self.replaced)
        self.made_folder = not out.exists()
        try:
            self.run = Run.create(out, config)  # refuses before it makes anything
        except BaseException:
            if self.replaced is not None:
                os.replace(self.replaced, out)
            raise

    def __enter__(self) -> Run:
        return self.run

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if kind is not None and not (self.run.summary().get("step") or 0) > 0:
            self.discard()
        elif self.replaced is not None:
            shutil.rmtree(self.replaced, ignore_errors=True)

    def discard(self) -> None:
        """Remove what this attempt created and put back the run it was replacing."""
        if self.made_folder:
            shutil.rmtree(self.out, ignore_errors=True)
        elif self.out.is_dir():  # the folder was there, empty: only what this attempt put into it goes
            for child in self.out.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        if self.replaced is not None:
            os.replace(self.replaced, self.out)


def _own_data(name: str, data: PathLike, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The overrides that point preset `name` (with the user's `overrides`) at PATH, read as its family's modality (zoo.data.own)."""
    from zoo.data.own import source_overrides

    preset = get_catalog().preset(name)
    family = get_catalog().get("models", preset["family"]).load()
    return source_overrides(family.modality, data, (preset.get("data") or {}).get("dataset"), overrides)


def _add_loggers(config: RunConfig, loggers: list[str] | None) -> None:
    """Switch on `loggers` besides the config's own, checking every name before any work."""
    config.train.loggers = list(dict.fromkeys([*config.train.loggers, *(loggers or [])]))
    check_loggers(config.train.loggers)


def _rank_device(device: str) -> str:
    """Under torchrun each rank takes its own GPU."""
    if dist.world().size > 1 and device in ("auto", "cuda") and "cuda" in dev.available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device


def _with_overrides(config: RunConfig, flat: dict[str, Any]) -> RunConfig:
    from zoo.presets import from_dict

    if not flat:
        return config
    return from_dict(config.to_dict(), flat)


def _fit(run: Run, device: torch.device, precision: str, data_dir: PathLike | None, quiet: bool, resuming: bool, compile: bool = False) -> Run:
    from zoo.data import load_dataset
    from zoo.trainer import Trainer

    config = run.config
    dev.configure(device)
    dev.seed_everything(config.seed)
    family = get_catalog().get("models", config.family).load()
    raw_train = load_dataset(config.data, "train", data_dir)
    main = dist.world().is_main
    if not resuming:
        with tempfile.TemporaryDirectory() as scratch:  # only rank 0 writes into the run
            run.info = family.setup(config.model, raw_train, run.assets if main else Path(scratch))
        if "source" in getattr(raw_train, "info", {}):  # own data: record its path, manifest hash and decode settings
            run.info.setdefault("source", raw_train.info["source"])
    if main:
        run.save_config()
    dist.world().barrier()  # the other ranks read the assets (a tokenizer) rank 0 just wrote
    model = dev.optimize_model(build(run, device, data_dir), device, compile)
    data = model.prepare(raw_train).to(device)
    ctx = EvalContext(config, device, config.eval.num_samples, config.eval.seed, data_dir, dev.sampling_precision(config.train.precision, device),
                      conditions=check_conditions(model.conditions, config.eval.conditions))
    trainer = Trainer(
        run, model, data, device, precision, quiet=quiet,
        evaluate=lambda m, step: record_evaluation(run, step, evaluate_model(m, ctx, step=step), "ema" if config.train.ema_decay else "raw"),
        preview=lambda m, step: preview(run, m, step),
    )
    if resuming:
        folder = checkpoint.latest(run.path)
        if folder is None:
            raise ZooError(f"{run.path} has no checkpoint to resume from", hint="start it again with --overwrite")
        trainer.restore(folder)
        if trainer.step >= trainer.total:
            raise UsageError(f"run {run.path} already trained {trainer.step} steps; pass a larger --steps to continue it")
    trainer.fit()
    return run


Weights = Literal["ema", "raw"]


def build(run: Run, device: torch.device | str = "cpu", data_dir: PathLike | None = None) -> Family:
    """The run's model, untrained, on `device`, with its `FamilyContext` (assets, data, `--data-dir`)."""
    family = get_catalog().get("models", run.config.family).load()
    context = FamilyContext(run.assets, run.config.data, str(data_dir) if data_dir else None)
    model: Family = family(run.config.model, run.info, context)
    return model.to(device)


def load(run_dir: PathLike, device: str = "cpu", *, weights: Weights = "ema", data_dir: PathLike | None = None) -> Family:
    """The model of a run directory with its latest weights, in eval mode: the trainer's EMA of them
    when the run kept one (`train.ema_decay`) and `weights="ema"`, else the raw weights."""
    if weights not in ("ema", "raw"):
        raise UsageError(f"bad weights {weights!r}; choose ema or raw")
    run = Run.open(run_dir)
    model = build(run, dev.resolve_device(device), data_dir)
    folder = checkpoint.latest(run.path)
    if folder is None:
        raise ZooError(f"{run.path} has no checkpoint yet", hint="train it first, or wait for its first checkpoint")
    checkpoint.load_weights(model, folder)
    model.weights = "raw"
    if weights == "ema" and checkpoint.has_ema(folder):
        checkpoint.apply_ema(model, folder)
        model.weights = "ema"
    model.checkpoint_step = int(folder.name.split("_")[-1])
    return model.eval()


def sample(run_dir: PathLike, n: int = 64, *, seed: int = 0, device: str = "cpu", weights: Weights = "ema",
           data_dir: PathLike | None = None, **conditions: Any) -> Samples:
    """`n` samples from a run, reproducible for a seed; conditions like `label=3` are the family's
    declared `conditions` (`zoo info` lists them)."""
    if n <= 0:
        raise UsageError(f"-n must be a positive integer, got {n}")
    model = load(run_dir, device, weights=weights, data_dir=data_dir)
    if conditions.get("mode") == "predict" or "context" in conditions:  # a family that Predicts declares both; say so for the others
        from zoo.video import check_predicts

        check_predicts(model)
    mode = conditions.get("mode") if conditions.get("mode") in ("inpaint", "translate") else None  # the core's modes, for any family that Restores / Translates
    if mode:
        conditions = {k: v for k, v in conditions.items() if k != "mode"}
    if mode == "inpaint":
        mask = MASK.check(conditions.pop("mask", MASK.default))
    conditions = check_conditions(model.conditions, _label_by_name(model, conditions))
    dev.seed_everything(seed)
    gen = torch.Generator(model.device).manual_seed(seed)
    precision = dev.sampling_precision(Run.open(run_dir).config.train.precision, model.device)
    with torch.no_grad(), dev.autocast(model.device, precision):
        if mode == "inpaint":
            samples = ImageSamples(inpainting_sheet(model, n, gen, mask, **conditions), nrow=3, meta={"mode": "inpaint", "mask": mask})
        elif mode == "translate":
            samples = ImageSamples(translation_sheet(model, n, gen, **conditions), nrow=3, meta={"mode": "translate"})
        else:
            samples = model.sample(n, generator=gen, **conditions)
    shown = {k: v for k, v in conditions.items() if isinstance(v, (int, float, str, bool))}
    samples.meta.update(run=str(Path(run_dir).resolve()), checkpoint_step=model.checkpoint_step, seed=seed, weights=model.weights, conditions=shown)
    return samples


def translate(run_dir: PathLike, images: Tensor | list[PathLike], *, seed: int = 0, device: str = "cpu", weights: Weights = "ema",
              resize: bool = False, batch_size: int = 64, **conditions: Any) -> Tensor:
    """Translate `images` with a run whose family `Translates` (super-resolution, denoising, pix2pix, ...):
    a tensor N×C×H×W in [0, 1] of the run's source shape, or image files (converted to its channels; a
    size that does not fit is an error unless `resize=True`). Returns N×C×H×W outputs in [0, 1] on the CPU;
    the same seed gives the same outputs. Conditions are the family's (`steps=10` for a flow translator)."""
    model = load(run_dir, device, weights=weights)
    return _translate_images(model, run_dir, images, seed, resize, batch_size, conditions)


def translate_files(run_dir: PathLike, inputs: list[PathLike], out: PathLike, *, seed: int = 0, device: str = "cpu",
                    weights: Weights = "ema", resize: bool = False, **conditions: Any) -> list[Path]:
    """Translate files, or folders of them, into `out` under the same relative names, and return the paths
    written: images for a family that `Translates`, its own formats (audio, scores, clips) for one that
    `TranslatesFiles`. `out` may not be a folder the inputs are in, so no input is overwritten."""
    model = load(run_dir, device, weights=weights)
    files_translator = isinstance(model, TranslatesFiles)
    if not files_translator:
        check_translates(model)
    found = collect([Path(f) for f in inputs], model.input_suffixes if files_translator else IMAGE_SUFFIXES)
    folder = Path(out)
    if any(folder.resolve() == f.resolve().parent for f, _ in found):
        raise UsageError(f"--out {out} is where inputs are; choose another folder so no input is overwritten")
    targets = [folder / name for _, name in found]
    for parent in {t.parent for t in targets}:
        parent.mkdir(parents=True, exist_ok=True)
    if not files_translator:
        write_images(_translate_images(model, run_dir, [f for f, _ in found], seed, resize, 64, conditions), targets)
        return targets
    conditions = check_conditions(model.conditions, conditions)
    dev.seed_everything(seed)
    gen = torch.Generator(model.device).manual_seed(seed)
    precision = dev.sampling_precision(Run.open(run_dir).config.train.precision, model.device)
    written, skipped = [], []
    with torch.no_grad(), dev.autocast(model.device, precision), Progress(len(found), "translating", "files", delay=5.0) as bar:
        for (file, _), target in bar.each(list(zip(found, targets))):
            try:
                written.append(model.translate_file(file, target, generator=gen, **conditions))
            except Skipped as why:
                skipped.append(str(why))
    if skipped and not written:
        raise UsageError(f"no input could be translated: {skipped[0]}" + (f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""))
    if skipped:
        warnings.warn(f"skipped {len(skipped)} of {len(found)} inputs: {skipped[0]}" + (" ..." if len(skipped) > 1 else ""), stacklevel=2)
    return written


def _translate_images(model: Family, run_dir: PathLike, images: Tensor | list[PathLike], seed: int, resize: bool,
                      batch_size: int, conditions: dict[str, Any]) -> Tensor:
    translator = check_translates(model)
    if isinstance(images, Tensor):
        if tuple(images.shape[1:]) != tuple(translator.source_shape):
            raise UsageError(f"images of shape {tuple(images.shape[1:])} do not fit this run; it translates C×H×W = {translator.source_shape}")
        source = images.float()
    else:
        source = read_sources([Path(f) for f in images], translator.source_shape, resize)
    conditions = check_conditions(model.conditions, conditions)
    dev.seed_everything(seed)
    gen = torch.Generator(model.device).manual_seed(seed)
    precision = dev.sampling_precision(Run.open(run_dir).config.train.precision, model.device)
    outs = []
    with torch.no_grad(), dev.autocast(model.device, precision):
        for start in range(0, len(source), batch_size):
            chunk = source[start: start + batch_size].to(model.device)
            outs.append(translator.translate(chunk, generator=gen, **conditions).float().clamp(0, 1).cpu())
    return torch.cat(outs)


def _label_by_name(model: Family, conditions: dict[str, Any]) -> dict[str, Any]:
    """`label=cat` -> the index of class "cat" for runs on a folder with class subfolders."""
    label, classes = conditions.get("label"), model.info.get("classes") or []
    if not isinstance(label, str):
        return conditions
    if label not in classes:
        names = f"one of {', '.join(classes)}" if classes else "an integer index (this run's data has no class names)"
        raise UsageError(f"unknown label {label!r}; use {names}")
    return {**conditions, "label": classes.index(label)}


def evaluate(
    run_dir: PathLike,
    *,
    metrics: list[str] | None = None,
    num_samples: int | None = None,
    seed: int | None = None,
    device: str = "auto",
    data_dir: PathLike | None = None,
    options: dict[str, Any] | None = None,
    weights: Weights = "ema",
) -> dict[str, float]:
    """Evaluate a run's latest checkpoint; results are appended to metrics.jsonl and summary.json.

    `options` go to the metrics, e.g. `{"features": "inception", "features.weights": PATH}` (docs/metrics.md).
    `weights="raw"` scores the raw weights of a run that kept an EMA; each score's protocol says which.
    """
    if num_samples is not None and num_samples <= 0:
        raise UsageError(f"--num-samples must be a positive integer, got {num_samples}")
    run = Run.open(run_dir)
    model = load(run_dir, device, weights=weights, data_dir=data_dir)
    cfg = run.config.eval
    options, conditions = split_options(model, options or {})
    conditions = {**check_conditions(model.conditions, cfg.conditions), **conditions}  # the preset's, then --set
    ctx = EvalContext(run.config, model.device, num_samples or cfg.num_samples, cfg.seed if seed is None else seed, data_dir,
                      dev.sampling_precision(run.config.train.precision, model.device), options=options, conditions=conditions)
    results = evaluate_model(model, ctx, metrics, step=model.checkpoint_step)
    with loggers_for(run):
        record_evaluation(run, model.checkpoint_step, results, model.weights)
    return flatten(results)


def split_options(model: Family, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`zoo evaluate --set` values: (metric options, checked; the model's declared sample conditions, e.g.
    steps=20 for a diffusion sampler, which every draw of the evaluation then uses)."""
    from zoo.metrics.features import check_options

    declared = {c.name for c in model.conditions}
    conditions = check_conditions(model.conditions, {k: v for k, v in options.items() if k in declared})
    rest = {k: v for k, v in options.items() if k not in declared}
    check_options(rest)
    return rest, conditions


def record_evaluation(run: Run, step: int, results: dict[str, MetricResult], weights: str = "raw") -> dict[str, float]:
    """Append evaluation results with their protocols (which weights were scored included) to
    metrics.jsonl and fold them into summary.json."""
    values = flatten(results)
    protocols = {name: {**r.protocol, "weights": weights} for name, r in results.items()}
    run.log({"step": step, "eval": values, "protocol": protocols})
    summary = run.summary()
    run.update_summary({"eval": {**summary.get("eval", {}), **values}, "eval_step": step, "protocol": {**summary.get("protocol", {}), **protocols}})
    call_hook("on_evaluation", run=run, step=step, values=values, protocols=protocols)
    return values


def preview(run: Run, model: Family, step: int) -> None:
    """The periodic preview: a fixed-seed sample written under samples/ (a grid for images)."""
    n = run.config.train.num_preview
    gen = torch.Generator(model.device).manual_seed(run.config.seed)
    with dev.autocast(model.device, dev.sampling_precision(run.config.train.precision, model.device)):
        samples = model.sample(n, generator=gen)
    samples.meta.update(run=str(run.path.resolve()), checkpoint_step=step, seed=run.config.seed)
    paths = samples.save(run.path / "samples" / f"step_{step:07d}{PREVIEW_SUFFIX[model.modality]}")
    call_hook("on_samples", run=run, step=step, samples=samples, paths=paths)
