"""The architecture docs/architecture.md states, checked so it cannot drift: the layer table
covers every part, imports point only up the table, no import circle exists, rooms keep their
size limits, the names the page cites exist, and the old module paths still import."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tcvc_cli"
DOC = ROOT / "docs" / "architecture.md"


def layer_table(text: str) -> dict[str, int]:
    """part -> row of the page's layer table (row 0 at the top: imported by everything)."""
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and not set(line) <= set("|- ")]
    parts = {}
    for row, line in enumerate(rows[1:]):  # rows[0] is the header
        cell = line.split("|")[2]
        for part in re.findall(r"`([a-z_]+)`", cell):
            parts[part] = row
    return parts


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(package: Path) -> dict[str, Path]:
    return {module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def imports_of(path: Path, package: Path, known: set[str]) -> list[tuple[str, int]]:
    """Every tcvc module this file imports, anywhere in it (top level, functions, TYPE_CHECKING
    blocks), with the line; `from pkg import name` counts as the submodule when one exists."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    root = package.name
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == root]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != root:
                continue
            subs = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known]
            found += [(sub, node.lineno) for sub in subs] or [(target, node.lineno)]
    return found


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def direction_violations(package: Path, table: dict[str, int]) -> list[str]:
    """Imports that go down the table, or across to another part of the same row."""
    modules = modules_of(package)
    bad = []
    for name, path in modules.items():
        own = part_of(name)
        if own == package.name:
            continue  # the package root: its version, and the old import paths
        for target, line in imports_of(path, package, set(modules)):
            other = part_of(target)
            if other == own or other == package.name:
                continue  # inside one part, or the package root (its version)
            if other not in table or own not in table:
                bad.append(f"{name}:{line} imports {target}: a part missing from the layer table")
            elif table[other] >= table[own]:
                bad.append(f"{name}:{line} imports {target} (row {table[other]}), not above {own} (row {table[own]})")
    return bad


def import_circles(package: Path) -> list[list[str]]:
    modules = modules_of(package)
    graph = {name: {target for target, _ in imports_of(path, package, set(modules)) if target in modules and target != name}
             for name, path in modules.items()}
    circles, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return circles


def test_the_layer_table_names_every_part_of_the_package():
    table = layer_table(DOC.read_text("utf-8"))
    parts = {part_of(name) for name in modules_of(PACKAGE)} - {PACKAGE.name}
    assert parts <= set(table), f"parts missing from docs/architecture.md: {sorted(parts - set(table))}"
    assert set(table) <= parts | {PACKAGE.name}, f"parts in the table that do not exist: {sorted(set(table) - parts)}"


def test_imports_point_up_the_layer_table():
    assert direction_violations(PACKAGE, layer_table(DOC.read_text("utf-8"))) == []


def test_no_import_circle():
    assert import_circles(PACKAGE) == []


def test_the_checks_catch_a_wrong_import_and_a_circle(tmp_path):
    fake = tmp_path / "pkg"
    (fake / "low").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "low" / "__init__.py").write_text("")
    (fake / "low" / "a.py").write_text("def f():\n    from ..high import g\n")  # a function-level import, downwards
    (fake / "low" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n")
    (fake / "low" / "c.py").write_text("from .b import x\n")
    (fake / "high.py").write_text("from .low import a\n")
    table = {"low": 0, "high": 1}
    assert direction_violations(fake, table) == ["pkg.low.a:2 imports pkg.high (row 1), not above low (row 0)"]
    assert import_circles(fake) == [["pkg.high", "pkg.low.a", "pkg.high"], ["pkg.low.b", "pkg.low.c", "pkg.low.b"]]
    assert "a part missing" in direction_violations(fake, {"low": 0})[0]


def test_rooms_keep_their_sizes_and_the_script_fails_past_them(tmp_path):
    script = ROOT / ".ci" / "sizes.py"
    done = subprocess.run([sys.executable, str(script), str(PACKAGE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "largest module" in done.stdout and "largest function" in done.stdout
    big = tmp_path / "big"
    big.mkdir()
    (big / "long.py").write_text("def f():\n" + "    x = 1\n" * 61)
    done = subprocess.run([sys.executable, str(script), str(big)], capture_output=True, text=True)
    assert done.returncode == 1 and "big/long.py:f 61 lines" in done.stderr


def test_the_names_the_page_cites_exist():
    cited = re.findall(r"`(tcvc_cli(?:\.[a-z_]+)+)(?::([A-Za-z_][\w.]*))?`", DOC.read_text("utf-8"))
    assert len(cited) >= 20
    for module, attribute in cited:
        loaded = importlib.import_module(module)
        for part in attribute.split(".") if attribute else []:
            loaded = getattr(loaded, part)


OLD_PATHS = {  # module -> names that callers imported from it before the packages
    "tcvc_cli.media": ["open_source", "probe", "EncodeOptions", "FolderWriter", "write_image", "read_image"],
    "tcvc_cli.images": ["read_image", "write_image"], "tcvc_cli.sequence": ["scan", "Naming"],
    "tcvc_cli.editorial": ["read_shots"], "tcvc_cli.motion": ["FlowField", "line_guide", "warp", "motion_condition"],
    "tcvc_cli.propagate": ["Propagator", "flow_dimensions"], "tcvc_cli.regions": ["match_regions"],
    "tcvc_cli.shots": ["CutDetector"], "tcvc_cli.config": ["ModelConfig", "model_preset"],
    "tcvc_cli.networks": ["define_generator"], "tcvc_cli.losses": ["load_vgg"],
    "tcvc_cli.checkpoint": ["load_generator", "save_generator", "resolve_model"], "tcvc_cli.data": ["SequenceDataset"],
    "tcvc_cli.layers": ["LAYERS"], "tcvc_cli.colorize": ["Colorizer", "ColorizeOptions", "Delivery", "iter_inputs"],
    "tcvc_cli.train": ["Trainer", "train", "train_preset", "TrainConfig", "gate_loss", "read_run_config"],
    "tcvc_cli.cli": ["app", "main"],
}


@pytest.mark.parametrize("module", sorted(OLD_PATHS))
def test_old_module_paths_still_import_with_their_names(module):
    loaded = importlib.import_module(module)
    for name in OLD_PATHS[module]:
        assert hasattr(loaded, name), f"{module}.{name}"


def test_a_moved_module_is_the_same_object_under_both_names():
    from tcvc_cli._moved import MOVED

    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new)
        assert importlib.import_module(new).__spec__.name == new
