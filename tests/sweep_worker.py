"""Entry script for the sweep tests' extra processes: registers the tiny test family, then runs `zoo.sweep.sweep`.

    sweep_worker.py '{"out": ..., "data": ..., "trials": 3, "storage": ..., "study": ...}' [KILL_TRIAL]

With KILL_TRIAL, the process SIGKILLs itself at that trial's second step, as a killed worker would die.
"""
import json
import os
import signal
import sys

from zoo import plugins
from zoo.hookspecs import hookimpl
from zoo.sweep import sweep
from zoo.testing import TinyPlugin


class Kill:
    def __init__(self, trial: int) -> None:
        self.suffix = f"-{trial:04d}"

    @hookimpl
    def on_log(self, run, step, logs):
        if str(run.path).endswith(self.suffix) and step == 2:
            os.kill(os.getpid(), signal.SIGKILL)


plugins.get_plugin_manager().register(TinyPlugin(), name="tiny")
if sys.argv[2:]:
    plugins.get_plugin_manager().register(Kill(int(sys.argv[2])), name="kill")
args = json.loads(sys.argv[1])
sweep("tiny-mnist", args.pop("params"), metric="nll", device="cpu", quiet=True, **args)
