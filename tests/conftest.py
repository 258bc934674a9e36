"""Tests never load plugins installed on the machine, never touch the network or the user's cache."""
from __future__ import annotations

import os

os.environ["ZOO_LOAD_PLUGINS"] = ""  # built-ins only
os.environ["ZOO_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from zoo import plugins  # noqa: E402
from zoo.testing import TinyPlugin  # noqa: E402

SESSION_CACHE = Path(__file__).resolve().parents[1] / ".pytest_cache" / "zoo-cache"
os.environ["ZOO_CACHE_DIR"] = str(SESSION_CACHE)  # feature networks trained once per checkout, not per test


@pytest.fixture
def tiny_plugin():
    """Register the tiny test family (and its `tiny-mnist` preset) for one test."""
    plugins.reset()
    pm = plugins.get_plugin_manager()
    plugin = TinyPlugin()
    pm.register(plugin, name="tiny")
    yield plugin
    plugins.reset()


@pytest.fixture(scope="module")
def tiny():
    """The tiny test family (its own test_nll_per_pixel is a cheap real evaluation), for a whole module."""
    plugins.reset()
    plugins.get_plugin_manager().register(TinyPlugin(), name="tiny")
    yield
    plugins.reset()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids OpenMP spin-waiting (25× faster here).
    A module asks for it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
