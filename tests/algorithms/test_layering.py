"""The algorithms are pure: they import the scientific libraries and each other, never the rest of pyama_dask."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pyama_dask.algorithms

ALLOWED_THIRD_PARTY = {"numpy", "scipy", "skimage", "pandas", "laptrack", "networkx", "numba"}
PACKAGE = "pyama_dask.algorithms"


def _imported_modules(path: Path) -> list[str]:
    """Every module a source file imports, at any depth (function-level and TYPE_CHECKING imports too)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import"
            names.append(node.module)
    return names


def test_algorithms_import_nothing_outside_the_package():
    outside = []
    for path in sorted(Path(pyama_dask.algorithms.__file__).parent.glob("*.py")):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if module == PACKAGE or module.startswith(PACKAGE + "."):
                continue
            if top in sys.stdlib_module_names or top == "__future__" or top in ALLOWED_THIRD_PARTY:
                continue
            outside.append(f"{path.name}: {module}")
    assert not outside
