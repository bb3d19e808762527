"""Pricing never touches a float: scan ``tariffs/pricing.py`` and every project module it imports
(transitively, within the tariffs package, plus ``engine.money``) for float literals and
``float(...)`` calls. The closure is computed from the import statements, so a new module on the
money path is scanned without anyone remembering to add it here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MONEY_PATH_PACKAGES = ("tariffs",)
ALSO = ("engine.money",)


def _path(module: str) -> Path | None:
    """The source file of a project module; None for a name that is not a module (a class
    imported with ``from module import Name``)."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.Module, module: str) -> set[str]:
    package = module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{package}.{base}".rstrip(".")
            found.add(base)
            # ``from tariffs import cache`` imports the module tariffs.cache
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _on_money_path(module: str) -> bool:
    return module in ALSO or module.split(".")[0] in MONEY_PATH_PACKAGES


def money_path_modules() -> dict[str, Path]:
    todo, seen = ["tariffs.pricing"], {}
    while todo:
        module = todo.pop()
        path = _path(module)
        if module in seen or path is None:
            continue
        seen[module] = path
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo += [m for m in _imports(tree, module) if _on_money_path(m) and m not in seen]
    return seen


def float_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, float):
            found.append(f"{path.name}:{node.lineno} float literal {node.value!r}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "float":
                found.append(f"{path.name}:{node.lineno} float() call")
    return found


def test_the_money_path_is_what_pricing_imports() -> None:
    modules = money_path_modules()
    assert {"tariffs.pricing", "tariffs.cache", "tariffs.repository", "tariffs.versions"} <= set(
        modules
    )
    assert {"tariffs.models", "engine.money"} <= set(modules)


def test_no_float_on_the_money_path() -> None:
    uses = [use for path in money_path_modules().values() for use in float_uses(path)]
    assert uses == []


def test_the_scan_would_see_a_float(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("x = 0.1\ny = float('1')\nz = 1\n", encoding="utf-8")
    assert float_uses(sample) == ["sample.py:1 float literal 0.1", "sample.py:2 float() call"]
