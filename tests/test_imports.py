"""The product package's import graph, read from the source (ast): imports point one way.

No cycles; the domain (analysis/, report.py) imports neither AWS, X nor the process
environment; the product never imports the dev kit or moto. Imports inside
``if TYPE_CHECKING:`` count too: a cycle in the types is a cycle in the design.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "shared" / "followthrough"
DOMAIN_FORBIDDEN = {"boto3", "botocore", "tweepy", "os"}
PRODUCT_FORBIDDEN = {"moto", "followthrough_devkit"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` yields a.b if that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    """Product module -> the product modules it imports."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def external(name: str) -> set[str]:
    """The top-level packages outside the product that module ``name`` imports."""
    path = PACKAGE.parent / (name.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / name.replace(".", "/") / "__init__.py"
    return {i.split(".")[0] for i in _imports(path)} - {"followthrough"}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle's path, one per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reader_sees_a_cycle_when_there_is_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_reader_knows_the_product() -> None:
    edges = graph()
    assert "followthrough.config" in edges["followthrough.bootstrap"]
    assert "followthrough.signup.service" in edges["followthrough.signup.web"]  # a TYPE_CHECKING import
    assert "followthrough.adapters.store" in edges["followthrough.pipeline.collect"]


def test_the_product_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    "name", sorted(n for n in graph() if n.startswith("followthrough.analysis") or n == "followthrough.report")
)
def test_the_domain_imports_no_aws_x_or_environment(name: str) -> None:
    assert not external(name) & DOMAIN_FORBIDDEN, f"{name} imports {sorted(external(name) & DOMAIN_FORBIDDEN)}"


def test_the_product_never_imports_the_dev_kit_or_moto() -> None:
    offenders = {name: sorted(external(name) & PRODUCT_FORBIDDEN) for name in graph()}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_importing_the_composition_root_creates_no_client() -> None:
    code = (
        "import sys, followthrough.bootstrap as b; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'boto3', 'botocore', 'tweepy'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert result.stdout.strip() == "[]"
