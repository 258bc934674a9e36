"""Hyperparameter sweeps on Optuna: `zoo sweep PRESET --param model.lr=loguniform:1e-4:1e-2 --metric fid`.

Each trial is a normal zoo run folder inside the sweep folder. The study lives in the folder's
`study.db` (SQLite) or in a shared `--storage postgresql://...`, so several `zoo sweep` workers, on
one machine or several, split one search. Pruning listens to the evaluations a preset already makes
during training (`train.eval_every`) through the core's `should_stop` hook; no family knows it is in
a sweep. A killed worker's trial is marked failed (interrupted) and does not count: the same command
continues the search.
"""
from __future__ import annotations

import contextlib
import difflib
import fcntl
import math
import os
import shutil
import socket
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

from zoo.errors import UsageError, ZooError
from zoo.hookspecs import hookimpl
from zoo.samples import atomic_write_bytes

SWEEP_FILE = "sweep.yaml"  # what makes a folder a sweep folder: its storage and studies
STUDY_FILE = "study.db"
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
KINDS = {"loguniform": "a float drawn on a log scale", "uniform": "a float", "int": "an integer", "choice": "one of the listed values"}
GRAMMAR = "loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C"
HEARTBEAT_S = 10  # a running trial's heartbeat; one silent for twice this is failed by the next worker
HOST = socket.gethostname()


