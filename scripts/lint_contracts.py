"""import-linter contract types of this project (registered in pyproject.toml, run by `make lint`).

`public_names`: the source modules (the DAG files) may use only the public names of the listed
packages: no `from flink_k8s.x import _y`, no `import flink_k8s._x`, no `flink_k8s.x._y` or
`module._y` through a name bound by such an import. A name is private when it starts with `_`
(dunders such as `__version__` are not). import-linter sees modules, not names, so this contract
reads the source modules' files with `ast`; it never imports them.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grimp
from importlinter import Contract, ContractCheck, fields, output


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _in(module: str, packages: frozenset[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@dataclass(frozen=True)
class Use:
    path: str
    line: int
    text: str


def private_uses(source: str, path: str, packages: frozenset[str]) -> list[Use]:
    """Every private name of `packages` that `source` imports or reaches through an imported name."""
    tree = ast.parse(source, filename=path)
    uses: list[Use] = []
    bound: set[str] = set()  # local names bound to a module or object of `packages`
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _in(alias.name, packages):
                    if any(_private(part) for part in alias.name.split(".")):
                        uses.append(Use(path, node.lineno, f"import {alias.name}"))
                    bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not _in(node.module, packages):
                continue
            private_module = any(_private(part) for part in node.module.split("."))
            for alias in node.names:
                if private_module or _private(alias.name):
                    uses.append(Use(path, node.lineno, f"from {node.module} import {alias.name}"))
                bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                uses.append(Use(path, node.lineno, ast.unparse(node)))
    return sorted(uses, key=lambda u: (u.path, u.line, u.text))


class PublicNamesContract(Contract):
    """
    Configuration options:
        - source_modules: the modules (and their descendants) whose imports are checked.
        - public_packages: the packages whose private names they must not use.
    """

    type_name = "public_names"

    source_modules = fields.ListField(subfield=fields.ModuleExpressionField())
    public_packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        expressions: list[Any] = self.source_modules  # type: ignore[assignment]  # the parsed field
        names: list[str] = self.public_packages  # type: ignore[assignment]
        sources = [e.expression for e in expressions]
        packages = frozenset(names)
        modules = sorted(m for m in graph.modules if any(m == s or m.startswith(s + ".") for s in sources))
        uses: list[Use] = []
        for module in modules:
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                continue  # a namespace package: no file of its own
            path = Path(spec.origin)
            try:
                shown = str(path.relative_to(Path.cwd()))
            except ValueError:
                shown = str(path)
            output.verbose_print(verbose, f"Reading {shown}")
            uses += private_uses(path.read_text(encoding="utf-8"), shown, packages)
        return ContractCheck(
            kept=not uses,
            metadata={"uses": [(u.path, u.line, u.text) for u in uses], "checked": len(modules)},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        for path, line, text in check.metadata["uses"]:
            output.print_error(f"{path}:{line}: {text} (a private name)", bold=False)
        output.new_line()
        output.print("Use a public name, or make the name public in its module if DAG files need it.")
