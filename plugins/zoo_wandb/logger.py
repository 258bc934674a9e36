"""The W&B logger: one instance per run, made by zoo when the run switches it on."""
from __future__ import annotations

import hashlib
import netrc
import os
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.hookspecs import hookimpl
from zoo.samples import AudioSamples, ImageSamples, TextSamples

STEP = "trainer/step"  # the x-axis of every chart: zoo's step, so `zoo evaluate` may log an older step after training
MAX_CLIPS = 8  # audio clips logged per sample set
EXIT = {"finished": 0, "stopped": 0}  # any other end (interrupted, failed) finishes the W&B run as failed


class WandbLogger:
    """Sends one run's config, scalars, evaluations and samples to a W&B run (one per run folder)."""

    def __init__(self) -> None:
        try:
            import wandb
        except ImportError as err:
            raise ZooError("the wandb logger needs the wandb package", hint="pip install 'genzoo[wandb]'") from err
        self._wandb = wandb
        self._run: Any = None
        self._training = False  # between on_run_start and on_run_end; otherwise each event opens and finishes the run

    def wandb_run(self, run: Any) -> Any:
        """The W&B run of this run folder (its id derives from the folder, so a resume continues it)."""
        if self._run is None:
            path = Path(run.path).resolve()
            self._run = self._wandb.init(
                project=os.environ.get("WANDB_PROJECT") or "zoo", name=path.name, id=hashlib.sha1(str(path).encode()).hexdigest()[:16],
                resume="allow", dir=str(path), config=run.config.to_dict(), mode=mode(), reinit="create_new",
                settings=self._wandb.Settings(console="off", silent=True, x_disable_stats=True),  # zoo's own output stays as it is
            )
            self._run.define_metric(STEP)
            self._run.define_metric("*", step_metric=STEP)
        return self._run

    def _log(self, run: Any, step: int, values: dict[str, Any]) -> None:
        if not values:  # a record of evaluations only: those arrive through on_evaluation
            return
        self.wandb_run(run).log({STEP: step, **values})
        if not self._training:
            self._finish(0)

    def _finish(self, exit_code: int) -> None:
        if self._run is not None:
            self._run.finish(exit_code=exit_code)
            self._run = None

    @hookimpl
    def on_run_start(self, run: Any) -> None:
        self._training = True
        self.wandb_run(run)

    @hookimpl
    def on_log(self, run: Any, step: int, logs: dict[str, float]) -> None:
        self._log(run, step, {f"train/{k}": v for k, v in logs.items() if k != "step" and not k.startswith("eval/")})  # evaluations come through on_evaluation

    @hookimpl
    def on_evaluation(self, run: Any, step: int, values: dict[str, float], protocols: dict[str, dict[str, Any]]) -> None:
        self._log(run, step, {f"eval/{k}": v for k, v in values.items()})

    @hookimpl
    def on_samples(self, run: Any, step: int, samples: Any, paths: list[Any]) -> None:
        wandb = self._wandb
        if isinstance(samples, ImageSamples):
            grid = next((str(p) for p in paths if str(p).endswith(".png")), None)
            logged = [wandb.Image(grid)] if grid else [wandb.Image(img.float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()) for img in samples.images]
        elif isinstance(samples, AudioSamples):
            logged = [wandb.Audio(wave.float().cpu().clamp(-1, 1).numpy(), sample_rate=samples.sample_rate) for wave in samples.waves[:MAX_CLIPS]]
        elif isinstance(samples, TextSamples):
            logged = wandb.Table(columns=["text"], data=[[t] for t in samples.texts])
        else:
            return
        self._log(run, step, {"samples": logged})

    @hookimpl
    def on_run_end(self, run: Any, summary: dict[str, Any]) -> None:
        self._training = False
        self.wandb_run(run).summary.update({"zoo/status": summary.get("status"), "zoo/train_seconds": summary.get("train_seconds")})
        self._finish(EXIT.get(summary.get("status", ""), 1))


def mode() -> str:
    """`WANDB_MODE` when set; else online only when an API key is set (env or ~/.netrc), so nothing is
    sent, or waits on a login prompt, by default."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        found = netrc.netrc().authenticators("api.wandb.ai")
    except (OSError, netrc.NetrcParseError):
        found = None
    return "online" if found else "offline"