# ---- the search space ------------------------------------------------------------------------
@dataclass(frozen=True)
class Distribution:
    """One parameter's distribution, parsed from `loguniform:1e-4:1e-2`, `int:2:8` or `choice:32,64`."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def __str__(self) -> str:
        if self.kind == "choice":
            return "choice:" + ",".join(str(c) for c in self.choices)
        return f"{self.kind}:{self.low:g}:{self.high:g}"

    def values(self) -> list[Any]:
        """The values that bound the distribution, to check against the preset before any trial."""
        if self.kind == "choice":
            return list(self.choices)
        return [int(self.low), int(self.high)] if self.kind == "int" else [self.low, self.high]

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler (floats have no grid)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise UsageError(f"--sampler grid needs int: or choice: parameters, not {self}; use tpe or random for floats")

    def suggest(self, trial: Any, name: str) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high))
        return trial.suggest_float(name, self.low, self.high, log=self.kind == "loguniform")


def parse_distribution(text: str, where: str = "--param") -> Distribution:
    """`loguniform:1e-4:1e-2` -> Distribution; anything else is one usage error quoting the grammar."""
    kind, _, rest = str(text).strip().partition(":")
    bad = UsageError(f"{where}: bad distribution {text!r}; write {GRAMMAR}")
    if kind not in KINDS or not rest:
        raise bad
    if kind == "choice":
        choices = tuple(_scalar(v) for v in rest.split(","))
        if len(choices) < 2 or any(c == "" for c in choices) or len(set(map(str, choices))) < len(choices):
            raise UsageError(f"{where}: choice needs two or more different values, e.g. choice:32,64, got {text!r}")
        return Distribution(kind, choices=choices)
    parts = rest.split(":")
    if len(parts) != 2:
        raise bad
    try:
        low, high = (int(p) if kind == "int" else float(p) for p in parts)
    except ValueError:
        raise bad from None
    if not low < high or (kind == "loguniform" and low <= 0):
        raise UsageError(f"{where}: {kind} needs LOW < HIGH{' and LOW > 0' if kind == 'loguniform' else ''}, got {text!r}")
    return Distribution(kind, float(low), float(high))


def _scalar(text: str) -> Any:
    from zoo.config import parse_override

    return parse_override(f"x={text.strip()}")[1]


def parse_space(params: list[str], file: str | os.PathLike[str] | None = None) -> dict[str, Distribution]:
    """`--param KEY=DIST` options and/or a YAML file mapping KEY: DIST (a list is a choice)."""
    raw: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text())
        except (OSError, yaml.YAMLError) as err:
            raise UsageError(f"--space {file}: cannot read it ({type(err).__name__}: {str(err).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--space {file}: expected a mapping of KEY: DISTRIBUTION, e.g. model.lr: loguniform:1e-4:1e-2")
        raw.update(loaded)
    for item in params:
        key, sep, dist = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected KEY=DISTRIBUTION, e.g. model.lr=loguniform:1e-4:1e-2")
        raw[key.strip()] = dist
    if not raw:
        raise UsageError("nothing to search: give --param KEY=DISTRIBUTION (repeatable) or --space FILE.yaml")
    return {key: parse_distribution("choice:" + ",".join(map(str, dist)) if isinstance(dist, list) else dist, f"--param {key}")
            for key, dist in raw.items()}


def check_space(preset: str, space: dict[str, Distribution], overrides: dict[str, Any]) -> None:
    """Every key is a config key of the preset and every bound or choice a valid value for it."""
    from zoo.config import SECTIONS
    from zoo.presets import resolve

    config = resolve(preset, overrides).to_dict()
    keys = [f"{s}.{k}" for s in SECTIONS for k in config.get(s, {})]
    for key, dist in space.items():
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
            raise UsageError(f"--param {key}: preset {preset!r} has no such key; {'closest: ' + ', '.join(close) if close else 'keys look like model.lr, train.steps'}")
        for value in dist.values():
            try:
                resolve(preset, {**overrides, key: value})
            except UsageError as err:
                raise UsageError(f"--param {key}={dist}: {err}") from None


# ---- the objective -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """The value a sweep optimises, its direction, and the registered metric that computes it ([] when
    it is one of the family's own numbers, which every evaluation computes)."""

    metric: str
    higher_is_better: bool
    metrics: tuple[str, ...]

    @property
    def direction(self) -> str:
        return "maximize" if self.higher_is_better else "minimize"

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b


def recorded_metrics(config: Any) -> dict[str, tuple[bool, str | None]]:
    """Value name -> (higher is better, the registered metric that computes it, None for the family's
    own) for what a preset's evaluations record with a declared direction: its `eval.metrics` and the
    family's own numbers its anchors or quality target declare a direction for."""
    from zoo.evaluation import load_metric

    out: dict[str, tuple[bool, str | None]] = {}
    for name in config.eval.metrics:
        out.update({value: (higher, name) for value, higher in load_metric(name).directions().items()})
    declared = [*((k, v) for k, v in config.eval.anchors.items() if isinstance(v, dict)), (config.eval.quality.get("key"), config.eval.quality)]
    for key, spec in declared:
        if key and key not in out and isinstance(spec.get("higher_is_better"), bool):
            out[key] = (spec["higher_is_better"], spec.get("metric") if spec.get("metric") in config.eval.metrics else None)
    return out


def objective_for(config: Any, metric: str, direction: str | None = None) -> Objective:
    """The sweep's objective, checked against what the preset records before any trial runs."""
    if direction not in (None, "minimize", "maximize"):
        raise UsageError(f"--direction must be minimize or maximize, got {direction!r}")
    known = recorded_metrics(config)
    if metric in known:
        higher, source = known[metric]
        if direction is not None and (direction == "maximize") != higher:
            raise UsageError(f"--direction {direction} contradicts {metric}: {'higher' if higher else 'lower'} is better "
                             f"(declared by {'metric ' + repr(source) if source else 'the preset'}); drop --direction")
        return Objective(metric, higher, (source,) if source else ())
    if direction is None:
        raise UsageError(f"--metric {metric}: preset {config.preset!r} never records it; it records {', '.join(sorted(known)) or 'no value with a declared direction'} "
                         "(for a number of the family's own evaluation add --direction minimize|maximize)")
    return Objective(metric, direction == "maximize", ())


# ---- storage and study -------------------------------------------------------------------------
def redact(url: str) -> str:
    """A storage URL without its password, for messages and sweep.yaml (libpq reads PGPASSWORD or ~/.pgpass)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True).replace(":***@", "@")
    except Exception:  # noqa: BLE001 - not a URL at all: say it as given
        return url


def storage_url(folder: Path, storage: str | None) -> str:
    return storage if storage else f"sqlite:///{(folder / STUDY_FILE).resolve()}"


def open_storage(url: str) -> Any:
    """Optuna's RDB storage with heartbeats; an unreachable or malformed URL is one usage error saying what failed."""
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, engine_kwargs=_engine_kwargs(url))
    except Exception as err:  # noqa: BLE001 - sqlalchemy, the driver, the server: all mean "cannot use this storage"
        raise unusable(url, err) from None


