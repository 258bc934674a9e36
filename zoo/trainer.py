"""The one training loop every family shares.

Owns: batching by index from a seeded per-epoch permutation, device placement, precision, the
optimizers and their per-phase LR schedules, gradient accumulation, the weights' EMA, logging
(metrics.jsonl, plugin hooks, progress bar), periodic previews and evaluation, checkpoints, exact
resume and step-atomic interrupts. A family only supplies `train_step`.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from tqdm.auto import tqdm

from zoo import checkpoint
from zoo import device as dev
from zoo import distributed as dist
from zoo.config import Phase, TrainConfig, build
from zoo.contract import Family, StepContext
from zoo.ema import EMA
from zoo.errors import UsageError, ZooError
from zoo.plugins import call_hook, loggers_for
from zoo.run import Run

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda groups, cfg: torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=fusable(groups, cfg)),
    "adamw": lambda groups, cfg: torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=fusable(groups, cfg)),
    "sgd": lambda groups, cfg: torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.betas[0]),
}


def fusable(groups: list[dict[str, Any]], cfg: TrainConfig) -> bool | None:
    """With `train.fused_optimizer`: Adam's fused kernel where torch has one for the parameters' device
    (on CPU torch's default is a Python loop over the parameters, which costs a small model 2 ms a step,
    measured on gpt-shakespeare). Off by default: it rounds differently in the last bit, so a preset's
    measured anchors hold only for the kernel they were measured with."""
    if not cfg.fused_optimizer:
        return None
    return True if all(p.device.type in ("cpu", "cuda") for g in groups for p in g["params"]) else None


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer; weight decay applies to matrices and kernels only, never to biases,
    norms' scales or other vectors (as nanoGPT and Hugging Face's Trainer do)."""
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return OPTIMIZERS[cfg.optimizer]([g for g in groups if g["params"]], cfg)


