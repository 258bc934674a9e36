"""`zoo sweep` on the tiny test family: trials are run folders, the best trial is the best recorded value,
pruning stops runs through the core's `should_stop` hook, a killed sweep continues, two workers share a
PostgreSQL study, and bad input is one line with exit code 2."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("optuna")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

import zoo  # noqa: E402
from zoo import plugins  # noqa: E402
from zoo.cli import cli  # noqa: E402
from zoo.errors import UsageError  # noqa: E402
from zoo.hookspecs import hookimpl  # noqa: E402
from zoo.presets import resolve  # noqa: E402
from zoo.run import Run  # noqa: E402
from zoo.sweep import Objective, Pruning, Sweep, objective_for, parse_distribution, study_attrs, sweep  # noqa: E402

WORKER = Path(__file__).with_name("sweep_worker.py")
PARAMS = ["train.lr=loguniform:1e-3:0.3", "model.init_log_std=uniform:-1:1"]
EVAL = {"train.eval_every": 2}  # the tiny preset's 4 steps, evaluated at steps 2 and 4


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """40 small grey images in two classes: trials load them from the prepared cache in milliseconds."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir()
        for i in range(20):
            Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / c / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def swept(tiny, images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweeps") / "tiny"
    sweep("tiny-mnist", PARAMS, metric="nll", trials=3, sampler="random", seed=0, out=out, data=images, overrides=EVAL, device="cpu", quiet=True)
    return out


def test_three_trials_are_runs_and_the_best_is_the_minimum(swept):
    study = Sweep.open(swept).study()
    assert len(study.trials) == 3
    recorded = {}
    for t in study.trials:
        summary = Run.open(t.user_attrs["run"]).summary()
        assert Path(t.user_attrs["run"]).parent == swept.resolve()
        if t.state == TrialState.COMPLETE:
            assert summary["status"] == "finished" and summary["eval_step"] == 4
            recorded[t.number] = summary["eval"]["nll"]
            assert t.value == pytest.approx(recorded[t.number])
        else:  # pruned at an in-training evaluation: the run stopped there
            assert t.state == TrialState.PRUNED and summary["status"] == "stopped" and summary["step"] == 2
    assert recorded and study.best_trial.number == min(recorded, key=recorded.get)


def test_show_prints_the_table_and_the_best(swept):
    result = CliRunner().invoke(cli, ["sweep", "--show", str(swept)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[:4] == ["trial", "state", "nll", "train.lr"]
    assert len(lines) == 6 and lines[-1].startswith(f"best: trial {Sweep.open(swept).study().best_trial.number}, value ")


def test_report_shows_trials_and_both_plots(swept, tmp_path):
    pytest.importorskip("matplotlib")
    from zoo.report.build import write_report

    html = write_report([swept], tmp_path / "r.html").read_text()
    assert "sweep of tiny-mnist" in html and "<h3>Trials</h3>" in html
    assert html.count('alt="history plot"') == 1 and html.count('alt="importance plot"') == 1


def test_a_changed_search_space_is_refused(swept, images):
    with pytest.raises(UsageError, match=r"another search \(space: .*pass --study NEW"):
        sweep("tiny-mnist", PARAMS[:1], metric="nll", trials=3, out=swept, data=images, overrides=EVAL, device="cpu", quiet=True)


def test_pruning_on_a_hand_made_sequence(tiny, images, tmp_path):
    """Two earlier trials reported nll 0.1 at steps 2 and 4 by hand; a real trial's first evaluation (tens of
    nats) is worse than their median, so the median pruner stops its run at step 2."""
    out = tmp_path / "pruned"
    out.mkdir()
    objective = objective_for(resolve("tiny-mnist"), "nll")
    attrs = study_attrs("tiny-mnist", objective, {"train.lr": parse_distribution("uniform:0.01:0.1")}, EVAL, str(images))
    study = optuna.create_study(study_name="pruned", storage=f"sqlite:///{out / 'study.db'}")
    study.set_user_attr("zoo", attrs)
    for lr in (0.02, 0.03):
        study.add_trial(optuna.trial.create_trial(params={"train.lr": lr}, distributions={"train.lr": optuna.distributions.FloatDistribution(0.01, 0.1)},
                                                  value=0.1, intermediate_values={2: 0.1, 4: 0.1}))
    (out / "sweep.yaml").write_text("storage: null\nstudies: [pruned]\n")
    sweep("tiny-mnist", ["train.lr=uniform:0.01:0.1"], metric="nll", trials=3, out=out, data=images, overrides=EVAL, device="cpu", quiet=True)
    last = Sweep.open(out).study().trials[-1]
    assert last.state == TrialState.PRUNED and last.intermediate_values.keys() == {2}
    summary = Run.open(last.user_attrs["run"]).summary()
    assert summary["status"] == "stopped" and summary["step"] == 2 and summary["stop_reason"].startswith("pruned by the sweep at step 2: nll = ")


def test_pruner_reports_and_decides():
    """One finished trial reported nll 1.0 at step 2: a trial at 3.0 there is pruned, one at 0.5 or at a step
    without an earlier value is not, and other values are not the objective's."""
    study = optuna.create_study(pruner=optuna.pruners.MedianPruner(n_startup_trials=1))
    first = study.ask()
    first.report(1.0, 2)
    study.tell(first, 1.0)

    def verdict(step, values):
        return Pruning(study.ask(), Objective("nll", False, ("nll",))).should_stop(None, step, values)

    assert verdict(2, {"kid": 5.0}) is None
    assert verdict(2, {"nll": 0.5}) is None
    assert verdict(4, {"nll": 3.0}) is None
    assert verdict(2, {"nll": 3.0}) == "pruned by the sweep at step 2: nll = 3"


def test_should_stop_hook_stops_training_at_that_step(tiny, images, tmp_path):
    class StopAtTwo:
        @hookimpl
        def should_stop(self, run, step, values):
            return f"enough at {step}" if step == 2 else None

    plugins.get_plugin_manager().register(StopAtTwo(), name="stop-at-two")
    try:
        run = zoo.train("tiny-mnist", out=tmp_path / "run", data=images, overrides=EVAL, device="cpu", quiet=True)
    finally:
        plugins.get_plugin_manager().unregister(name="stop-at-two")
    summary = run.summary()
    assert (summary["status"], summary["step"], summary["stop_reason"]) == ("stopped", 2, "enough at 2")


def test_a_killed_sweep_continues_with_the_same_command(tiny, images, tmp_path):
    """The worker dies (SIGKILL) inside trial 1; the same sweep marks it failed (interrupted, not counted)
    and runs trials until three have finished."""
    args = {"params": PARAMS, "out": str(tmp_path / "s"), "data": str(images), "trials": 3, "overrides": EVAL}
    killed = subprocess.run([sys.executable, str(WORKER), json.dumps(args), "1"], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr[-2000:]
    before = Sweep.open(tmp_path / "s").study().trials
    assert [t.state for t in before] == [TrialState.COMPLETE, TrialState.RUNNING]
    sweep("tiny-mnist", PARAMS, metric="nll", trials=3, out=tmp_path / "s", data=images, overrides=EVAL, device="cpu", quiet=True)
    trials = Sweep.open(tmp_path / "s").study().trials
    assert trials[1].state == TrialState.FAIL and "error" not in trials[1].user_attrs
    assert [t.number for t in trials if t.state != TrialState.FAIL] == [0, 2, 3]
    assert Run.open(trials[1].user_attrs["run"]).summary().get("status") != "finished"  # never counted as complete
    headers, rows = Sweep.open(tmp_path / "s").rows()
    assert rows[1][1] == "interrupted"


@pytest.mark.parametrize("args, message", [
    (["--param", "model.init_log_sd=uniform:0:1"], "--param model.init_log_sd: preset 'tiny-mnist' has no such key; closest: model.init_log_std"),
    (["--param", "train.lr=normal:0:1"], "--param train.lr: bad distribution 'normal:0:1'; write loguniform:LOW:HIGH, uniform:LOW:HIGH, int:LOW:HIGH or choice:A,B,C"),
    (["--param", "train.lr=loguniform:0:1"], "--param train.lr: loguniform needs LOW < HIGH and LOW > 0"),
    (["--metric", "fid"], "--metric fid: preset 'tiny-mnist' never records it; it records bits_per_dim, nll"),
    (["--direction", "maximize"], "--direction maximize contradicts nll: lower is better (declared by metric 'nll'); drop --direction"),
    (["--storage", "postgresql://zoo@127.0.0.1:1/none"], "storage postgresql://zoo@127.0.0.1:1/none cannot be opened: OperationalError: connection failed"),
    (["--sampler", "grid"], "--sampler grid needs int: or choice: parameters, not loguniform:0.001:0.3"),
])
def test_bad_input_is_one_line(tiny, tmp_path, args, message):
    base = {"--param": ["--param", PARAMS[0]], "--metric": ["--metric", "nll"]}
    given = [a for a in args if a.startswith("--")]
    line = ["sweep", "tiny-mnist", "--trials", "2", "--out", str(tmp_path / "s"), *args]
    line += [word for key, words in base.items() if key not in given for word in words]
    result = CliRunner().invoke(cli, line)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {message}") and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "s").exists()


# ---- PostgreSQL: two workers, one study -----------------------------------------------------------
def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on a loopback port (Debian's postgresql; `.ci/run` installs it), stopped afterwards."""
    pytest.importorskip("psycopg")
    bin_dir = _postgres_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run installs Debian's postgresql for this test")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql)")
    data, port = Path(tempfile.mkdtemp(prefix="zoo-pg-")), _free_port()  # short, and reachable by another user
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: its own user runs the cluster
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(data, "postgres")
    init = subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "zoo", "--auth=trust", "--no-sync"], capture_output=True, text=True)
    if init.returncode != 0:
        pytest.skip(f"PostgreSQL could not be initialised here: {init.stderr.strip().splitlines()[-1:]}")
    ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-s"]
    start = subprocess.run([*ctl, "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-l", str(data / "log"), "start"], capture_output=True, text=True)
    if start.returncode != 0:
        pytest.skip(f"PostgreSQL could not be started here: {start.stderr.strip()[-300:]}")
    try:
        yield f"postgresql+psycopg://zoo@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_two_workers_share_a_postgres_study(postgres, images, tmp_path):
    args = {"params": PARAMS, "data": str(images), "trials": 4, "overrides": EVAL, "storage": postgres, "study": "shared"}
    workers = [subprocess.Popen([sys.executable, str(WORKER), json.dumps({**args, "out": str(tmp_path / f"w{i}")})], stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    for w in workers:
        assert w.wait(timeout=180) == 0, w.stderr.read()[-2000:]
    study = optuna.load_study(study_name="shared", storage=postgres)
    assert len(study.trials) == 4 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    folders = sorted(p.name for i in range(2) for p in (tmp_path / f"w{i}").glob("shared-*"))
    assert folders == [f"shared-{n:04d}" for n in range(4)]  # every trial ran once, by one worker or the other


def test_under_torchrun_a_sweep_is_refused(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError, match="start one worker per GPU or machine instead of torchrun"):
        sweep("tiny-mnist", PARAMS, metric="nll", trials=2, out=tmp_path / "s")


def test_help_list_and_plugins_import_no_sweep_or_tracker_library():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom zoo.cli import cli\n"
        "for args in (['--help'], ['sweep', '--help'], ['list'], ['plugins']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "heavy = ('optuna', 'sqlalchemy', 'mlflow', 'wandb', 'pyarrow', 'webdataset', 'datasets')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