def unusable(url: str, err: Exception) -> UsageError:
    """One line: which storage, and what failed (the driver's first line)."""
    why = str(getattr(err, "orig", None) or err).strip().splitlines()
    return UsageError(f"storage {redact(url)} cannot be opened: {type(err).__name__}: {why[0] if why else ''}")


def _engine_kwargs(url: str) -> dict[str, Any]:
    """SQLite waits for a busy database instead of failing (two workers, the heartbeat thread)."""
    return {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}


def study_attrs(preset: str, objective: Objective, space: dict[str, Distribution], overrides: dict[str, Any], data: str | None) -> dict[str, Any]:
    """What defines a study: a worker or a resume with different ones would mix two searches."""
    return {"preset": preset, "metric": objective.metric, "space": {k: str(v) for k, v in space.items()},
            "overrides": {k: v for k, v in overrides.items()}, "data": data}


def open_study(storage: Any, name: str, attrs: dict[str, Any], objective: Objective, sampler: Any, pruner: Any) -> Any:
    """Create study `name` or join it; joining one made with another preset, metric, space or overrides is refused."""
    import optuna

    study = optuna.create_study(study_name=name, storage=storage, direction=objective.direction, sampler=sampler, pruner=pruner, load_if_exists=True)
    stored = study.user_attrs.get("zoo")
    if stored is None:
        if study.trials:
            raise UsageError(f"study {name!r} was not made by zoo sweep; pass --study NEW to start another")
        study.set_user_attr("zoo", attrs)
    elif stored != attrs:
        changed = [k for k in attrs if stored.get(k) != attrs[k]]
        detail = "; ".join(f"{k}: {_short(stored.get(k))} -> {_short(attrs[k])}" for k in changed)
        raise UsageError(f"study {name!r} was made with another search ({detail}); run the same command to continue it, or pass --study NEW to start another")
    return study


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return str(value)


def make_sampler(kind: str, space: dict[str, Distribution], seed: int | None) -> Any:
    import optuna

    if kind not in SAMPLERS:
        raise UsageError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {kind!r}")
    if kind == "grid":
        return optuna.samplers.GridSampler({k: d.grid() for k, d in space.items()}, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed) if kind == "random" else optuna.samplers.TPESampler(seed=seed)


def make_pruner(kind: str | Any) -> Any:
    """MedianPruner (a trial worse than the median of earlier trials at the same step stops, once two
    trials have finished), Hyperband, none, or any `optuna.pruners.BasePruner` given as is."""
    import optuna

    if not isinstance(kind, str):
        return kind
    if kind not in PRUNERS:
        raise UsageError(f"--pruner must be one of {', '.join(PRUNERS)}, got {kind!r}")
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2)
    return optuna.pruners.HyperbandPruner() if kind == "hyperband" else optuna.pruners.NopPruner()


class StudyLock:
    """A lock the workers of one study share: held while the storage's tables and the study are created
    (two new workers would race to create them), and from counting the study's trials until the next
    trial is RUNNING (so workers that finish together never start more than `--trials`). A file lock
    beside a SQLite study, an advisory lock in PostgreSQL; other databases go without (and may overshoot
    by a trial per extra worker)."""

    def __init__(self, url: str, name: str) -> None:
        self.url, self.key = url, zlib.crc32(name.encode()) & 0x7FFFFFFF
        self._file: Any = None
        self._conn: Any = None

    def acquire(self) -> None:
        if self.url.startswith("sqlite:///"):
            self._file = open(self.url.removeprefix("sqlite:///") + ".lock", "a")
            fcntl.flock(self._file, fcntl.LOCK_EX)
        elif self.url.startswith("postgresql"):
            import sqlalchemy

            try:
                self._conn = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool).connect()
            except Exception as err:  # noqa: BLE001 - as open_storage: an unreachable server, a missing driver
                raise unusable(self.url, err) from None
            self._conn.execute(sqlalchemy.text(f"SELECT pg_advisory_lock({self.key})"))

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None
        if self._conn is not None:
            self._conn.close()  # the session ends, and its advisory lock with it
            self._conn = None

    def __enter__(self) -> "StudyLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


