"""Issue 16, must-have 7: the package carries type hints, ships ``py.typed``, and mypy (settings
in pyproject.toml) finds nothing wrong with it."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "anime_colorize"


def _package_data() -> dict:
    """setup.py's ``package_data`` argument, read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            for keyword in node.keywords:
                if keyword.arg == "package_data":
                    return ast.literal_eval(keyword.value)
    return {}


def test_package_ships_py_typed_marker():
    assert (PACKAGE / "py.typed").is_file()
    assert "py.typed" in _package_data().get("anime_colorize", [])


def _unannotated(path: Path, label: str) -> list[str]:
    """Public functions and methods of one module that miss a parameter or return annotation
    (``self``/``cls`` excepted; ``__init__`` needs no return annotation). Nested functions and
    members of private classes are not public API."""
    missing = []

    def visit(node: ast.AST, prefix: str, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                if not child.name.startswith("_"):
                    visit(child, f"{prefix}{child.name}.", True)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if child.name.startswith("_") and child.name not in ("__init__", "__call__"):
                    continue
                args = child.args
                params = args.posonlyargs + args.args + args.kwonlyargs
                if in_class and params and params[0].arg in ("self", "cls"):
                    params = params[1:]
                params += [a for a in (args.vararg, args.kwarg) if a is not None]
                gaps = [a.arg for a in params if a.annotation is None]
                if child.returns is None and child.name != "__init__":
                    gaps.append("return")
                if gaps:
                    missing.append(f"{label}:{child.lineno} {prefix}{child.name}: {gaps}")

    visit(ast.parse(path.read_text(encoding="utf-8")), "", False)
    return missing


def test_unannotated_finder_sees_gaps(tmp_path):
    # The check below passes on an empty answer, so show it can give a non-empty one.
    module = tmp_path / "probe.py"
    module.write_text("def f(x, y: int):\n    return x\n\nclass A:\n    def g(self) -> None: ...\n"
                      "    def h(self, z) -> int: ...\n    def _private(self, w): ...\n", encoding="utf-8")
    found = _unannotated(module, "probe.py")
    assert [line.split(" ", 1)[1] for line in found] == ["f: ['x', 'return']", "A.h: ['z']"]


def test_public_functions_are_annotated():
    missing = [gap for path in sorted(PACKAGE.rglob("*.py")) for gap in _unannotated(path, str(path.relative_to(ROOT)))]
    assert not missing, "public functions without type hints:\n" + "\n".join(missing)


def test_mypy_is_clean(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the [test] extra")
    # A fresh cache, so the result never depends on an earlier run (about 10 s of CPU).
    env = {**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy_cache")}
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
