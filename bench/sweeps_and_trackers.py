"""The numbers in docs/sweeps.md, docs/tracking.md and docs/data.md's records section, measured on this machine.

    python bench/sweeps_and_trackers.py sweep      a 4-trial gan-mnist-quick sweep (100 steps each): docs/sweep-*.png, zoo's per-trial overhead
    python bench/sweeps_and_trackers.py trackers   MLflow and W&B beside no logger: seconds inside each logger's hooks per logged step, against a step
    python bench/sweeps_and_trackers.py formats    decode rate into the prepared cache: a folder of PNGs, the same as Parquet and as tar shards

Each prints one JSON object. Run one at a time, alone on the machine.
"""
from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
QUICK = {"train.sample_every": 0, "train.checkpoint_every": 0}


def sweep_numbers(folder: Path) -> dict:
    """A real small sweep; per trial, the wall time of the whole trial against the training time inside it."""
    from zoo.report.sweep import sweep_plots
    from zoo.run import Run
    from zoo.sweep import show, sweep

    params = ["train.lr=loguniform:1e-4:3e-3", "model.ngf=choice:16,32"]
    sets = {"train.steps": 100, "train.eval_every": 50, "eval.num_samples": 300, **QUICK}
    started = time.perf_counter()
    result = sweep("gan-mnist-quick", params, metric="fid", trials=4, seed=0, out=folder, overrides=sets, device="cpu")
    wall = time.perf_counter() - started
    study = result.study()
    for name, png in sweep_plots(study).items():
        (DOCS / f"sweep-{name}.png").write_bytes(png)
    trials = []
    for t in study.trials:
        metrics = Run.open(t.user_attrs["run"]).read_metrics()
        evals = sum(r.get("protocol", {}).get("fid", {}).get("seconds", 0) for r in metrics if "eval" in r)
        trials.append({"trial": t.number, "state": t.state.name.lower(), "fid": t.value, "params": t.params, "steps": t.user_attrs.get("steps"),
                       "trial_s": t.user_attrs.get("seconds"), "train_s": t.user_attrs.get("train_seconds"), "fid_eval_s": round(evals, 2)})
    return {"sweep_wall_s": round(wall, 1), "trials": trials, "show": list(show(folder))}


def timed(cls: type, names: tuple[str, ...], spent: list[float]) -> None:
    """Wrap a logger class's hook methods so the time inside them is added up (the hookimpl marker travels with functools.wraps)."""
    for name in names:
        method = getattr(cls, name)

        @functools.wraps(method)
        def wrapper(self, *args, _method=method, **kwargs):
            start = time.perf_counter()
            try:
                return _method(self, *args, **kwargs)
            finally:
                spent.append(time.perf_counter() - start)

        setattr(cls, name, wrapper)


def tracker_numbers(folder: Path, steps: int = 30) -> dict:
    """gan-mnist-quick, `steps` steps logged every step, with no logger, MLflow, then W&B (offline)."""
    import zoo
    from zoo_mlflow.logger import MLflowLogger
    from zoo_wandb.logger import WandbLogger

    os.environ.pop("WANDB_API_KEY", None)
    os.environ["WANDB_MODE"] = "offline"
    spent: dict[str, list[float]] = {"mlflow": [], "wandb": []}
    timed(MLflowLogger, ("on_log",), spent["mlflow"])
    timed(WandbLogger, ("on_log",), spent["wandb"])
    zoo.train("gan-mnist-quick", steps=5, out=folder / "warm", device="cpu", quiet=True, overrides=QUICK)  # data and kernels warm
    out = {}
    for logger in ("none", "mlflow", "wandb"):
        loggers = [] if logger == "none" else [logger]
        run = zoo.train("gan-mnist-quick", steps=steps, out=folder / logger, device="cpu", quiet=True, loggers=loggers,
                        overrides={**QUICK, "train.log_every": 1})
        rates = [r["items_per_s"] for r in run.read_metrics() if "items_per_s" in r][5:]  # past the first steps
        step_s = 64 / statistics.median(rates)
        calls = spent.get(logger, [])
        per_log = statistics.median(calls) if calls else 0.0
        out[logger] = {"median_step_s": round(step_s, 4), "train_s": run.summary()["train_seconds"],
                       "hook_s_per_logged_step": round(per_log, 5),
                       "overhead_log_every_1": round(per_log / step_s, 4) if calls else 0.0,
                       "overhead_log_every_50": round(per_log / 50 / step_s, 5) if calls else 0.0}
    return out


def format_numbers(folder: Path, n: int = 3000) -> dict:
    """MNIST's first `n` training images as PNGs, as Parquet and as tar shards: decode rate of each into a fresh cache."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import webdataset as wds
    from PIL import Image

    from zoo.data import get_spec
    from zoo.data.idx import SPLIT_FILES, read_idx
    from zoo.data.own import IMAGE_EXTS, ImageFolderConfig, list_files, load_images, relative
    from zoo.data.spec import find_folder

    images, labels = (read_idx(find_folder(get_spec("mnist")) / name) for name in SPLIT_FILES["train"])
    root = folder / "png"
    for i in range(n):
        (root / str(labels[i])).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(root / str(labels[i]) / f"{i:05d}.png")
    files = list_files(root, IMAGE_EXTS)
    pq.write_table(pa.table({"image": [{"bytes": f.read_bytes(), "path": relative(root, f)} for f in files],
                             "label": [int(relative(root, f).split("/")[0]) for f in files]}), folder / "mnist.parquet")
    with wds.ShardWriter(str(folder / "shards-%06d.tar"), maxcount=1000, verbose=0) as sink:
        for f in files:
            rel = relative(root, f)
            sink.write({"__key__": rel[:-4], "png": f.read_bytes(), "cls": rel.split("/")[0]})
    out = {"images": n, "cpus": os.cpu_count()}
    for name, path in (("folder", str(root)), ("parquet", str(folder / "mnist.parquet")), ("shards", str(folder / "shards-{000000..000002}.tar"))):
        os.environ["ZOO_CACHE_DIR"] = str(folder / f"cache-{name}")
        start = time.perf_counter()
        train = load_images(Path(path), "train", ImageFolderConfig(path=path, image_size=32, channels=1))
        first = time.perf_counter() - start
        start = time.perf_counter()
        load_images(Path(path), "train", ImageFolderConfig(path=path, image_size=32, channels=1))
        again = time.perf_counter() - start
        out[name] = {"first_load_s": round(first, 2), "images_per_s": round(len(train.fields["x"]) / first), "cached_load_s": round(again, 3)}
    return out


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    jobs = {"sweep": sweep_numbers, "trackers": tracker_numbers, "formats": format_numbers}
    if what not in jobs:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(jobs[what](Path(tmp)), indent=1))


if __name__ == "__main__":
    main()
