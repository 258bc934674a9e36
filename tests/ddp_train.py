"""Entry script for the distributed tests: registers the tiny test family, then trains (under torchrun or not).

    ddp_train.py PRESET OUT STEPS [resume | accum]    (accum: batch 8 × train.grad_accum 2)

Prints how many gloo threads are left once training returns: they must be gone before interpreter exit.
"""
import os
import sys
from pathlib import Path

import zoo
from zoo import plugins
from zoo.testing import TinyPlugin

plugins.get_plugin_manager().register(TinyPlugin(), name="tiny")
preset, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if sys.argv[4:] == ["resume"]:
    zoo.train(resume=out, steps=steps, device="cpu", quiet=True)
else:
    overrides = {"data.batch_size": 16, "train.log_every": 1, "train.sample_every": 0}
    if sys.argv[4:] == ["accum"]:
        overrides.update({"data.batch_size": 8, "train.grad_accum": 2})
    if preset != "tiny-mnist":
        overrides.update({"model.nz": 8, "model.ngf": 4, "model.ndf": 4})
    zoo.train(preset, steps=steps, out=out, device="cpu", overrides=overrides, quiet=True)
tasks = Path("/proc/self/task")
threads = [(task / "comm").read_text() for task in tasks.iterdir()] if tasks.is_dir() else []
os.write(1, f"gloo threads left: {sum('gloo' in name for name in threads)}\n".encode())  # one write: ranks share stdout
