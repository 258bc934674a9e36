"""What made a run: zoo, torch and plugin versions and the source checkout's git commit.

Recorded in summary.json ("provenance") each time training starts or resumes, so a report can say
which code trained a run long after the code has moved on.
"""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any


def provenance() -> dict[str, Any]:
    """Versions of zoo, Python, torch and every loaded plugin, and the git commit when zoo runs from a checkout."""
    import torch

    from zoo.plugins import VERSIONS, get_plugin_manager

    pm = get_plugin_manager()
    loaded = {name: VERSIONS.get(name, "?") for name, _ in pm.list_name_plugin() if not name.startswith("logger:")}
    out: dict[str, Any] = {"zoo": zoo_version(), "python": platform.python_version(), "torch": torch.__version__, "plugins": loaded}
    commit = git_commit(Path(__file__).resolve().parent)
    if commit:
        out["git_commit"] = commit
    return out


def zoo_version() -> str:
    try:
        return importlib.metadata.version("genzoo")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


def git_commit(folder: Path) -> str | None:
    """HEAD of the git checkout that `folder` belongs to (with "+dirty" when tracked files changed), or
    None when it is not in one, or only inside some other project's repository (a venv in a checkout)."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0 or len(head.stdout.split()) != 2:
            return None
        top, commit = head.stdout.split()
        if Path(top).resolve() != folder.parent:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):  # no git on the machine, or it hung
        return None
    return commit + ("+dirty" if dirty.stdout.strip() else "")
