"""Every worker subscriber stays thin: its body (docstring aside) is at most 15 lines and the
logic lives in a use-case module (read from the source, no server needed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY_LINES = 15
SOURCES = sorted((ROOT / "services").glob("*/src/*/**/*.py"))


def _subscribers(tree: ast.AST) -> list[ast.AsyncFunctionDef | ast.FunctionDef]:
    """Functions decorated with ``<something>.subscriber(...)``."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            call = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(call, ast.Attribute) and call.attr == "subscriber":
                found.append(node)
    return found


def _body_lines(function: ast.AsyncFunctionDef | ast.FunctionDef) -> int:
    body = function.body
    if ast.get_docstring(function) is not None:
        body = body[1:]
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_the_measure_finds_a_long_subscriber() -> None:
    # Guards the measure itself: a docstring does not count, the 16th statement line does.
    lines = "\n".join(f"    x{n} = {n}" for n in range(16))
    source = f'@router.subscriber("q")\nasync def on_long(m):\n    """Doc."""\n{lines}\n'
    (function,) = _subscribers(ast.parse(source))
    assert _body_lines(function) == 16


def test_no_subscriber_body_is_over_15_lines() -> None:
    measured = {
        f"{path.relative_to(ROOT)}:{f.lineno} {f.name}": _body_lines(f)
        for path in SOURCES
        for f in _subscribers(ast.parse(path.read_text("utf-8")))
    }
    # Finding none would make the check vacuous.
    names = {key.rsplit(" ", 1)[1] for key in measured}
    assert {"on_run_requested", "on_export_partition", "on_part_staged", "on_artifact_due"} <= names
    long = {key: lines for key, lines in measured.items() if lines > MAX_BODY_LINES}
    assert not long, f"subscriber bodies over {MAX_BODY_LINES} lines: {long}"
