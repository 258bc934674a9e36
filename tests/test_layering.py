"""Layering rules checked on the source: only the device layer (zoo/device.py) talks to accelerators;
no built-in plugin imports another plugin, and none reaches into process groups or thread counts."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCELERATOR_MODULES = ("torch.cuda", "torch.backends.mps")
DEVICE_LAYER = ROOT / "zoo" / "device.py"


def _dotted(node: ast.AST) -> str | None:
    """`torch.cuda.synchronize` for that attribute chain; None if it does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def _uses(tree: ast.AST) -> set[tuple[int, str]]:
    """(line, module) for every attribute access or import of an accelerator module, once per line."""
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            names = [_dotted(node) or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            hit = next((m for m in ACCELERATOR_MODULES if name == m or name.startswith(m + ".")), None)
            if hit:
                found.add((node.lineno, hit))
                break
    return found


def test_only_device_layer_calls_cuda():
    offenders = []
    for folder in ("zoo", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == DEVICE_LAYER:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            offenders += [f"{path.relative_to(ROOT)}:{line} uses {module}" for line, module in sorted(_uses(tree))]
    assert not offenders, "only zoo/device.py may call torch.cuda / torch.backends.mps; add a helper there:\n" + "\n".join(offenders)


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def test_no_builtin_plugin_imports_another_or_touches_process_groups():
    plugins = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").is_file())
    offenders = []
    for plugin in plugins:
        for path in sorted((ROOT / "plugins" / plugin).rglob("*.py")):
            source = path.read_text()
            for name in _imports(ast.parse(source, filename=str(path))):
                top = name.split(".")[0]
                if (top in plugins and top != plugin) or name.startswith(("zoo.distributed", "torch.distributed")):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
            if "set_num_threads" in source:
                offenders.append(f"{path.relative_to(ROOT)} sets the thread count (use zoo.device.single_thread)")
    assert plugins and not offenders, "plugins share code through zoo.nn and the contexts, never each other:\n" + "\n".join(offenders)
