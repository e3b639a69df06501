"""The package layers, checked from the source: imports only go down, and modules stay small.

Read by parsing every module's imports (function-level ones included), so a lazy import inside
a command or a handler counts as much as one at the top of the file."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each package and the project packages it may import. `ui` and `evaluation` stand side by side
# on the core: neither imports the other; the CLI sits on top of everything.
MAY_IMPORT = {
    "seal_model": set(),
    "knowledge_base": {"seal_model"},
    "rag_app": {"seal_model", "knowledge_base"},
    "evaluation": {"seal_model", "knowledge_base", "rag_app"},
    "ui": {"seal_model", "knowledge_base", "rag_app"},
    # deploy: the local launcher and the load test, which drive whole app processes from outside.
    "deploy": {"seal_model", "knowledge_base", "rag_app"},
    "cli": {"seal_model", "knowledge_base", "rag_app", "evaluation", "ui", "deploy"},
}
MAX_LINES = 400  # a module a reader can hold in mind; past it, it is holding two ideas


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(MAY_IMPORT)


def test_every_import_goes_down_the_layers():
    upward = []
    for package, allowed in MAY_IMPORT.items():
        modules = _modules(package)
        assert modules, f"no modules found in {package}/"
        for path in modules:
            for imported in sorted(_imported_packages(path) - allowed - {package}):
                upward.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not upward, "imports against the layering (see README, Architecture):\n" + "\n".join(upward)



def test_no_source_file_is_over_the_size_limit():
    files = [p for package in (*MAY_IMPORT, "tests") for p in _modules(package)]
    too_long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
