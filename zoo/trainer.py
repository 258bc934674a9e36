"""The one training loop every family shares.

Owns: batching by index from a seeded per-epoch permutation, device placement, precision, the
optimizers and LR schedules, logging (metrics.jsonl, plugin hooks, progress bar), periodic previews
and evaluation, checkpoints, and exact resume. A family only supplies `train_step`.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from zoo import checkpoint
from zoo import device as dev
from zoo import distributed as dist
from zoo.config import TrainConfig
from zoo.contract import Family, StepContext
from zoo.errors import UsageError
from zoo.plugins import get_plugin_manager
from zoo.run import Run

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": lambda groups, cfg: torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas)),
    "adamw": lambda groups, cfg: torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas)),
    "sgd": lambda groups, cfg: torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.betas[0]),
}


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The configured optimizer; weight decay applies to matrices and kernels only, never to biases,
    norms' scales or other vectors (as nanoGPT and Hugging Face's Trainer do)."""
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return OPTIMIZERS[cfg.optimizer]([g for g in groups if g["params"]], cfg)


def lr_factor(step: int, cfg: TrainConfig, total: int) -> float:
    """Linear warm-up, then constant, cosine or linear decay from lr to min_lr over the run."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if cfg.schedule == "cosine" else 1 - progress
    floor = cfg.min_lr / cfg.lr if cfg.lr else 0.0
    return floor + (1 - floor) * shape


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
        self.world = dist.world()
        self.local_batch = self.world.local_batch(self.batch_size)
        self.steps_per_epoch = len(data) // self.batch_size
        if self.steps_per_epoch == 0:
            raise UsageError(f"data.batch_size={self.batch_size} is larger than the training set ({len(data)} items)")
        self.total = self.cfg.epochs * self.steps_per_epoch if self.cfg.epochs else self.cfg.steps
        self.world.prepare(model, device, self.cfg.sync_batchnorm)
        groups = model.param_groups()
        optimizers = {name: make_optimizer(params, self.cfg) for name, params in groups.items()}
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, self.cfg, self.total)) for name, opt in optimizers.items()
        }
        self.ctx = StepContext(optimizers, device, precision, self.cfg.grad_clip, self.world.gates(groups, device, self.cfg.find_unused_parameters))
        self.step = 0
        self.elapsed = 0.0
        self.evaluate_fn, self.preview_fn = evaluate, preview
        self.quiet = quiet
        self.stop_requested = False  # set by a callback (a benchmark that reached its quality target)
        self._perm: tuple[int, torch.Tensor] | None = None

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "optimizers": {k: o.state_dict() for k, o in self.ctx.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.ctx.scalers.items()},
            "rng": dev.rng_state(),
        }

    def restore(self, folder: Path) -> None:
        """Continue exactly where checkpoint `folder` left off."""
        checkpoint.load_weights(self.model, folder)
        state = checkpoint.load_state(folder)
        for name, opt in self.ctx.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        for name, sched in self.schedulers.items():
            sched.load_state_dict(state["schedulers"][name])
        for name, scaler in self.ctx.scalers.items():
            if state["scalers"].get(name):
                scaler.load_state_dict(state["scalers"][name])
        dev.set_rng_state(state["rng"])
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])

    def save(self) -> None:
        if self.world.is_main:
            checkpoint.save(self.run.path, self.step, self.model, self.state(), keep=self.cfg.keep_checkpoints, assets=self.model.save_assets)
        self.world.barrier()

    # ---- batching ----------------------------------------------------------------------------
    def batch_indices(self, step: int) -> torch.Tensor:
        """This rank's share of batch `step`: a slice of epoch `step // steps_per_epoch`'s permutation.

        The permutation depends only on (seed, epoch), so resuming needs no data-loader state.
        """
        epoch, offset = divmod(step, self.steps_per_epoch)
        if self._perm is None or self._perm[0] != epoch:
            gen = torch.Generator().manual_seed(self.run.config.seed * 1_000_003 + epoch)
            self._perm = (epoch, torch.randperm(len(self.data), generator=gen))
        idx = self._perm[1][offset * self.batch_size : (offset + 1) * self.batch_size]
        return self.world.shard(idx).to(self.device, non_blocking=True)

    # ---- the loop ----------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        pm = get_plugin_manager()
        main = self.world.is_main
        if main:
            pm.hook.on_run_start(run=self.run)
        bar = tqdm(total=self.total, initial=self.step, desc=self.run.config.preset, dynamic_ncols=True, disable=self.quiet or not main or not sys.stderr.isatty())
        plain = main and not self.quiet and bar.disable
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        window_start, items = time.perf_counter(), 0
        status = "finished"
        self.model.train()
        try:
            while self.step < self.total and not self.stop_requested:
                batch = self.data.batch(self.batch_indices(self.step))
                self.ctx.step = self.step
                with self.ctx.autocast():
                    logs = self.model.train_step(batch, self.ctx)
                with warnings.catch_warnings():  # schedules follow the trainer's step, even for an idle optimizer
                    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                    for sched in self.schedulers.values():
                        sched.step()
                for key, value in logs.items():  # summed as tensors: no device sync until a log line
                    value = torch.as_tensor(value).detach().float()
                    sums[key] = sums[key] + value if key in sums else value
                    counts[key] = counts.get(key, 0) + 1
                items += self.batch_size
                self.step += 1
                bar.update(1)
                if self.step % self.cfg.log_every == 0 or self.step == self.total:
                    now = time.perf_counter()
                    self.elapsed += now - window_start
                    record = self.world.mean({k: float(v) / counts[k] for k, v in sums.items()})
                    record.update(lr=self.schedulers[next(iter(self.schedulers))].get_last_lr()[0], items_per_s=items / (now - window_start))
                    self.log(record, bar, plain)
                    sums, counts, items, window_start = {}, {}, 0, time.perf_counter()
                paused = time.perf_counter()
                self.periodic(bar, plain)
                window_start += time.perf_counter() - paused  # previews, evaluations, checkpoints are not training time
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            bar.close()
            self.elapsed += time.perf_counter() - window_start
            self.save()
            summary = {"status": status, "step": self.step, "total_steps": self.total, "train_seconds": round(self.elapsed, 2)}
            if main:
                summary = self.run.update_summary({**summary, "last_log": (self.run.read_metrics() or [{}])[-1]})
                pm.hook.on_run_end(run=self.run, summary=summary)
        previewed = self.cfg.sample_every and self.step % self.cfg.sample_every == 0
        if self.preview_fn and main and not previewed:
            self.in_eval_mode(self.preview_fn)
        return summary

    def periodic(self, bar: Any, plain: bool) -> None:
        """The cadenced work after a step: preview grid, evaluation, checkpoint."""
        main = self.world.is_main
        if self.cfg.sample_every and self.step % self.cfg.sample_every == 0 and self.preview_fn and main:
            self.in_eval_mode(self.preview_fn)
        if self.cfg.eval_every and self.step % self.cfg.eval_every == 0 and self.evaluate_fn and main:
            self.log({f"eval/{k}": v for k, v in self.in_eval_mode(self.evaluate_fn).items()}, bar, plain)
        if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0 and self.step < self.total:
            self.save()

    def in_eval_mode(self, fn: Callable[[Family, int], Any]) -> Any:
        """Run a preview or evaluation in eval mode without touching the training RNG stream."""
        self.model.eval()
        try:
            with dev.fork_rng(self.device), torch.no_grad():
                return fn(self.model, self.step)
        finally:
            self.model.train()

    def log(self, record: dict[str, float], bar: Any, plain: bool) -> None:
        if not self.world.is_main:
            return
        record = {"step": self.step, **{k: round(v, 6) for k, v in record.items()}}
        self.run.log(record)
        get_plugin_manager().hook.on_log(run=self.run, step=self.step, logs=record)
        shown = {k: f"{v:.4g}" for k, v in record.items() if k not in ("step", "lr")}
        if not bar.disable:
            bar.set_postfix(shown, refresh=False)
        elif plain:
            print(f"step {self.step}/{self.total} " + " ".join(f"{k}={v}" for k, v in shown.items()), file=sys.stderr, flush=True)
