#!/usr/bin/env python3
"""Room sizes of the tcvc_cli package: prints the largest module, class and function, and exits 1
when any is past its limit (docs/architecture.md#sizes).

    python .ci/sizes.py [PACKAGE_DIR]

A module counts all its lines; a class, its lines from `class` to its end; a function, the
lines of its body after the docstring (a command's long Typer signature is not its body).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

MODULE_LIMIT = 500
CLASS_LIMIT = 250
FUNCTION_LIMIT = 60


@dataclass(frozen=True)
class Room:
    kind: str  # module, class or function
    where: str  # path, or path:qualified.name
    lines: int


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return node.end_lineno - body[0].lineno + 1


def rooms(package: Path) -> list[Room]:
    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text("utf-8")
        name = path.relative_to(package.parent).as_posix()
        found.append(Room("module", name, len(text.splitlines())))

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    found.append(Room("class", f"{name}:{prefix}{child.name}", child.end_lineno - child.lineno + 1))
                    visit(child, f"{prefix}{child.name}.")
                elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.append(Room("function", f"{name}:{prefix}{child.name}", body_lines(child)))
                    visit(child, f"{prefix}{child.name}.")

        visit(ast.parse(text), "")
    return found


def over_limits(found: list[Room]) -> list[Room]:
    limits = {"module": MODULE_LIMIT, "class": CLASS_LIMIT, "function": FUNCTION_LIMIT}
    return [room for room in found if room.lines > limits[room.kind]]


def main(argv: list[str]) -> int:
    package = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "tcvc_cli"
    found = rooms(package)
    limits = {"module": MODULE_LIMIT, "class": CLASS_LIMIT, "function": FUNCTION_LIMIT}
    for kind, limit in limits.items():
        of_kind = [room for room in found if room.kind == kind]
        if not of_kind:
            continue
        largest = max(of_kind, key=lambda room: room.lines)
        print(f"largest {kind}: {largest.where} {largest.lines} lines (limit {limit})")
    over = over_limits(found)
    for room in over:
        print(f"too large: {room.kind} {room.where} {room.lines} lines (limit {limits[room.kind]})", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