def lr_factor(step: int, cfg: Any, total: int) -> float:
    """Linear warm-up, then constant, cosine or linear decay from lr to min_lr over `total` steps.
    `cfg` is the TrainConfig or a Phase resolved against it (same field names)."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.schedule == "cosine" else 1 - progress
    floor = cfg.min_lr / cfg.lr if cfg.lr else 0.0
    return floor + (1 - floor) * shape


@dataclass(frozen=True)
class Span:
    """A phase placed on the step axis: steps [start, end), its optimizers and its resolved schedule."""

    name: str
    start: int
    end: int
    optimizers: tuple[str, ...]
    lr: float
    schedule: str
    warmup_steps: int
    min_lr: float

    def factor(self, step: int, base_lr: float) -> float:
        """The LR multiplier at global `step` for an optimizer built with `base_lr`."""
        return self.lr / base_lr * lr_factor(step - self.start, self, self.end - self.start) if base_lr else 0.0


def phase_spans(cfg: TrainConfig, total: int, optimizers: list[str]) -> list[Span]:
    """`train.phases` on the step axis (one phase, "train", with every optimizer when none are declared)."""
    raw = cfg.phases or [{"name": "train", "optimizers": optimizers}]
    for i, p in enumerate(raw):
        if not isinstance(p, dict) or not {"name", "optimizers"} <= set(p):
            raise UsageError(f"train.phases[{i}] is {p!r}; each phase is a mapping with at least a name and its optimizers, "
                             f"e.g. {{name: prior, steps: 1000, optimizers: [{optimizers[-1]}]}}")
    phases = [build(Phase, dict(p), f"train.phases[{i}]") for i, p in enumerate(raw)]
    spans, start = [], 0
    for i, phase in enumerate(phases):
        unknown = sorted(set(phase.optimizers) - set(optimizers))
        if unknown or not phase.optimizers:
            raise UsageError(f"train.phases[{i}] ({phase.name}) trains {phase.optimizers}; this family's optimizers are {', '.join(optimizers)}")
        last = i == len(phases) - 1
        if last and phase.steps is None and start >= total:
            raise UsageError(f"train.phases[{i}] ({phase.name}) gets no steps: the phases before it take {start} of the run's {total}; "
                             "raise train.steps (--steps) or shorten an earlier phase")
        steps = phase.steps if phase.steps is not None else (total - start if last else None)
        if steps is None or steps <= 0:
            raise UsageError(f"train.phases[{i}] ({phase.name}) needs a positive steps (only the last phase may omit it)")
        end = total if last and phase.steps is None else start + steps
        if end > total:
            raise UsageError(f"train.phases add up to {end} steps, more than the run's {total}; raise train.steps or shorten a phase")
        pick = lambda v, d: d if v is None else v  # noqa: E731
        spans.append(Span(phase.name, start, end, tuple(phase.optimizers), pick(phase.lr, cfg.lr), pick(phase.schedule, cfg.schedule),
                          pick(phase.warmup_steps, cfg.warmup_steps), pick(phase.min_lr, cfg.min_lr)))
        start = end
    if start < total:
        raise UsageError(f"train.phases cover {start} of the run's {total} steps; let the last phase omit steps to take the rest")
    return spans


class Interrupts:
    """SIGINT/SIGTERM set a flag the loop reads at step boundaries (so a checkpoint is always a whole
    step). A second signal waits for the save under way; a third exits at once, without saving, and
    leaves the previous checkpoint as `latest`."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.count = 0

    @property
    def requested(self) -> bool:
        return self.count > 0

    def handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count >= 3:
            print(f"\n{signal.Signals(signum).name} again: exiting without saving; the previous checkpoint stays", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        if self.count == 1:
            print(f"\n{signal.Signals(signum).name}: stopping after this step and saving a checkpoint (again twice to exit without saving)", file=sys.stderr, flush=True)
        else:
            print(f"\n{signal.Signals(signum).name} again: still finishing the step and its checkpoint (once more exits without saving)", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def installed(self) -> Iterator["Interrupts"]:
        """Handlers for the block (main thread only; elsewhere signals keep their old behaviour)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in self.SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint at a step boundary in `run_path`."""

    def __init__(self, run_path: Path) -> None:
        super().__init__(str(run_path))
        self.run_path = run_path


class NonFiniteLoss(ZooError):
    """A logged loss became NaN or infinite (`train.stop_on_nan`)."""


class Trainer:
    """Trains `model` on `data` inside `run`; `fit()` returns the run summary."""

    def __init__(
        self,
        run: Run,
        model: Family,
        data: Any,
        device: torch.device,
        precision: str = "fp32",
        *,
        quiet: bool = False,
        evaluate: Callable[[Family, int], dict[str, float]] | None = None,
        preview: Callable[[Family, int], None] | None = None,
    ) -> None:
        self.run, self.model, self.device, self.precision = run, model, device, precision
        self.cfg: TrainConfig = run.config.train
        self.data = data
        self.batch_size = run.config.data.batch_size
        self.accum = self.cfg.grad_accum
        self.world = dist.world()
        self.local_batch = self.world.local_batch(self.batch_size)
        self.step_items = self.batch_size * self.accum  # items per optimizer step, over all ranks
        self.steps_per_epoch = len(data) // self.step_items
        if self.steps_per_epoch == 0:
            fits = len(data) // self.accum
            fix = f"pass --set data.batch_size={fits}" + (" or less" if fits > 1 else "") if fits else "add training data"
            raise UsageError(f"data.batch_size={self.batch_size} × train.grad_accum={self.accum} is larger than the training set ({len(data)} items); {fix}")
        self.total = self.cfg.epochs * self.steps_per_epoch if self.cfg.epochs else self.cfg.steps
        self.sharded = self.world.size > 1 and self.cfg.parallel == "fsdp"  # FSDP: no rank holds the whole model
        self.world.prepare(model, device, self.cfg.sync_batchnorm, shard=self.sharded)
        groups = model.param_groups()
        optimizers = {name: make_optimizer(params, self.cfg) for name, params in groups.items()}
        self.spans = phase_spans(self.cfg, self.total, list(optimizers))
        self.schedulers = {name: torch.optim.lr_scheduler.LambdaLR(opt, self.schedule_for(name)) for name, opt in optimizers.items()}
        gates = {} if self.sharded else self.world.gates(groups, device, self.cfg.find_unused_parameters)  # FSDP reduce-scatters by itself
        self.ctx = StepContext(optimizers, device, precision, self.cfg.grad_clip, gates)
        self.ctx.accum = self.accum
        self.ema = EMA(model, self.cfg.ema_decay, self.cfg.ema_start) if self.cfg.ema_decay else None
        self.step = 0
        self.elapsed = 0.0
        self.evaluate_fn, self.preview_fn = evaluate, preview
        self.quiet = quiet
        self.stop_requested = False  # set by a callback (a benchmark that reached its quality target)
        self.stop_reason: str | None = None  # why a `should_stop` hook stopped the run (a sweep's pruner)
        self._perm: tuple[int, torch.Tensor] | None = None
        self._ahead: tuple[int, torch.Tensor] | None = None  # (step, indices) already drawn for a prefetch hint
        self._pending: dict[str, list[tuple[int, torch.Tensor]]] = {}  # (step, value) logged since the last log line
        self._saving = False
        self._saved_step: int | None = None  # the step of the checkpoint written or restored last
        self._lr = self.cfg.lr
        self.shows = self.world.is_main and not self.sharded  # previews and in-training evaluations (a sharded forward needs every rank)

    def schedule_for(self, name: str) -> Callable[[int], float]:
        """Optimizer `name`'s LR multiplier at a step: its phase's schedule, restarted in each phase it trains in."""
        return lambda step: next((s.factor(step, self.cfg.lr) for s in self.spans if s.start <= step < s.end and name in s.optimizers), 1.0)

    def span(self, step: int) -> Span:
        return next(s for s in self.spans if s.start <= step < s.end)

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "optimizers": {} if self.sharded else {k: o.state_dict() for k, o in self.ctx.optimizers.items()},  # FSDP: in the shards
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.ctx.scalers.items()},
            "rng": dev.rng_state(),
        }

    def restore(self, folder: Path) -> None:
        """Continue exactly where checkpoint `folder` left off (weights, EMA, optimizers, schedules, RNG)."""
        checkpoint.load_weights(self.model, folder)
        if self.ema is not None and checkpoint.has_ema(folder):
            self.ema.load_state_dict(checkpoint.load_ema(folder, self.ema.state_dict()))
        elif self.ema is not None:  # train.ema_decay switched on at this resume: the average starts at the restored weights
            self.ema = EMA(self.model, self.cfg.ema_decay, self.cfg.ema_start)
        state = checkpoint.load_state(folder)
        sharded = bool(dist.shard_files(folder, "optimizers"))
        if self.sharded and not sharded:
            raise UsageError(f"{folder} was written without FSDP; resume it with train.parallel=ddp (its optimizer state is not sharded)")
        for name, opt in self.ctx.optimizers.items():
            if sharded:
                dist.load_optimizer(self.model, opt, dist.merged_optimizer(folder, name))
            else:
                opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        for name, scaler in self.ctx.scalers.items():
            if state["scalers"].get(name):
                scaler.load_state_dict(state["scalers"][name])
        dev.set_rng_state(state["rng"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self._saved_step = self.step

    def save(self) -> None:
        """A checkpoint of the state at this step boundary; `latest` moves only once it is complete.

        A step already saved (a signal right after a periodic checkpoint, or before a resumed run's
        first step) is not written again: rewriting the folder `latest` names would leave it dangling
        for as long as the rewrite takes, and a third signal or a crash then makes the run unresumable."""
        self.check_finite()
        if self._saved_step == self.step:
            return
        self._saving = True
        if self.sharded:
            dist.save_shards(checkpoint.temporary(self.run.path, self.step), self.model, self.ctx.optimizers)
        if self.world.is_main:
            ema = self.ema.state_dict() if self.ema is not None else None
            folder = checkpoint.save(self.run.path, self.step, self.model, self.state(), keep=self.cfg.keep_checkpoints, assets=self.model.save_assets,
                                     ema=ema, sharded=self.sharded)
            call_hook("on_checkpoint", run=self.run, step=self.step, path=folder)
        self.world.barrier()
        self._saving, self._saved_step = False, self.step

    # ---- batching ----------------------------------------------------------------------------
    def batch_indices(self, step: int) -> torch.Tensor:
        """This rank's share of step `step`'s items: a slice of epoch `step // steps_per_epoch`'s permutation.

        The permutation depends only on (seed, epoch), so resuming needs no data-loader state.
        """
        epoch, offset = divmod(step, self.steps_per_epoch)
        if self._perm is None or self._perm[0] != epoch:
            gen = torch.Generator().manual_seed(self.run.config.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(len(self.data), generator=gen))
        idx = self._perm[1][offset * self.step_items : (offset + 1) * self.step_items]
        return self.world.shard(idx).to(self.device, non_blocking=True)

    def train_one_step(self) -> None:
        """One optimizer step: `grad_accum` micro-batches through the family's `train_step`, then the
        schedules and the EMA. Only a completed step advances `self.step`."""
        span = self.span(self.step)
        self.ctx.step, self.ctx.phase, self.ctx.active = self.step, span.name, span.optimizers
        ahead, self._ahead = self._ahead, None
        chunks = (ahead[1] if ahead is not None and ahead[0] == self.step else self.batch_indices(self.step)).chunk(self.accum)
        prefetch = getattr(self.data, "prefetch", None)  # streamed data reads the next step's rows meanwhile
        if prefetch is not None:
            self._ahead = (self.step + 1, self.batch_indices(self.step + 1))  # computed once: the next step takes it
            for idx in self._ahead[1].chunk(self.accum):
                prefetch(idx)
        for micro, idx in enumerate(chunks):
            self.ctx.micro = micro
            with self.ctx.autocast():
                logs = self.model.train_step(self.data.batch(idx), self.ctx)
            for key, value in logs.items():  # kept as tensors: no device sync until a log line
                self._pending.setdefault(key, []).append((self.step, torch.as_tensor(value).detach().float()))
        self._lr = self.schedulers[span.optimizers[0]].get_last_lr()[0]  # the LR this step used, for the log
        with warnings.catch_warnings():  # schedules follow the trainer's step, even for an idle optimizer
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            for sched in self.schedulers.values():
                sched.step()
        if self.ema is not None:
            self.ema.update(self.step)
        self.step += 1

    def check_finite(self) -> None:
        """With `train.stop_on_nan`: the first non-finite value logged since the last check is an error
        naming its step and loss (checked at log lines and before every checkpoint, one sync each)."""
        if not self.cfg.stop_on_nan:
            return
        problem = None
        for key, pairs in self._pending.items():
            values = torch.stack([v for _, v in pairs])
            bad = ~torch.isfinite(values)
            if bool(bad.any()):
                first = int(bad.nonzero()[0, 0])
                problem = f"{key} became {float(values[first])} at step {pairs[first][0]}"
                break
        if self.world.any(problem is not None):  # every rank stops, not only the one whose loss went bad
            last = checkpoint.latest(self.run.path)
            where = f"the last good checkpoint is {last.name}" if last else "no checkpoint was written"
            raise NonFiniteLoss(f"{problem or 'a loss became non-finite on another process'}; {where}",
                                hint="lower train.lr, set train.grad_clip, or pass --set train.stop_on_nan=false")

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train to the end (or an interrupt) with the run's loggers switched on."""
        with loggers_for(self.run, strict=True) if self.world.is_main else contextlib.nullcontext():
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        main = self.world.is_main
        if main:
            from zoo.provenance import provenance

            self.run.update_summary({"provenance": provenance()})
            call_hook("on_run_start", run=self.run)
        bar = tqdm(total=self.total, initial=self.step, desc=self.run.config.preset, dynamic_ncols=True, disable=self.quiet or not main or not sys.stderr.isatty())
        plain = main and not self.quiet and bar.disable
        window_start, items = time.perf_counter(), 0
        status, whole = "finished", True  # whole: the model is at a step boundary, so saving is safe
        self.model.train()
        with Interrupts().installed() as interrupts:
            try:
                while self.step < self.total and not self.stop_requested:
                    if self.world.any(interrupts.requested):
                        status = "interrupted"
                        break
                    whole = False
                    self.train_one_step()
                    whole = True
                    items += self.step_items
                    bar.update(1)
                    if self.step % self.cfg.log_every == 0 or self.step == self.total:
                        now = time.perf_counter()
                        self.elapsed += now - window_start
                        self.log(self.log_record(items / (now - window_start)), bar, plain)
                        items, window_start = 0, time.perf_counter()
                    paused = time.perf_counter()
                    self.periodic(bar, plain)
                    window_start += time.perf_counter() - paused  # previews, evaluations, checkpoints are not training time
                self.check_finite()  # a NaN since the last log line (an interrupt, a stop) fails the run here, as a failure
            except BaseException as err:  # a step that raised never becomes `latest`; a failed save is not retried
                whole = whole and not self._saving and not isinstance(err, NonFiniteLoss)
                self.finish("interrupted" if isinstance(err, KeyboardInterrupt) else "failed", bar, window_start, save=whole)
                raise
            summary = self.finish("stopped" if self.stop_reason and status == "finished" else status, bar, window_start, save=True)
        if status == "interrupted":
            raise Interrupted(self.run.path)
        previewed = self.cfg.sample_every and self.step % self.cfg.sample_every == 0
        if self.preview_fn and self.shows and not previewed:
            self.in_eval_mode(self.preview_fn)
        return summary

    def finish(self, status: str, bar: Any, window_start: float, save: bool) -> dict[str, Any]:
        """Close the run: a checkpoint when the state is a whole step, the summary, `on_run_end`."""
        bar.close()
        self.elapsed += time.perf_counter() - window_start
        if save:
            self.save()
        summary = {"status": status, "step": self.step, "total_steps": self.total, "train_seconds": round(self.elapsed, 2)}
        if self.stop_reason:
            summary["stop_reason"] = self.stop_reason
        if self.world.is_main:
            summary = self.run.update_summary({**summary, "last_log": (self.run.read_metrics() or [{}])[-1]})
            call_hook("on_run_end", run=self.run, summary=summary)
        return summary

    def log_record(self, items_per_s: float) -> dict[str, float]:
        """The mean of each value logged since the last line (after the NaN check), averaged over ranks."""
        self.check_finite()
        record = self.world.mean({k: float(torch.stack([v for _, v in pairs]).mean()) for k, pairs in self._pending.items()})
        self._pending = {}
        record.update(lr=self._lr, items_per_s=items_per_s)
        return record

    def periodic(self, bar: Any, plain: bool) -> None:
        """The cadenced work after a step: preview grid, evaluation, checkpoint."""
        main = self.shows
        if self.cfg.sample_every and self.step % self.cfg.sample_every == 0 and self.preview_fn and main:
            self.in_eval_mode(self.preview_fn)
        if self.cfg.eval_every and self.step % self.cfg.eval_every == 0 and self.evaluate_fn:
            reasons = []
            if main:
                values = self.in_eval_mode(self.evaluate_fn)
                self.log({f"eval/{k}": v for k, v in values.items()}, bar, plain)
                reasons = call_hook("should_stop", run=self.run, step=self.step, values=values)
            if self.world.any(bool(reasons)):  # every rank stops at this step
                self.stop_requested, self.stop_reason = True, reasons[0] if reasons else "stopped by the main process"
        if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0 and self.step < self.total:
            self.save()

    def in_eval_mode(self, fn: Callable[[Family, int], Any]) -> Any:
        """Run a preview or evaluation in eval mode, with the EMA weights when there are any, without
        touching the training RNG stream."""
        self.model.eval()
        try:
            with dev.fork_rng(self.device), torch.no_grad(), self.ema.applied() if self.ema is not None else contextlib.nullcontext():
                return fn(self.model, self.step)
        finally:
            self.model.train()

    def log(self, record: dict[str, float], bar: Any, plain: bool) -> None:
        if not self.world.is_main:
            return
        record = {"step": self.step, **{k: round(v, 6) for k, v in record.items()}}
        self.run.log(record)
        call_hook("on_log", run=self.run, step=self.step, logs=record)
        shown = {k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "lr")}
        if not bar.disable:
            bar.set_postfix(shown, refresh=False)
        elif plain:
            print(f"step {self.step}/{self.total} " + " ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr, flush=True)