# ---- running trials ----------------------------------------------------------------------------
class Pruning:
    """The sweep's side of the core's `should_stop` hook: each in-training evaluation is reported to the
    trial, and the pruner's verdict stops the run at that step."""

    def __init__(self, trial: Any, objective: Objective) -> None:
        self.trial, self.objective = trial, objective
        self.reason: str | None = None

    @hookimpl
    def should_stop(self, run: Any, step: int, values: dict[str, float]) -> str | None:
        value = values.get(self.objective.metric)
        if value is None or not math.isfinite(value):
            return None
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.reason = f"pruned by the sweep at step {step}: {self.objective.metric} = {value:.4g}"
        return self.reason


class TrialFailed(ZooError):
    """A trial that ended in an error (a NaN loss, no value): recorded as failed, and the sweep goes on."""


@dataclass
class Plan:
    """Everything a worker needs to run trials."""

    preset: str
    space: dict[str, Distribution]
    objective: Objective
    overrides: dict[str, Any]
    folder: Path
    study_name: str
    data: str | None
    device: str

    def trial_overrides(self, params: dict[str, Any]) -> dict[str, Any]:
        """The sweep's fixed overrides, the trial's parameters, and evaluations that compute only the objective."""
        return {**self.overrides, **params, "eval.metrics": list(self.objective.metrics)}

    def run_dir(self, number: int) -> Path:
        return self.folder / f"{self.study_name}-{number:04d}"


def run_trial(plan: Plan, trial: Any) -> float:
    """Train one trial's run and return its objective value (from the last evaluation at the final step,
    else a fresh evaluation of the final checkpoint). Ctrl-C or SIGTERM propagates: optuna marks the trial
    failed with no error recorded, which makes it an interrupted trial that another one replaces."""
    import optuna

    import zoo
    from zoo.plugins import get_plugin_manager

    started = time.perf_counter()
    params = {key: dist.suggest(trial, key) for key, dist in plan.space.items()}
    out = plan.run_dir(trial.number)
    for key, value in (("host", HOST), ("pid", os.getpid()), ("run", str(out.resolve()))):
        trial.set_user_attr(key, value)
    pruning = Pruning(trial, plan.objective)
    pm = get_plugin_manager()
    pm.register(pruning, name=f"sweep-trial-{trial.number}")
    try:
        run = zoo.train(plan.preset, out=out, overwrite=True, overrides=plan.trial_overrides(params), device=plan.device, data=plan.data, quiet=True)
    except UsageError as err:
        trial.set_user_attr("error", str(err))
        raise
    except Exception as err:  # noqa: BLE001 - a NaN loss, out of memory: this trial failed, the sweep goes on
        trial.set_user_attr("error", f"{type(err).__name__}: {err}".splitlines()[0])
        raise TrialFailed(str(err)) from None
    finally:
        pm.unregister(pruning)
    summary = run.update_summary({"sweep": {"study": plan.study_name, "trial": trial.number, "params": params}})
    trial.set_user_attr("steps", summary.get("step"))
    trial.set_user_attr("train_seconds", summary.get("train_seconds"))
    if pruning.reason:
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        raise optuna.TrialPruned(pruning.reason)
    values = summary.get("eval", {}) if summary.get("eval_step") == summary.get("step") else {}
    if plan.objective.metric not in values:
        values = zoo.evaluate(run.path, metrics=list(plan.objective.metrics), device=plan.device)
    trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
    value = values.get(plan.objective.metric)
    if value is None:
        message = f"trial {trial.number} recorded no {plan.objective.metric!r}; its evaluation gave {', '.join(sorted(values)) or 'nothing'}"
        trial.set_user_attr("error", message)
        raise UsageError(message)
    if not math.isfinite(value):
        trial.set_user_attr("error", f"{plan.objective.metric} = {value}")
        raise TrialFailed(f"{plan.objective.metric} = {value}")
    return float(value)


