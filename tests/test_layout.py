"""The package layout is the map of the toolkit: these tests keep it one."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xqg_lab"
DATA_FLOW = [
    "core", "data", "generate", "encode", "augment", "search", "scale", "metrics", "stats",
    "train", "alignment", "studies", "present", "runner",
]  # fmt: skip
"""Top-level groups, upstream first: a module may import only from its own group or above."""
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def group_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "xqg_lab" else None


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) of every import of ``path``, local ones too."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, []) for alias in node.names)
    return out


def own_group(path: Path) -> str:
    part = path.relative_to(PACKAGE).parts[0]
    return part.removesuffix(".py")


def test_the_top_of_the_package_has_at_most_16_entries():
    entries = [p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 16, sorted(entries)
    assert {p.removesuffix(".py") for p in entries} - {"__init__", "__main__"} == set(DATA_FLOW)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downstream_and_never_at_another_package_s_private_names(path):
    here = own_group(path)
    if here in ("__init__", "__main__"):
        return
    for line, module, names in imports_of(path):
        there = group_of(module)
        if there is None:
            continue
        where = f"{path.relative_to(PACKAGE)}:{line} imports {module}"
        assert DATA_FLOW.index(there) <= DATA_FLOW.index(here), f"{where}: {there} is downstream of {here}"
        if there != here:
            private = [n for n in [*module.split(".")[1:], *names] if n.startswith("_") and not n.startswith("__")]
            assert not private, f"{where}: private {private} of another package"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_600_lines(path):
    assert len(path.read_text().splitlines()) <= 600
