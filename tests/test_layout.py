"""The dependency direction of docs/architecture.md, checked on every import statement.

nauplius.core <- nauplius.formats, nauplius.training <- services.worker; nauplius.core <- services,
gateway;
everything <- the command line (the rest of `nauplius`). nauplius.training (the trainer, with its
datasets, splits, retrieval metrics and ONNX export) is a library tier like nauplius.formats: it
imports nauplius.core alone, never the command line or a service. An import inside a function
counts too.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("nauplius", "services", "gateway")

# package prefix -> the project packages its modules may import (besides their own)
ALLOWED: dict[str, tuple[str, ...]] = {
    "nauplius.core": (),
    "nauplius.formats": ("nauplius.core",),
    "nauplius.training": ("nauplius.core",),
    "services.worker": ("nauplius.core", "nauplius.formats", "nauplius.training"),
    "services.embedder": ("nauplius.core",),
    "services.search": ("nauplius.core",),
    "services.catalog": ("nauplius.core",),
    "gateway": ("nauplius.core",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                names.append(node.module)
    return [name for name in names if name.split(".")[0] in OURS]


def _rule_for(module: str) -> str | None:
    matches = [prefix for prefix in ALLOWED if module == prefix or module.startswith(prefix + ".")]
    return max(matches, key=len) if matches else None


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations() -> list[str]:
    found = []
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_name(path)
            rule = _rule_for(module)
            if rule is None:
                continue  # the command line (nauplius.*) may import everything
            allowed = (rule, *ALLOWED[rule])
            found += [f"{module} imports {name}" for name in _imports(path)
                      if not any(_within(name, prefix) for prefix in allowed)]
    return found


def test_imports_follow_the_dependency_direction() -> None:
    assert _violations() == []


@pytest.mark.parametrize("source, expected", [
    ("from gateway.clients import X", ["nauplius.core.x imports gateway.clients"]),
    ("import services.catalog.db", ["nauplius.core.x imports services.catalog.db"]),
    ("def f():\n    from nauplius.cli import main", ["nauplius.core.x imports nauplius.cli"]),
    ("from nauplius.core.errors import DownstreamError", []),
    ("from . import pipeline", []),
])
def test_the_check_sees_a_broken_direction(tmp_path, monkeypatch, source, expected) -> None:
    package = tmp_path / "nauplius" / "core"
    package.mkdir(parents=True)
    (package / "x.py").write_text(source + "\n")
    for top in ("services", "gateway"):
        (tmp_path / top).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _violations() == expected