def counted(trial: Any) -> bool:
    """Whether a trial uses up one of `--trials`: finished, running, or failed by an error; an
    interrupted trial (failed with no error recorded) is run again."""
    from optuna.trial import TrialState

    return trial.state != TrialState.FAIL or "error" in trial.user_attrs


def fail_orphans(study: Any, storage: Any) -> list[int]:
    """Mark failed the running trials of this host whose worker process is gone (a killed sweep), at once
    rather than after the heartbeat's grace period; returns their numbers."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == HOST and isinstance(pid, int) and not _alive(pid):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            with contextlib.suppress(Exception):  # another worker may have failed it first
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
                failed.append(trial.number)
    return failed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Sweep:
    """A sweep folder: its storage and study, for `--show` and reports."""

    path: Path
    storage: str
    study_name: str

    @classmethod
    def open(cls, folder: str | os.PathLike[str], study: str | None = None) -> "Sweep":
        path = Path(folder)
        file = path / SWEEP_FILE
        if not file.is_file():
            raise UsageError(f"{folder} is not a sweep folder (it has no {SWEEP_FILE}); `zoo sweep PRESET --out {folder}` makes one")
        meta = yaml.safe_load(file.read_text()) or {}
        studies = meta.get("studies") or []
        name = study or (studies[-1] if studies else path.name)
        if study and study not in studies:
            raise UsageError(f"{folder} holds no study {study!r}; it holds {', '.join(studies)}")
        return cls(path, meta.get("storage") or storage_url(path, None), name)

    def study(self) -> Any:
        import optuna

        return optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage))

    def rows(self) -> tuple[list[str], list[list[str]]]:
        """The trials table: number, state, value, each parameter, steps, seconds, run folder."""
        study = self.study()
        metric = study.user_attrs.get("zoo", {}).get("metric", "value")
        names = list(study.user_attrs.get("zoo", {}).get("space", {}))
        headers = ["trial", "state", metric, *names, "steps", "seconds", "run"]
        rows = []
        for t in study.trials:
            state = t.state.name.lower()
            if state == "fail":
                state = "failed" if "error" in t.user_attrs else "interrupted"
            value = f"{t.value:.4g}" if t.value is not None else "-"
            params = [_fmt(t.params[n]) if n in t.params else "-" for n in names]
            run = t.user_attrs.get("run", "")
            shown = os.path.relpath(run, self.path) if run and Path(run).parent == self.path.resolve() else run
            rows.append([str(t.number), state, value, *params, str(t.user_attrs.get("steps", "-")), str(t.user_attrs.get("seconds", "-")), shown])
        return headers, rows

    def best(self) -> Any | None:
        """The best complete trial, or None before one completes."""
        from optuna.trial import TrialState

        study = self.study()
        return study.best_trial if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) else None


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _record(folder: Path, storage: str | None, name: str) -> None:
    """sweep.yaml: the storage (its password left out) and the studies, so --show and zoo report find them."""
    file = folder / SWEEP_FILE
    meta = yaml.safe_load(file.read_text()) if file.is_file() else {}
    studies = [s for s in meta.get("studies", []) if s != name] + [name]
    atomic_write_bytes(file, yaml.safe_dump({"storage": redact(storage) if storage else None, "studies": studies}, sort_keys=False).encode())


def sweep(
    preset: str,
    params: list[str] | None = None,
    *,
    metric: str,
    space_file: str | os.PathLike[str] | None = None,
    direction: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    sampler: str = "tpe",
    pruner: str | Any = "median",
    out: str | os.PathLike[str] | None = None,
    storage: str | None = None,
    study: str | None = None,
    overrides: dict[str, Any] | None = None,
    data: str | os.PathLike[str] | None = None,
    device: str = "auto",
    seed: int | None = None,
    quiet: bool = False,
) -> Sweep:
    """Search preset `preset` over `params` (["model.lr=loguniform:1e-4:1e-2", ...]) for the best `metric`.

    Runs trials until the study holds `trials` finished ones (all workers together; an interrupted trial
    does not count) or `timeout` seconds have passed. The same call continues a stopped sweep."""
    import optuna
    from optuna.trial import TrialState

    from zoo.presets import resolve

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under torchrun every rank would ask the study for its own trial
        raise UsageError("zoo sweep trains each trial in its own process; start one worker per GPU or machine instead of torchrun (docs/scale.md)")
    if trials is not None and trials <= 0:
        raise UsageError(f"--trials must be a positive integer, got {trials}")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout}")
    overrides = dict(overrides or {})
    space = parse_space(list(params or []), space_file)
    check_space(preset, space, overrides)
    objective = objective_for(resolve(preset, overrides), metric, direction)
    made = make_sampler(sampler, space, seed)
    if sampler == "grid":
        size = math.prod(len(d.grid()) for d in space.values())
        trials = min(trials or size, size)
    if trials is None and timeout is None:
        raise UsageError("say how long to search: --trials N, --timeout SECONDS, or both")
    folder = Path(out) if out else Path("sweeps") / preset
    name = study or folder.name
    if storage is None and folder.exists() and not (folder / SWEEP_FILE).is_file() and any(folder.iterdir()):
        raise UsageError(f"--out {folder} holds files but is not a sweep folder; pick another --out")
    url = storage_url(folder, storage)
    data_path = str(data) if data is not None else None
    attrs = study_attrs(preset, objective, space, overrides, data_path)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # zoo prints one line per trial instead
    new = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    slot = StudyLock(url, name)
    try:
        with slot:
            backend = open_storage(url)
            the_study = open_study(backend, name, attrs, objective, made, make_pruner(pruner))
    except ZooError:
        if new:  # a refused sweep leaves nothing behind
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _record(folder, storage, name)
    plan = Plan(preset, space, objective, overrides, folder, name, data_path, device)
    say = (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    for number in fail_orphans(the_study, backend):
        say(f"trial {number}: its worker is gone; marked failed (interrupted), and another trial takes its place")
    deadline = (time.monotonic() + timeout) if timeout else None
    mine: list[int] = []  # this worker's trial numbers

    def objective_fn(trial: Any) -> float:
        slot.release()  # the trial is RUNNING now: other workers count it
        mine.append(trial.number)
        return run_trial(plan, trial)

    while deadline is None or time.monotonic() < deadline:
        slot.acquire()
        try:
            if trials is not None and sum(counted(t) for t in the_study.get_trials(deepcopy=False)) >= trials:
                break
            the_study.optimize(objective_fn, n_trials=1, catch=(TrialFailed,))
        except KeyboardInterrupt:
            raise ZooError(f"interrupted; the trial under way is marked failed and runs again when the same command continues the sweep in {folder}") from None
        finally:
            slot.release()
        say(trial_line(the_study.trials[mine[-1]], objective))
    done = the_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if done:
        best = the_study.best_trial
        say(f"best: trial {best.number}, {objective.metric} = {best.value:.4g} ({_params(best.params)}); run {best.user_attrs.get('run')}")
    return Sweep(folder, storage or url, name)


def trial_line(t: Any, objective: Objective) -> str:
    """One line per finished trial, for the worker's log."""
    from optuna.trial import TrialState

    where = f"({_params(t.params)}) in {t.user_attrs.get('seconds', '?')} s"
    if t.state == TrialState.COMPLETE:
        return f"trial {t.number}: {objective.metric} = {t.value:.4g} {where}"
    if t.state == TrialState.PRUNED:
        return f"trial {t.number}: pruned at step {t.user_attrs.get('steps')} {where}"
    return f"trial {t.number}: {t.state.name.lower()}: {t.user_attrs.get('error', 'no error recorded')} {where}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def show(folder: str | os.PathLike[str], study: str | None = None) -> Iterator[str]:
    """The lines `zoo sweep --show DIR` prints: the trials table, then the best trial."""
    sweep_ = Sweep.open(folder, study)
    headers, rows = sweep_.rows()
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    yield f"study {sweep_.study_name} in {redact(sweep_.storage)}: {len(rows)} trials"
    yield "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    for row in rows:
        yield "  ".join(c.ljust(w) for c, w in zip(row, widths))
    best = sweep_.best()
    yield f"best: trial {best.number}, value {best.value:.4g} ({_params(best.params)})" if best else "best: no trial has completed yet"
